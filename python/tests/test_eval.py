"""`mib.eval` on arrays: the same protocol and numbers as `mib eval`."""

from __future__ import annotations

import numpy as np
import pytest

import mib


@pytest.fixture(scope="module")
def mfeat():
    return mib.datasets.load_mfeat(views=["pix", "fou"])


def test_linear_probe_on_raw_features(mfeat):
    (x1, _), ytr = mfeat["train"]
    (t1, _), yte = mfeat["test"]
    res = mib.eval.linear_probe(x1, ytr, t1, yte, labels_per_class=[1, 10], repetitions=3)
    assert [r["labels_per_class"] for r in res] == [1, 10]
    assert all(r["repetitions"] == 3 for r in res)
    # more labels help, and the pixels of digits are far above chance
    assert 0.3 < res[0]["mean"] < res[1]["mean"] <= 1.0
    again = mib.eval.linear_probe(x1, ytr, t1, yte, labels_per_class=[1, 10], repetitions=3)
    assert again == res  # seeded


def test_evaluate_has_the_eval_json_keys(mfeat):
    (x1, x2), ytr = mfeat["train"]
    (t1, t2), yte = mfeat["test"]
    rep = mib.eval.evaluate(
        x1[:, :76], ytr, t1[:, :76], yte, labels_per_class=[1], repetitions=2, z_test_view2=t2
    )
    assert set(rep) >= {"linear_probe", "knn", "retrieval", "information_plane"}
    assert 0 < rep["knn"]["accuracy"] <= 1
    assert 0 < rep["retrieval"]["map_at_all"] <= 1


def test_bad_labels(mfeat):
    (x1, _), ytr = mfeat["train"]
    with pytest.raises(mib.ShapeError, match="y_train: 1499 labels for 1500 rows"):
        mib.eval.linear_probe(x1, ytr[:-1], x1, ytr)
    with pytest.raises(mib.DataError, match="y_test: labels must be integers"):
        mib.eval.linear_probe(x1, ytr, x1, ytr + 0.5)
    with pytest.raises(mib.DataError, match="label -1 at row 0"):
        mib.eval.linear_probe(x1, ytr, x1, np.full_like(ytr, -1))
