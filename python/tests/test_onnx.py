"""ONNX export (issue 26, part 5): the exported encoder, run by ONNX Runtime, gives what
``transform`` / ``posterior`` / ``mib embed`` give, for MLP and conv encoders, any batch size."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import mib

ort = pytest.importorskip(
    "onnxruntime", reason="the ONNX export is checked with onnxruntime (pip install onnxruntime)"
)

TOL = 1e-5
BATCHES = (1, 7, 500)


@pytest.fixture(scope="module")
def mfeat():
    return mib.datasets.load_mfeat(views=["pix", "fou"])


def session(model: bytes):
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def shifted(views):
    """mfeat's views, moved and stretched (its loader scales them already)."""
    return [(v * 3.0 + 2.0).astype(np.float32) for v in views]


@pytest.fixture(scope="module")
def mlp_est(mfeat):
    """An MLP MIB with layer norms, trained from arrays (so the model standardises its inputs:
    the scaling is part of the exported graph), on views moved away from mean 0, scale 1 (see
    `shifted`) so that a graph without the scaling would give other outputs."""
    x1, x2 = shifted(mfeat["train"][0])
    return mib.MIB(
        encoder_hidden=(64, 32),
        encoder_norm="layer",
        critic="separable",
        estimator="infonce",
        temperature=0.5,
        z_dim=8,
        lr=1e-3,
        beta=1e-3,
        iterations=200,
        batch_size=64,
        n_jobs=1,
    ).fit([x1, x2])


@pytest.fixture(scope="module")
def conv_est(mfeat):
    """A conv MIB on mfeat's 15 x 16 digit images (two noisy copies of `pix`): convolutions with
    strides, padding and group norms, then a layer-normed dense head."""
    (x1, _), _ = mfeat["train"]
    rng = np.random.default_rng(0)
    x2 = (x1 + 0.1 * rng.standard_normal(x1.shape)).astype(np.float32)
    enc = {
        "kind": "conv",
        "channels": [4, 8],
        "strides": [2, 1],
        "kernel": 3,
        "norm": True,
        "image_shape": [1, 15, 16],
    }
    return mib.MIB(
        encoder=enc,
        encoder_hidden=(32,),
        encoder_norm="layer",
        z_dim=8,
        iterations=100,
        batch_size=64,
        n_jobs=1,
    ).fit([x1, x2])


@pytest.fixture(scope="module")
def pooled_est(mfeat):
    """A conv MIB whose last convolution is averaged over its pixels (``pool="mean"``: global
    average pooling, 8 values into the head), with group norms, shifted inputs (the scaling is
    part of the graph)."""
    x1, _ = shifted(mfeat["train"][0])
    rng = np.random.default_rng(1)
    x2 = (x1 + 0.1 * rng.standard_normal(x1.shape)).astype(np.float32)
    enc = {
        "kind": "conv",
        "channels": [4, 8],
        "strides": [2, 1],
        "norm": True,
        "pool": "mean",
        "image_shape": [1, 15, 16],
    }
    return mib.MIB(
        encoder=enc, encoder_hidden=(16,), z_dim=8, iterations=30, batch_size=64, n_jobs=1
    ).fit([x1, x2])


def assert_close(got, want):
    assert got.shape == want.shape and got.dtype == np.float32
    err = float(np.abs(got - want).max())
    assert err <= TOL, f"max |onnx - mib| = {err}"


@pytest.mark.parametrize("view", [0, 1])
def test_mlp_mean_equals_transform_for_any_batch(mlp_est, mfeat, view, tmp_path):
    x = shifted(mfeat["test"][0])[view]
    path = tmp_path / "enc.onnx"
    b = mlp_est.to_onnx(path, view=view)
    assert path.read_bytes() == b
    s = session(str(path))
    assert [o.name for o in s.get_outputs()] == ["mean"]
    (inp,) = s.get_inputs()
    assert inp.name == "x" and inp.shape[1] == x.shape[1] and isinstance(inp.shape[0], str)
    want = mlp_est.transform_view(x, view=view)
    for n in BATCHES:
        (z,) = s.run(None, {"x": x[:n]})
        assert_close(z, want[:n])


@pytest.mark.parametrize("view", [0, 1])
def test_mlp_mean_scale_equals_posterior(mlp_est, mfeat, view):
    x = shifted(mfeat["test"][0])[view]
    s = session(mlp_est.to_onnx(view=view, output="mean-scale"))
    assert [o.name for o in s.get_outputs()] == ["mean", "scale"]
    mean, scale = mlp_est.posterior(x, view=view)
    for n in BATCHES:
        m, sc = s.run(None, {"x": x[:n]})
        assert_close(m, mean[:n])
        assert_close(sc, scale[:n])
    assert (scale > 0).all()


def test_conv_encoder_equals_transform_and_posterior(conv_est, mfeat):
    (t1, _), _ = mfeat["test"]
    for view in (0, 1):
        s = session(conv_est.to_onnx(view=view, output="mean-scale"))
        mean, scale = conv_est.posterior(t1, view=view)
        assert_close(mean, conv_est.transform_view(t1, view=view))
        for n in BATCHES:
            m, sc = s.run(None, {"x": t1[:n]})
            assert_close(m, mean[:n])
            assert_close(sc, scale[:n])
    ops = {n.op_type for n in _onnx().load_from_string(conv_est.to_onnx()).graph.node}
    assert {"Conv", "ReduceMean", "Flatten", "Reshape", "Gemm", "Relu"} <= ops


