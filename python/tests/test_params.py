"""Every constructor parameter is checked at ``fit`` (and ``get_config``): a bad value raises
``ConfigError`` naming the parameter, the value and what is accepted, never a TOML position."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import mib
from mib import _native, _params

TINY = dict(
    encoder_hidden=(8,),
    critic_hidden=(8,),
    decoder_hidden=(8,),
    z_dim=2,
    iterations=2,
    log_every=1,
    n_jobs=1,
)

EXP = {"kind": "exponential", "start": 1e-3, "end": 1.0, "start_iteration": 1, "n_iterations": 2}


@pytest.fixture(scope="module")
def views():
    rng = np.random.default_rng(0)
    return [
        rng.normal(size=(50, 5)).astype(np.float32),
        rng.normal(size=(50, 3)).astype(np.float32),
    ]


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).random((40, 8, 8), dtype=np.float32)


BAD = [
    ("z_dim", 0),
    ("z_dim", -3),
    ("z_dim", True),
    ("z_dim", 2.0),
    ("z_dim", "8"),
    ("z_dim", 2**64),
    ("z_dim", None),
    ("encoder_hidden", (8, 0)),
    ("encoder_hidden", (8, -1)),
    ("encoder_hidden", 8),
    ("encoder_hidden", "64"),
    ("encoder_hidden", (8.5,)),
    ("encoder_hidden", (True,)),
    ("encoder_hidden", (2**64,)),
    ("encoder_norm", "batch"),
    ("encoder_norm", None),
    ("shared_encoder", 1),
    ("shared_encoder", "yes"),
    ("critic", "bilinear"),
    ("critic", 1),
    ("critic_hidden", (0,)),
    ("critic_hidden", None),
    ("projection", (-4,)),
    ("projection", None),
    ("temperature", 0.0),
    ("temperature", -0.5),
    ("temperature", float("nan")),
    ("temperature", float("inf")),
    ("temperature", 1e39),  # not a finite f32
    ("temperature", 1e-50),  # 0 as an f32
    ("temperature", "0.5"),
    ("estimator", "mine"),
    ("skl", "exact"),
    ("skl", None),
    ("decoder_hidden", (8, 0)),
    ("decoder_scale", 0.0),
    ("decoder_scale", float("-inf")),
    ("lr", float("nan")),
    ("lr", -1e-3),
    ("lr", float("inf")),
    ("lr", "1e-3"),
    ("lr", None),
    ("lr", True),
    ("lr_encoder", float("nan")),
    ("lr_critic", -1.0),
    ("lr_decoder", "fast"),
    ("beta1", 1.0),
    ("beta1", -0.1),
    ("beta2", 0.999999999),  # 1.0 as an f32
    ("beta2", float("nan")),
    ("eps", 0.0),
    ("eps", -1e-8),
    ("eps", float("inf")),
    ("beta", -1.0),
    ("beta", float("nan")),
    ("beta", float("inf")),
    ("beta", "1e-3"),
    ("beta", True),
    ("beta", [1e-3, 1.0]),
    ("beta", {"kind": "cosine", "start": 0.0, "end": 1.0}),
    ("beta", {"start": 0.0}),
    ("beta", {"kind": "constant"}),
    ("beta", {"kind": "constant", "value": 1.0, "extra": 2}),
    ("beta", {"kind": "constant", "value": -1.0}),
    ("beta", {"kind": "constant", "value": float("nan")}),
    ("beta", {**EXP, "start": 0.0}),
    ("beta", {**EXP, "base": 1.0}),
    ("beta", {**EXP, "start_iteration": -1}),
    ("beta", {**EXP, "n_iterations": 2**64}),
    ("beta", {**EXP, "n_iterations": 2.5}),
    ("beta", {"kind": "linear", "start": 0.0, "end": "1", "start_iteration": 0, "n_iterations": 1}),
    ("iterations", -5),
    ("iterations", 0),
    ("iterations", 2.0),
    ("iterations", 2**64),
    ("iterations", None),
    ("iterations", False),
    ("batch_size", 1),
    ("batch_size", 0),
    ("batch_size", 16.0),
    ("batch_size", 2**64),
    ("log_every", 0),
    ("log_every", -1),
    ("max_nonfinite", 0),
    ("max_nonfinite", 2**70),
    ("augment", 3),
    ("augment", [{"kind": "spin"}]),
    ("augment", [{"kind": "pixel-corruption", "keep": 2.0}]),
    ("augment", ["mnist"]),
    ("augment_views", 1),
    ("augment_views", 17),
    ("augment_views", 2.0),
    ("augment_views", True),
    ("image_shape", (8,)),
    ("image_shape", (8, 0)),
    ("image_shape", 64),
    ("image_shape", (8.0, 8)),
    ("scaling", "zscore"),
    ("scaling", []),
    ("scaling", ["minmax", "auto"]),
    ("scaling", None),
    ("seed", -1),
    ("seed", 2**64),
    ("seed", 2**63),
    ("seed", 2**70),
    ("seed", 1.5),
    ("seed", None),
    ("seed", True),
    ("n_jobs", "two"),
    ("n_jobs", 1.0),
    ("n_jobs", True),
    ("n_jobs", 2**64),
    ("n_jobs", 100_000),
    ("verbose", -1),
    ("verbose", "yes"),
    ("verbose", 0.5),
]


def _shown(v):
    return repr(v.item() if isinstance(v, np.generic) else v)


@pytest.mark.parametrize("name,value", BAD, ids=[f"{n}={str(v)[:40]}" for n, v in BAD])
def test_bad_value_names_the_parameter(views, name, value):
    est = mib.MIB(**{**TINY, name: value})
    with pytest.raises(mib.ConfigError) as e:
        est.fit(views)
    msg = str(e.value)
    assert msg.startswith(f"{name}="), msg
    assert _shown(value) in msg, msg
    assert "expected" in msg, msg
    assert "TOML" not in msg and "line " not in msg, msg
    # get_config checks the same (fit calls it; nothing native trains before the check)
    with pytest.raises(mib.ConfigError, match=f"^{name}="):
        est.get_config()


@pytest.mark.parametrize("cls", [mib.MIB, mib.MVInfoMax, mib.InfoMax, mib.BetaVAE])
def test_every_estimator_checks(views, cls):
    with pytest.raises(mib.ConfigError, match=r"^iterations=-5: expected a positive integer$"):
        cls(**{**TINY, "iterations": -5}).fit(
            views if cls in (mib.MIB, mib.MVInfoMax) else views[0]
        )


def test_messages_of_the_issue(views):
    cases = [
        ("iterations", -5, "iterations=-5: expected a positive integer"),
        ("lr", float("nan"), "lr=nan: expected a finite number >= 0"),
        ("seed", 2**70, "seed=1180591620717411303424: expected an integer in [0, 2**63)"),
    ]
    for name, value, message in cases:
        with pytest.raises(mib.ConfigError) as e:
            mib.MIB(**{**TINY, name: value}).fit(views)
        assert str(e.value) == message


def test_every_parameter_has_a_check():
    assert set(_params.CHECKS) == set(mib.MIB._get_param_names())


def test_names_are_the_native_ones():
    """The named choices come from the Rust enums; each one is a valid config value there."""
    c = _params.choices()
    assert c["critic"] == ["mlp", "separable"]
    assert c["estimator"] == ["jsd", "nwj", "infonce"]
    assert c["skl"] == ["monte-carlo", "closed-form"]
    assert c["encoder_norm"] == ["none", "layer"]
    assert c["scaling"] == ["none", "standardize", "minmax"]
    assert set(c["beta"]) == {"constant", "linear", "exponential"}
    assert c["beta"]["exponential"]["base"] == ("float", False)
    assert c["beta"]["exponential"]["start_iteration"] == ("int", True)
    assert c["max_augment_views"] == 16
    for key, path in [
        ("critic", ("model", "critic")),
        ("estimator", ("model", "estimator")),
        ("skl", ("model", "skl")),
        ("encoder_norm", ("model", "encoder_norm")),
        ("scaling", ("data", "scaling")),
    ]:
        for name in c[key]:
            cfg = json.loads(_native.default_config())
            cfg[path[0]][path[1]] = name
            back = json.loads(_native.resolve_config(json.dumps(cfg)))
            assert back[path[0]].get(path[1], "none") == name
        cfg[path[0]][path[1]] = "no-such-name"
        with pytest.raises(mib.ConfigError):
            _native.resolve_config(json.dumps(cfg))


def test_infomax_with_the_separable_critic(views):
    with pytest.raises(mib.ConfigError, match=r"^critic='separable': InfoMax"):
        mib.InfoMax(**TINY, critic="separable").fit(views[0])


def test_batch_size_larger_than_the_items(views):
    with pytest.raises(mib.ConfigError) as e:
        mib.MIB(**TINY, batch_size=100000).fit(views)
    assert str(e.value).startswith("batch_size=100000: larger than the 50 items given"), e.value
    with pytest.raises(mib.ConfigError, match="batch_size=51: larger than the 50 items"):
        mib.MIB(**TINY, batch_size=51).fit(views)
    # exactly the items, and None (the default: 128 capped at the items), still fit
    assert mib.MIB(**TINY, batch_size=50).fit(views).n_iter_ == 2
    est = mib.MIB(**TINY).fit(views)
    assert json.loads(est.model_.config_json)["train"]["batch_size"] == 50


def test_batch_size_checked_before_native_fit(views, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("native fit called")

    monkeypatch.setattr(_native.Model, "fit", boom, raising=False)
    with pytest.raises(mib.ConfigError, match="batch_size"):
        mib.MIB(**TINY, batch_size=1000).fit(views)


GOOD = [
    ("z_dim", np.int64(3)),
    ("z_dim", 1),
    ("encoder_hidden", ()),
    ("encoder_hidden", [np.int32(4), 3]),
    ("encoder_hidden", np.array([4, 4])),
    ("encoder_norm", "layer"),
    ("shared_encoder", False),
    ("shared_encoder", np.bool_(False)),
    ("critic", "mlp"),
    ("projection", (4,)),
    ("temperature", np.float32(0.1)),
    ("temperature", 1e-30),
    ("estimator", "nwj"),
    ("skl", "closed-form"),
    ("lr", 0.0),
    ("lr", np.float64(1e-3)),
    ("lr_encoder", 1e-4),
    ("beta1", 0.0),
    ("beta2", 0.9999),
    ("eps", 1e-30),
    ("beta", 0),
    ("beta", np.float32(0.5)),
    ("beta", {"kind": "constant", "value": np.float64(1.0)}),
    ("beta", {**EXP, "start_iteration": np.int64(0)}),
    ("beta", {**EXP, "base": 2.0}),
    ("beta", {"kind": "linear", "start": 0, "end": 1, "start_iteration": 0, "n_iterations": 1}),
    ("iterations", np.uint64(3)),
    ("batch_size", 2),
    ("batch_size", np.int16(50)),
    ("log_every", 5),  # more than the iterations
    ("max_nonfinite", 2**63 - 1),
    ("scaling", "minmax"),
    ("scaling", ("none", "standardize")),
    ("seed", 0),
    ("seed", 2**63 - 1),
    ("seed", np.uint64(2**63 - 1)),
    ("n_jobs", -1),
    ("n_jobs", None),
    ("n_jobs", np.int8(2)),
    ("verbose", False),
]


@pytest.mark.parametrize("name,value", GOOD, ids=[f"{n}={str(v)[:40]}" for n, v in GOOD])
def test_edge_values_fit(views, name, value):
    est = mib.MIB(**{**TINY, name: value}).fit(views)
    assert est.n_iter_ == int(value) if name == "iterations" else est.n_iter_ == 2
    z = est.transform(views)
    assert all(np.isfinite(a).all() for a in z)


def test_augment_edge_values(images):
    steps = [{"kind": "pixel-corruption", "keep": np.float64(0.8)}]
    for augment, k in [("mnist", 2), (steps, np.int64(3)), ({"steps": steps}, 16)]:
        est = mib.MIB(**TINY, augment=augment, augment_views=k).fit(images)
        assert est.n_iter_ == 2
    # image_shape with numpy integers, for flat rows
    flat = images.reshape(len(images), -1)
    est = mib.MIB(**TINY, augment="mnist", image_shape=(np.int64(8), 8)).fit(flat)
    assert est.n_iter_ == 2


def test_large_seed_stays_an_integer(views):
    # the largest seed a config holds (TOML's integers are i64)
    cfg = mib.MIB(**TINY, seed=2**63 - 1).get_config()
    assert cfg["seed"] == 2**63 - 1 and isinstance(cfg["seed"], int)
    assert str(2**63 - 1) in mib.config_to_toml(cfg)


def test_numpy_parameters_round_trip_through_get_config():
    cfg = mib.MIB(**{**TINY, "lr": np.float32(0.5), "seed": np.int64(7)}).get_config()
    assert cfg["seed"] == 7 and math.isclose(cfg["optim"]["lr"], 0.5)
    json.dumps(cfg)


def test_a_conv_encoder_fits_transforms_and_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((60, 64), dtype=np.float32)
    views = [x, x[:, ::-1].copy()]
    enc = {"kind": "conv", "channels": [4, 8], "strides": [2, 2], "image_shape": [1, 8, 8]}
    est = mib.MIB(iterations=4, z_dim=4, encoder_hidden=(), encoder=enc).fit(views)
    z = est.transform(views)[0]
    assert z.shape == (60, 4) and np.isfinite(z).all()
    cfg = est.get_config()
    assert cfg["model"]["encoder"]["kind"] == "conv"
    back = mib.MIB.from_config(cfg)
    assert back.encoder["channels"] == [4, 8]
    est.save(tmp_path / "run")
    np.testing.assert_array_equal(mib.load_run(tmp_path / "run").transform(views)[0], z)


def test_a_mean_pooled_conv_encoder_fits_and_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((60, 64), dtype=np.float32)
    views = [x, x[:, ::-1].copy()]
    enc = {"kind": "conv", "channels": [4, 8], "strides": [2, 2], "pool": "mean"}
    est = mib.MIB(iterations=4, z_dim=4, encoder_hidden=(), encoder=enc, image_shape=(8, 8))
    est.fit(views)
    z = est.transform(views)[0]
    assert z.shape == (60, 4) and np.isfinite(z).all()
    # the head reads the 8 channel means (the last hidden layer of an encoder without dense ones)
    assert est.transform_view(x, view=0, representation="hidden").shape == (60, 8)
    assert est.get_config()["model"]["encoder"]["pool"] == "mean"
    assert mib.MIB.from_config(est.get_config()).encoder["pool"] == "mean"
    est.save(tmp_path / "run")
    back = mib.load_run(tmp_path / "run")
    assert back.encoder["pool"] == "mean"
    np.testing.assert_array_equal(back.transform(views)[0], z)


def test_encoder_errors_name_the_parameter() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((60, 64), dtype=np.float32)
    with pytest.raises(mib.ConfigError, match=r"^encoder="):
        mib.MIB(iterations=2, encoder="resnet").fit([x, x])
    bad = {"kind": "conv", "channels": [4], "kernel": 0, "image_shape": [1, 8, 8]}
    with pytest.raises(mib.ConfigError, match=r"^encoder\['kernel'\]=0"):
        mib.MIB(iterations=2, encoder=bad).fit([x, x])
    pool = {"kind": "conv", "channels": [4], "pool": "max", "image_shape": [1, 8, 8]}
    with pytest.raises(
        mib.ConfigError, match=r"^encoder\['pool'\]=\"max\": expected one of flatten, mean"
    ):
        mib.MIB(iterations=2, encoder=pool).fit([x, x])
    with pytest.raises(mib.ConfigError, match=r"^encoder\[view 1\]\['pool'\]=\"max\""):
        mib.MIB(iterations=2, encoder=[None, pool]).fit([x, x])
    wrong = {"kind": "conv", "channels": [4], "image_shape": [3, 8, 8]}
    with pytest.raises(mib.ConfigError):
        mib.MIB(iterations=2, encoder=wrong).fit([x, x])


def test_the_fast_conv_preset_keeps_its_conv_encoder() -> None:
    est = mib.from_preset("fast-conv")
    assert est.encoder["kind"] == "conv"
    assert est.get_config()["model"]["encoder"]["channels"] == est.encoder["channels"]
