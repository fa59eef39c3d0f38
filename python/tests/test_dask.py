"""A sweep on a Dask cluster (two worker processes on loopback) equals the serial sweep."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed")
distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install 'dask[distributed]')"
)

import joblib  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import mib  # noqa: E402
from mib.sklearn import MultiViewTransformer, few_label_scorer  # noqa: E402


def sweep(X, y, params):
    grid = GridSearchCV(
        MultiViewTransformer(mib.MIB(**params), n_features=[240, 76]),
        {"estimator__z_dim": [4, 8], "estimator__seed": [0, 1]},
        scoring=few_label_scorer(labels_per_class=5, repetitions=2),
        cv=2,
    )
    return grid.fit(X, y)


def test_dask_sweep_equals_serial(small):
    params = {**small, "encoder_hidden": (32,), "iterations": 60}
    d = mib.datasets.load_mfeat(views=["pix", "fou"])
    (x1, x2), y = d["train"]
    X, y = np.hstack([x1, x2])[:600], y[:600]
    serial = sweep(X, y, params)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        with joblib.parallel_backend("dask"):
            remote = sweep(X, y, params)
        # the fits ran in the workers' processes, not here
        assert client.run(lambda: __import__("mib").__version__)
    np.testing.assert_array_equal(
        serial.cv_results_["mean_test_score"], remote.cv_results_["mean_test_score"]
    )
    assert serial.best_params_ == remote.best_params_
    X0 = X[:50]
    np.testing.assert_array_equal(serial.transform(X0), remote.transform(X0))
