"""scikit-learn compatibility of the single-matrix form (needs scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip(
    "sklearn", reason="scikit-learn is not installed (pip install scikit-learn)"
)

from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import mib  # noqa: E402
from mib.sklearn import MultiViewTransformer, few_label_scorer  # noqa: E402

TINY = dict(
    encoder_hidden=(8,),
    critic="separable",
    estimator="infonce",
    z_dim=3,
    iterations=15,
    batch_size=16,
    log_every=5,
    lr=1e-3,
    n_jobs=1,
)

# Checks that cannot pass, with the reason (reported by the test, never silently skipped).
EXPECTED_FAILED = {}


@parametrize_with_checks(
    [
        MultiViewTransformer(mib.MIB(**TINY)),
        MultiViewTransformer(mib.BetaVAE(**TINY, decoder_hidden=(8,))),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def mfeat_matrix():
    d = mib.datasets.load_mfeat(views=["pix", "fou"])
    (x1, x2), y = d["train"]
    return np.hstack([x1, x2]), y


def test_clone_and_params():
    est = MultiViewTransformer(mib.MIB(z_dim=5), n_features=[240, 76])
    c = clone(est)
    assert c.estimator is not est.estimator and c.estimator.z_dim == 5
    assert c.get_params()["estimator__z_dim"] == 5


def test_pipeline_grid_search_and_cross_val(mfeat_matrix):
    X, y = mfeat_matrix
    X, y = X[:600], y[:600]
    small = {**TINY, "iterations": 60, "batch_size": 64, "z_dim": 8, "encoder_hidden": (32,)}
    pipe = make_pipeline(
        MultiViewTransformer(mib.MIB(**small), n_features=[240, 76]),
        LogisticRegression(max_iter=200),
    )
    scores = cross_val_score(pipe, X, y, cv=2)
    assert scores.shape == (2,) and (scores > 0.3).all()
    grid = GridSearchCV(
        MultiViewTransformer(mib.MIB(**small), n_features=[240, 76]),
        {"estimator__z_dim": [4, 8]},
        scoring=few_label_scorer(labels_per_class=5, repetitions=2),
        cv=2,
    )
    grid.fit(X, y)
    assert grid.best_params_["estimator__z_dim"] in (4, 8)
    assert np.isfinite(grid.best_score_) and grid.best_score_ > 0.2
