"""``representation=``: posterior means, the encoder's last hidden layer, or both."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import mib


@pytest.fixture(scope="module")
def views():
    (x1, x2), _ = mib.datasets.load_mfeat(views=["pix", "fou"])["train"]
    return x1[:300], x2[:300]


@pytest.fixture(scope="module")
def fitted(views, small_module):
    return mib.MIB(**{**small_module, "encoder_hidden": (48, 40)}).fit(list(views))


def test_transform_gives_each_representation(fitted, views):
    z1, z2 = fitted.transform(list(views))
    assert z1.shape == (300, 8) and z2.shape == (300, 8)
    h1, h2 = fitted.transform(list(views), representation="hidden")
    assert h1.shape == (300, 40) and h2.shape == (300, 40)
    assert (h1 >= 0).all()  # after the ReLU
    b1, _ = fitted.transform(list(views), representation="mean+hidden")
    np.testing.assert_array_equal(b1[:, :8], z1)
    np.testing.assert_array_equal(b1[:, 8:], h1)
    np.testing.assert_array_equal(
        fitted.transform_view(views[1], view=1, representation="hidden"), h2
    )
    # a sample is of z, whatever the estimator's representation
    assert fitted.transform_view(views[0], sample=True).shape == (300, 8)


def test_the_parameter_is_the_default_and_round_trips(fitted, views):
    est = pickle.loads(pickle.dumps(fitted))
    est.set_params(representation="hidden")
    assert est.transform(list(views))[0].shape == (300, 40)
    # a Python default only: configs (and so load_run and from_preset) leave it at the means
    assert est.get_config()["eval"]["representation"] == "mean"
    demo = mib.MIB.from_preset("demo")
    assert mib.config_from_toml(mib._native.preset("demo"))["eval"]["representation"] == (
        "mean+hidden"
    )
    assert demo.representation == "mean"


def test_bad_representations_are_refused_naming_the_value(fitted, views):
    with pytest.raises(mib.ConfigError, match=r"representation='z'.*'mean', 'hidden'"):
        fitted.transform(list(views), representation="z")
    with pytest.raises(mib.ConfigError, match=r"representation=3"):
        mib.MIB(representation=3).get_config()
    with pytest.raises(mib.ConfigError, match=r"sample=True.*representation='mean'"):
        fitted.transform_view(views[0], sample=True, representation="hidden")