def test_pooled_conv_encoder_equals_transform_and_posterior(pooled_est, mfeat):
    t1, _ = shifted(mfeat["test"][0])
    for view in (0, 1):
        s = session(pooled_est.to_onnx(view=view, output="mean-scale"))
        mean, scale = pooled_est.posterior(t1, view=view)
        for n in BATCHES:
            m, sc = s.run(None, {"x": t1[:n]})
            assert_close(m, mean[:n])
            assert_close(sc, scale[:n])
    graph = _onnx().load_from_string(pooled_est.to_onnx()).graph
    assert "GlobalAveragePool" in [n.op_type for n in graph.node]
    head = {t.name: list(t.dims) for t in graph.initializer}["encoder.head.layers.0.weight"]
    assert head == [8, 16]


def _onnx():
    return pytest.importorskip("onnx", reason="the structural checks need the onnx package")


def test_onnx_checker_accepts_the_models(mlp_est, conv_est, pooled_est):
    onnx = _onnx()
    for est in (mlp_est, conv_est, pooled_est):
        for output in ("mean", "mean-scale"):
            m = onnx.load_from_string(est.to_onnx(view=1, output=output))
            onnx.checker.check_model(m, full_check=True)
            assert m.ir_version == 8 and m.opset_import[0].version == 17
            assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
            # every initializer is read by a node (onnxruntime warns about unused ones)
            used = {i for n in m.graph.node for i in n.input}
            assert {t.name for t in m.graph.initializer} <= used
            meta = {p.key: p.value for p in m.metadata_props}
            assert meta["mib.output"] == output and meta["mib.z_dim"] == "8"


def test_a_graph_without_the_scaling_gives_other_outputs(mlp_est, mfeat):
    """The tests above can fail: the same graph with its first two nodes (the input scaling)
    removed is far from `transform`."""
    onnx = _onnx()
    m = onnx.load_from_string(mlp_est.to_onnx(view=1))
    assert [n.op_type for n in m.graph.node[:2]] == ["Sub", "Mul"]
    del m.graph.node[:2]
    for n in m.graph.node:
        n.input[:] = ["x" if i == "x_scaled" else i for i in n.input]
    x = shifted(mfeat["test"][0])[1]
    (z,) = session(m.SerializeToString()).run(None, {"x": x})
    assert np.abs(z - mlp_est.transform_view(x, view=1)).max() > 100 * TOL


def test_cli_export_equals_mib_embed(cli, mfeat, tmp_path):
    """`mib export` on a CLI run (mfeat: named data, no input scaling) gives `mib embed`'s
    output; `--view` takes a name too."""
    run = tmp_path / "run"
    done = subprocess.run(
        [cli, "train", "--config", "demo", "--iterations", "60", "--threads", "1", "--quiet"]
        + ["--out", str(run)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (t1, t2), _ = mfeat["test"]
    for view, spec, x in ((0, "0", t1), (1, "fou", t2)):
        out = tmp_path / f"v{view}.onnx"
        args = ["export", str(run), "--view", spec, "--format", "onnx", "--out", str(out)]
        done = subprocess.run(
            [cli, *args, "--output", "mean-scale"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert str(out) in done.stderr
        z = tmp_path / f"z{view}.npy"
        done = subprocess.run(
            [cli, "embed", str(run), "--view", str(view), "--out", str(z)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        m, sc = session(str(out)).run(None, {"x": x})
        assert_close(m, np.load(z))
        est = mib.load_run(run)
        assert_close(sc, est.posterior(x, view=view)[1])
    # the default file name, in the run folder
    done = subprocess.run([cli, "export", str(run), "--view", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (run / "encoder_view1.onnx").exists()


def test_export_errors_name_the_problem(cli, mlp_est, tmp_path):
    with pytest.raises(mib.ConfigError, match=r"view=2"):
        mlp_est.to_onnx(tmp_path / "x.onnx", view=2)
    with pytest.raises(mib.ConfigError, match=r"output='median'"):
        mlp_est.to_onnx(tmp_path / "x.onnx", output="median")
    bad = tmp_path / "no" / "such" / "dir" / "x.onnx"
    with pytest.raises(mib.FileError, match=str(bad)):
        mlp_est.to_onnx(bad)
    with pytest.raises(mib.NotFittedError):
        mib.MIB().to_onnx(tmp_path / "x.onnx")

    def refused(*args):
        p = subprocess.run([cli, "export", *map(str, args)], capture_output=True, text=True)
        assert p.returncode == 1 and "panicked" not in p.stderr, p.stderr
        return p.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a run folder" in refused(empty)
    run = tmp_path / "saved"
    mlp_est.save(run)
    assert (run / "config.toml").exists()
    e = refused(run, "--view", "5")
    assert "--view" in e and "0 (`" in e and "1 (`" in e, e
    e = refused(run, "--view", "nope")
    assert "nope" in e, e
    e = refused(run, "--out", bad)
    assert str(bad) in e and "writing ONNX model" in e, e
