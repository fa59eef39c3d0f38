"""The estimators on the embedded mfeat views: fit, transform, score, configs, pickling."""

from __future__ import annotations

import json
import pickle
import threading
import time

import numpy as np
import pytest

import mib
from mib import _native


@pytest.fixture(scope="module")
def mfeat():
    return mib.datasets.load_mfeat(views=["pix", "fou"])


@pytest.fixture(scope="module")
def fitted(mfeat, small_module):
    (x1, x2), _ = mfeat["train"]
    return mib.MIB(**small_module).fit([x1, x2])


def test_defaults_are_the_demo_recipe():
    """The estimators' defaults are the `demo` preset's recipe, its beta ramp following
    `iterations`; critic and estimator follow the objective."""
    demo = mib.config_from_toml(_native.preset("demo"))
    cfg = mib.MIB().get_config()
    for section, keys in {
        "model": ("encoder_hidden", "z_dim", "critic", "temperature", "estimator", "skl"),
        "optim": ("lr", "beta1", "beta2", "eps"),
        "train": ("iterations", "batch_size"),
    }.items():
        for k in keys:
            assert cfg[section][k] == demo[section][k], f"{section}.{k}"
    assert cfg["beta"] == demo["beta"]
    assert cfg["seed"] == demo["seed"]
    # the schedule follows the budget
    b = mib.MIB(iterations=6000).get_config()["beta"]
    assert (b["start_iteration"], b["n_iterations"]) == (1000, 3000)
    assert mib.MIB(beta=0.01).get_config()["beta"] == {"kind": "constant", "value": 0.01}
    # InfoMax compares z with x: the MLP critic and the Jensen-Shannon bound
    m = mib.InfoMax().get_config()["model"]
    assert (m["critic"], m["estimator"]) == ("mlp", "jsd")
    # everything else is the config's default
    default = json.loads(_native.default_config())
    for k in ("critic_hidden", "projection", "decoder_hidden", "decoder_scale"):
        assert cfg["model"][k] == default["model"][k], k
    # and the paper's recipe is a preset away
    paper = mib.MIB.from_preset("mib").get_config()
    ref = mib.config_from_toml(_native.preset("mib"))
    assert paper["model"]["encoder_hidden"] == ref["model"]["encoder_hidden"] == [1024, 1024]
    assert paper["model"]["critic"] == "mlp" and paper["optim"]["lr"] == ref["optim"]["lr"]


def test_fit_transform_shapes_and_history(fitted, mfeat):
    (x1, x2), y = mfeat["test"]
    z1, z2 = fitted.transform([x1, x2])
    assert z1.shape == (x1.shape[0], 8) and z2.shape == (x2.shape[0], 8)
    assert z1.dtype == np.float32 and np.isfinite(z1).all()
    assert fitted.n_iter_ == 200
    assert fitted.n_features_in_ == [240, 76]
    assert [r["iteration"] for r in fitted.history_] == list(range(20, 201, 20))
    assert all("mi_estimate" in r and "skl" in r for r in fitted.history_)
    # training lowered the loss
    assert fitted.history_[-1]["loss"] < fitted.history_[0]["loss"]


