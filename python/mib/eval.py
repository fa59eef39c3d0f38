"""The evaluation protocol of ``mib eval`` on your own arrays: the few-label linear probe, kNN,
cross-view retrieval and the I(y; z) bound. Results are plain dicts with the keys of
``eval.json``."""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from . import _native
from ._estimators import _as_view

__all__ = ["evaluate", "linear_probe"]


def _labels(y: Any, name: str) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim != 1:
        raise _native.ShapeError(f"{name}: expected 1-D class labels, got shape {a.shape}")
    if a.dtype.kind not in "iub":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise _native.DataError(f"{name}: labels must be integers 0, 1, ... (got {a.dtype})")
    return np.ascontiguousarray(a, dtype=np.int64)


def evaluate(
    z_train: Any,
    y_train: Any,
    z_test: Any,
    y_test: Any,
    *,
    labels_per_class: Sequence[int] = (1, 2, 5, 10, 100, 1000),
    repetitions: int = 20,
    c: float = 10.0,
    knn_k: int | None = 5,
    knn_metric: str = "euclidean",
    z_test_view2: Any = None,
    retrieval_k: int = 200,
    information_bound: bool = True,
    seed: int = 0,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """The protocol ``mib eval`` runs, on representations: ``linear_probe`` (mean and std of the
    test accuracy over ``repetitions`` balanced draws of ``k`` labels per class, for each ``k``),
    ``knn``, ``retrieval`` (with ``z_test_view2``: test items of view 1 as queries against view
    2) and ``information_plane``. Counts larger than the smallest class are left out."""
    protocol = dict(
        labels_per_class=[int(k) for k in labels_per_class],
        repetitions=int(repetitions),
        probe={"c": float(c)},
        knn=None if not knn_k else {"k": int(knn_k), "metric": knn_metric},
        retrieval_k=int(retrieval_k),
        information_bound=bool(information_bound),
        seed=int(seed),
    )
    from ._estimators import _threads

    return json.loads(
        _native.evaluate(
            _as_view(z_train, "z_train"),
            _labels(y_train, "y_train"),
            _as_view(z_test, "z_test"),
            _labels(y_test, "y_test"),
            json.dumps(protocol),
            None if z_test_view2 is None else _as_view(z_test_view2, "z_test_view2"),
            threads=_threads(n_jobs),
        )
    )


def linear_probe(
    z_train: Any,
    y_train: Any,
    z_test: Any,
    y_test: Any,
    labels_per_class: Sequence[int] = (1, 10, 100),
    repetitions: int = 10,
    seed: int = 0,
    c: float = 10.0,
) -> list[dict[str, Any]]:
    """The few-label linear probe alone (the paper's protocol: multinomial logistic regression,
    C = 10, MinMax scaling fitted on the labelled items): one dict per count with
    ``labels_per_class``, ``mean``, ``std``, ``repetitions``."""
    r = evaluate(
        z_train,
        y_train,
        z_test,
        y_test,
        labels_per_class=labels_per_class,
        repetitions=repetitions,
        c=c,
        knn_k=None,
        information_bound=False,
        seed=seed,
    )
    return r["linear_probe"]
