"""The semi-supervised mode: ``label_weight > 0`` with ``fit(views, y)``, ``y = -1`` for the
unlabelled items; ``predict`` gives the model's own classifier's classes."""

from __future__ import annotations

import pickle

import mib
import numpy as np
import pytest


@pytest.fixture(scope="module")
def data():
    (x1, x2), y = mib.datasets.load_mfeat(views=["pix", "fou"])["train"]
    (t1, t2), yt = mib.datasets.load_mfeat(views=["pix", "fou"])["test"]
    # 5 labelled items per class, the rest unlabelled (-1)
    rng = np.random.default_rng(0)
    partial = np.full_like(y, -1)
    for c in range(10):
        idx = rng.choice(np.flatnonzero(y == c), 5, replace=False)
        partial[idx] = c
    return [x1, x2], partial, [t1, t2], yt


@pytest.fixture(scope="module")
def fitted(data, small_module):
    views, partial, _, _ = data
    return mib.MIB(**{**small_module, "label_weight": 1.0}).fit(views, partial)


def test_the_classifier_learns_from_the_few_labels(fitted, data):
    _, _, test, yt = data
    pred = fitted.predict(test[0])
    assert pred.shape == yt.shape and pred.dtype == np.int64
    assert set(np.unique(pred)) <= set(range(10))
    # 50 labels, 200 iterations: well above chance (10 %)
    acc = float((pred == yt).mean())
    assert acc > 0.4, acc
    # view 1's encoder feeds the same classifier
    assert float((fitted.predict(test[1], view=1) == yt).mean()) > 0.3


def test_the_config_keeps_the_labelled_items_and_round_trips(fitted, data):
    _, _, test, _ = data
    cfg = fitted.get_config()
    assert cfg["model"]["label_weight"] == 1.0
    again = mib.MIB.from_config(cfg)
    assert again.label_weight == 1.0
    # pickling keeps the classifier
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(back.predict(test[0]), fitted.predict(test[0]))
    # the default writes no key
    assert "label_weight" not in mib.MIB().get_config()["model"]


def test_bad_labels_are_refused(data, small):
    views, partial, _, _ = data
    est = mib.MIB(**{**small, "label_weight": 1.0, "iterations": 2})
    with pytest.raises(mib.ConfigError, match="needs y"):
        est.fit(views)
    with pytest.raises(mib.ConfigError, match="labels no item"):
        est.fit(views, np.full(len(partial), -1))
    with pytest.raises(mib.ShapeError, match="integer class indices"):
        est.fit(views, partial[:10])
    with pytest.raises(mib.ShapeError, match="integer class indices"):
        est.fit(views, partial.astype(float))
    with pytest.raises(mib.ConfigError, match="-2"):
        est.fit(views, np.where(partial < 0, -2, partial))
    with pytest.raises(mib.ConfigError, match="label_weight"):
        mib.MIB(label_weight=-1.0).get_config()
    with pytest.raises(mib.ConfigError, match="label_weight"):
        mib.InfoMax(**{**small, "critic": None, "label_weight": 1.0}).fit(views[0], partial)


def test_a_model_without_classifier_cannot_predict(data, small):
    views, partial, test, _ = data
    est = mib.MIB(**{**small, "iterations": 2}).fit(views, partial)
    with pytest.raises(mib.ConfigError, match="no classifier"):
        est.predict(test[0])