def test_representation_beats_chance(fitted, mfeat):
    """A nearest-class-mean probe on the test views: far above the 10 % of chance."""
    (x1, x2), ytr = mfeat["train"]
    (t1, _), yte = mfeat["test"]
    ztr, zte = fitted.transform_view(x1), fitted.transform_view(t1)
    means = np.stack([ztr[ytr == c].mean(0) for c in range(10)])
    pred = np.argmin(((zte[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == yte).mean() > 0.6


def test_transform_view_sample_is_seeded(fitted, mfeat):
    (x1, _), _ = mfeat["test"]
    a = fitted.transform_view(x1, view=0, sample=True)
    b = fitted.transform_view(x1, view=0, sample=True)
    m = fitted.transform_view(x1, view=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, m)


def test_same_seed_same_model(mfeat, small):
    (x1, x2), _ = mfeat["train"]
    a = mib.MIB(**{**small, "iterations": 40}).fit([x1, x2]).transform_view(x1[:50])
    b = mib.MIB(**{**small, "iterations": 40, "n_jobs": 2}).fit([x1, x2]).transform_view(x1[:50])
    np.testing.assert_array_equal(a, b)


def test_score_is_the_mi_estimate(fitted, mfeat):
    (x1, x2), _ = mfeat["test"]
    s = fitted.score([x1, x2])
    # InfoNCE at batch 64 is bounded by log 64; a trained model is well above 0
    assert 0.5 < s <= np.log(64) + 1e-3
    # unpaired views share less information
    rng = np.random.default_rng(0)
    assert fitted.score([x1, x2[rng.permutation(len(x2))]]) < s - 0.5


def test_pickle_round_trip_is_bit_identical(fitted, mfeat):
    (x1, x2), _ = mfeat["test"]
    clone = pickle.loads(pickle.dumps(fitted))
    for a, b in zip(fitted.transform([x1, x2]), clone.transform([x1, x2])):
        np.testing.assert_array_equal(a, b)
    assert clone.get_params() == fitted.get_params()
    assert clone.history_ == fitted.history_


def test_other_dtypes_and_layouts_are_converted(fitted, mfeat):
    (x1, _), _ = mfeat["test"]
    ref = fitted.transform_view(x1)
    np.testing.assert_array_equal(fitted.transform_view(x1.astype(np.float64)), ref)
    np.testing.assert_array_equal(fitted.transform_view(np.asfortranarray(x1)), ref)
    np.testing.assert_array_equal(fitted.transform_view(x1.tolist()), ref)


def test_get_set_params_and_from_preset():
    est = mib.MIB.from_preset("demo")
    assert est.z_dim == 32 and est.encoder_hidden == (256, 256)
    assert est.critic == "separable" and est.estimator == "infonce"
    assert est.beta["kind"] == "exponential" and est.iterations == 3000
    est.set_params(z_dim=16)
    assert est.get_params()["z_dim"] == 16
    with pytest.raises(ValueError, match="invalid parameter 'zdim'"):
        est.set_params(zdim=3)
    assert isinstance(mib.from_preset("vae"), mib.BetaVAE)
    with pytest.raises(mib.ConfigError, match="BetaVAE"):
        mib.MIB.from_preset("vae")


def test_config_round_trips_with_toml():
    cfg = mib.MIB.from_preset("fast").get_config()
    back = mib.config_from_toml(mib.config_to_toml(cfg))
    assert back == cfg
    preset = mib.config_from_toml(_native.preset("fast"))
    for section in ("model", "optim", "beta"):
        assert cfg[section] == preset[section], section
    assert cfg["data"]["pairing"] == preset["data"]["pairing"]
    for k in ("iterations", "batch_size", "log_every"):
        assert cfg["train"][k] == preset["train"][k]
    assert mib.MIB.from_config(cfg).get_params() == mib.MIB.from_preset("fast").get_params()


def test_single_view_objectives(mfeat, small):
    (x1, _), _ = mfeat["train"]
    small = {**small, "critic": "mlp", "critic_hidden": (32,), "estimator": "jsd", "iterations": 30}
    vae = mib.BetaVAE(**{**small, "decoder_hidden": (32,)}).fit(x1)
    (z,) = vae.transform(x1[:10])
    assert z.shape == (10, 8)
    assert np.isfinite(vae.score(x1[:200]))
    im = mib.InfoMax(**small).fit([x1])
    assert im.transform_view(x1[:5]).shape == (5, 8)


def test_augmented_single_view(mfeat, small):
    (x1, _), _ = mfeat["train"]
    images = x1.reshape(-1, 16, 15)
    est = mib.MIB(**{**small, "iterations": 30}, augment="mnist").fit(images)
    assert est.image_shape_ == (16, 15)
    assert est.get_config()["data"]["pairing"]["kind"] == "augment"
    assert est.transform(images[:7])[0].shape == (7, 8)
    # 240 features is no square image: the shape must be given
    with pytest.raises(mib.ShapeError, match="image_shape"):
        mib.MIB(**{**small, "iterations": 10}, augment="mnist").fit(x1)
    est = mib.MIB(**{**small, "iterations": 10}, augment="mnist", image_shape=(16, 15)).fit(x1)
    assert est.n_iter_ == 10


def test_layer_norm_and_more_augmented_views(mfeat, small, tmp_path):
    """``encoder_norm`` and ``augment_views`` reach the config, train, save and load back; a
    view count without ``augment`` or outside 2..16 is a ConfigError naming it."""
    (x1, _), _ = mfeat["train"]
    images = x1.reshape(-1, 16, 15)
    est = mib.MIB(
        **{**small, "iterations": 20}, augment="mnist", augment_views=3, encoder_norm="layer"
    )
    cfg = est.get_config()
    assert cfg["data"]["pairing"]["n_views"] == 3 and cfg["model"]["encoder_norm"] == "layer"
    est.fit(images)
    assert len(est.model_.in_dims) == 3
    z = est.transform_view(images[:9])
    assert z.shape == (9, 8) and np.isfinite(z).all()
    assert np.isfinite(est.score(images[:64]))
    est.save(tmp_path / "run")
    back = mib.load_run(tmp_path / "run")
    assert (back.augment_views, back.encoder_norm) == (3, "layer")
    np.testing.assert_array_equal(back.transform_view(images[:9]), z)
    # saved without a data section (dataset "npy", no files), an aligned fit loads back too
    aligned = mib.MIB(**{**small, "iterations": 5}).fit([x1, x1])
    aligned.save(tmp_path / "aligned")
    np.testing.assert_array_equal(
        mib.load_run(tmp_path / "aligned").transform_view(x1[:4]), aligned.transform_view(x1[:4])
    )
    # the defaults stay out of the config, as config.toml leaves them out
    plain = mib.MIB(**small, augment="mnist").get_config()
    assert "n_views" not in plain["data"]["pairing"]
    assert mib.MIB.from_preset("fast").encoder_norm == "none"
    with pytest.raises(mib.ConfigError, match="augment_views"):
        mib.MIB(**small, augment_views=3).get_config()
    with pytest.raises(mib.ConfigError, match=r"augment_views=17: expected an integer from 2"):
        mib.MIB(**{**small, "iterations": 5}, augment="mnist", augment_views=17).fit(images)
    with pytest.raises(mib.ConfigError, match="encoder_norm"):
        mib.MIB(**{**small, "iterations": 5}, encoder_norm="batch").fit([x1, x1])


def test_gil_is_released_during_fit(mfeat, small):
    (x1, x2), _ = mfeat["train"]
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    t0 = time.perf_counter()
    mib.MIB(**{**small, "iterations": 300, "encoder_hidden": (256, 256)}).fit([x1, x2])
    t1 = time.perf_counter()
    stop.set()
    t.join()
    during = [x for x in ticks if t0 < x < t1]
    # the other thread ran all along (were the GIL held, it would run only at call-backs)
    assert len(during) > 0.2 * (t1 - t0) / 0.001


def test_verbose_shows_progress(mfeat, capsys, small):
    (x1, x2), _ = mfeat["train"]
    mib.MIB(**{**small, "iterations": 40}, verbose=1).fit([x1, x2])
    err = capsys.readouterr().err
    assert "MIB" in err and "40/40" in err


def test_iterations_scale_the_preset_schedule():
    est = mib.MIB.from_preset("mib", iterations=3000)
    assert (est.beta["start_iteration"], est.beta["n_iterations"]) == (1000, 2000)
    explicit = {"kind": "linear", "start": 0.0, "end": 1.0, "start_iteration": 5, "n_iterations": 7}
    assert mib.MIB.from_preset("mib", iterations=3000, beta=explicit).beta == explicit
    assert mib.MIB.from_preset("mib").beta["start_iteration"] == 50000


def test_three_views(small, tmp_path):
    """MIB on three mfeat views: one encoder each, K = 3 everywhere (transform, score, save/load,
    pickling); the single-view objectives refuse more than one array."""
    d = mib.datasets.load_mfeat(views=["pix", "fou", "kar"])
    (x1, x2, x3), _ = d["train"]
    (t1, t2, t3), _ = d["test"]
    est = mib.MIB(**{**small, "iterations": 60}).fit([x1, x2, x3])
    assert est.n_features_in_ == [240, 76, 64]
    assert est.model_.in_dims == [240, 76, 64]
    assert json.loads(est.model_.config_json)["model"]["shared_encoder"] is False
    zs = est.transform([t1, t2, t3])
    assert [z.shape for z in zs] == [(500, 8)] * 3
    # each view has its own encoder: view 2's is not view 0's
    assert np.allclose(est.transform_view(t3, view=2), zs[2])
    with pytest.raises(mib.ConfigError, match="0 to 2"):
        est.transform_view(t1, view=3)
    with pytest.raises(mib.ShapeError, match="the model has 3"):
        est.transform([t1, t2, t3, t3])
    assert np.isfinite(est.score([t1, t2, t3]))
    est.save(tmp_path / "run", data={"dataset": "mfeat", "views": ["pix", "fou", "kar"]})
    back = mib.load_run(tmp_path / "run")
    assert back.model_.in_dims == [240, 76, 64]
    assert np.array_equal(back.transform_view(t3, view=2), zs[2])
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.transform_view(t2, view=1), zs[1])
    with pytest.raises(mib.ShapeError, match="single-view"):
        mib.InfoMax(**{**small, "critic": "mlp", "estimator": "jsd"}).fit([x1, x2])
