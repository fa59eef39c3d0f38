"""Image views as 3-D / 4-D arrays (grey or colour) and encoders per view (issue 22)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mib

SMALL = dict(
    iterations=4, z_dim=4, encoder_hidden=(8,), batch_size=16, log_every=1, n_jobs=1, seed=3
)
CONV = {"kind": "conv", "channels": [4], "strides": [2]}


def _colour(n: int = 48) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((n, 3, 6, 5), dtype=np.float32)


def test_a_colour_array_trains_with_a_conv_encoder(tmp_path) -> None:
    x = _colour()
    est = mib.MIB(**SMALL, encoder=CONV, augment=[{"kind": "random-crop", "padding": 1}])
    est.fit(x)
    assert est.image_shape_ == (3, 6, 5)
    cfg = est.get_config()
    assert cfg["model"]["encoder"]["kind"] == "conv"
    # 4-D arrays and their flat rows give the same representation
    z = est.transform_view(x[:10])
    assert z.shape == (10, 4) and np.isfinite(z).all()
    np.testing.assert_array_equal(est.transform_view(x[:10].reshape(10, -1)), z)
    est.save(tmp_path / "run")
    back = mib.load_run(tmp_path / "run")
    assert back.get_config()["model"]["encoder"]["image_shape"] == [3, 6, 5]
    np.testing.assert_array_equal(back.transform_view(x[:10]), z)


def test_encoders_per_view_list_and_dict(tmp_path) -> None:
    rng = np.random.default_rng(1)
    pix = rng.random((48, 6, 5), dtype=np.float32)  # grey images [1, 6, 5]
    fou = rng.random((48, 7), dtype=np.float32)
    est = mib.MIB(**SMALL, encoder=[CONV, None]).fit([pix, fou])
    model = est.get_config()["model"]
    assert model["encoders"]["0"]["kind"] == "conv" and "encoder" not in model
    # views with their own encoders are trained with separate encoders
    assert json.loads(est.model_.config_json)["model"]["shared_encoder"] is False
    z0, z1 = est.transform([pix, fou])
    assert z0.shape == (48, 4) and z1.shape == (48, 4)
    est.save(tmp_path / "run")
    back = mib.load_run(tmp_path / "run")
    assert back.encoder["0"]["image_shape"] == [1, 6, 5]
    np.testing.assert_array_equal(back.transform([pix, fou])[0], z0)
    # the same by index in a dict, with '*' for the other views
    same = mib.MIB(**SMALL, encoder={0: CONV, "*": "mlp"}).fit([pix, fou])
    np.testing.assert_array_equal(same.transform([pix, fou])[0], z0)


def test_an_encoder_dict_gives_its_view_dense_widths_of_its_own(tmp_path) -> None:
    rng = np.random.default_rng(2)
    pix = rng.random((48, 6, 5), dtype=np.float32)
    fou = rng.random((48, 7), dtype=np.float32)
    enc = [{**CONV, "hidden": [5]}, {"kind": "mlp", "hidden": [9, 3]}]
    est = mib.MIB(**SMALL, encoder=enc).fit([pix, fou])
    h0, h1 = est.transform([pix, fou], representation="hidden")
    assert h0.shape == (48, 5) and h1.shape == (48, 3)
    est.save(tmp_path / "run")
    back = mib.load_run(tmp_path / "run")
    np.testing.assert_array_equal(back.transform([pix, fou])[1], est.transform([pix, fou])[1])
    with pytest.raises(mib.ConfigError, match="hidden"):
        mib.MIB(**SMALL, encoder=[CONV, {"kind": "mlp", "hidden": [0]}]).fit([pix, fou])
    # a value of the wrong type is named with its key, not as a parse error of the TOML
    with pytest.raises(mib.ConfigError, match="'hidden'='wide' is not a list of integers"):
        mib.MIB(**SMALL, encoder=[CONV, {"kind": "mlp", "hidden": "wide"}]).fit([pix, fou])
    with pytest.raises(mib.ConfigError, match="'kernel'='big' is not an integer"):
        mib.MIB(**SMALL, encoder={**CONV, "kernel": "big"}).fit([pix, pix])


def test_per_view_errors_name_the_view() -> None:
    rng = np.random.default_rng(2)
    pix = rng.random((32, 6, 5), dtype=np.float32)
    fou = rng.random((32, 7), dtype=np.float32)
    with pytest.raises(mib.ConfigError, match="shared_encoder"):
        mib.MIB(**SMALL, encoder=[CONV, None], shared_encoder=True).fit([pix, fou])
    # a conv encoder on the view that is no image
    with pytest.raises(mib.ConfigError, match=r"encoder\[view 1\]\['image_shape'\].*view 1"):
        mib.MIB(**SMALL, encoder=[None, CONV]).fit([pix, fou])
    # an image shape that does not fit the array
    with pytest.raises(mib.ShapeError, match=r"views\[0\].*image_shape"):
        mib.MIB(**SMALL, encoder=[CONV, None], image_shape=(1, 5, 6)).fit([pix, fou])
    with pytest.raises(mib.ShapeError, match="no view holds images"):
        mib.MIB(**SMALL, image_shape=(4, 4)).fit([pix, fou])
    with pytest.raises(mib.ConfigError, match="encoder="):
        mib.MIB(**SMALL, encoder=[CONV, "resnet"]).fit([pix, fou])
    with pytest.raises(mib.ConfigError, match="image_shape="):
        mib.MIB(**SMALL, image_shape=(1, 2, 3, 4)).fit([pix, fou])
