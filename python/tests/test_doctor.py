"""Diagnostics and the beta path from Python: ``est.diagnose()``, ``mib.eval.diagnose(run)``,
``mib.eval.beta_path(run)``, ``mib.plot.beta_path`` and ``mib.load_run(run, checkpoint=)``."""

from __future__ import annotations

import json
import subprocess

import pytest

import mib

CONFIG = """seed = 4
[data]
dataset = "mfeat"
views = ["pix", "fou"]
pairing = { kind = "aligned" }
[model]
objective = "mib"
encoder_hidden = [32]
z_dim = 8
shared_encoder = false
critic_hidden = [32]
[optim]
lr = 1e-3
[beta]
kind = "exponential"
start = 1e-3
end = 100.0
start_iteration = 100
n_iterations = 400
[train]
iterations = 600
log_every = 20
checkpoint_every = 200
threads = 1
checkpoint_at_beta = [1e-3, 0.01, 1, 100]
[eval]
every = 60
labels_per_class = 5
repetitions = 2
max_test_items = 400
"""


@pytest.fixture(scope="module")
def mfeat():
    return mib.datasets.load_mfeat(views=["pix", "fou"])


@pytest.fixture(scope="module")
def ramp_run(cli, tmp_path_factory):
    d = tmp_path_factory.mktemp("doctor")
    cfg = d / "ramp.toml"
    cfg.write_text(CONFIG)
    run = d / "ramp"
    p = subprocess.run(
        [cli, "train", "-q", "--config", str(cfg), "--out", str(run)],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    return run


def test_diagnose_a_run_folder(ramp_run):
    d = mib.eval.diagnose(ramp_run, n_jobs=1)
    kinds = {f["kind"]: f for f in d["findings"]}
    assert "probe-peaked-early" in kinds, d
    f = kinds["probe-peaked-early"]
    assert f["severity"] == "warning"
    assert "at the end (iteration 600" in f["saw"]
    assert "checkpoint_at_beta" in f["advice"]
    assert any(p.startswith("non-finite steps") for p in d["passed"])


def test_diagnose_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(mib.DataError, match="not a run folder"):
        mib.eval.diagnose(tmp_path)


def test_beta_path_best_checkpoint_and_figures(ramp_run, tmp_path):
    r = mib.eval.beta_path(ramp_run, repetitions=2, n_jobs=1)
    betas = [p["beta"] for p in r["points"]]
    assert [p["checkpoint"] for p in r["points"]][-1] == "final"
    assert betas[:4] == pytest.approx([1e-3, 0.01, 1, 100], rel=1e-6)
    best = r["points"][r["best"]]
    acc = [p["linear_probe"][-1]["mean"] for p in r["points"]]
    assert best["linear_probe"][-1]["mean"] == max(acc)
    assert r["best_labels_per_class"] == 10
    saved = json.loads((ramp_run / "beta_path.json").read_text())
    assert saved["best"] == r["best"]
    # load the best checkpoint by name
    est = mib.load_run(ramp_run, n_jobs=1, checkpoint=best["checkpoint"])
    assert est.n_iter_ == best["iteration"]
    est01 = mib.load_run(ramp_run, n_jobs=1, checkpoint="beta=0.01")
    assert est01.n_iter_ == r["points"][1]["iteration"]
    png = mib.plot.beta_path(r, tmp_path / "plane.png")
    assert png.startswith(b"\x89PNG") and (tmp_path / "plane.png").exists()
    svg = mib.plot.beta_path(ramp_run / "beta_path.json", kind="accuracy", format="svg")
    assert b"accuracy against beta" in svg
    with pytest.raises(mib.ConfigError, match="kind="):
        mib.plot.beta_path(r, kind="nope")


def test_bad_checkpoints_and_runs_without_a_beta_path(ramp_run, cli, tmp_path):
    with pytest.raises(mib.ConfigError, match="no such checkpoint.*final"):
        mib.load_run(ramp_run, checkpoint="ckpt-nope")
    cfg = tmp_path / "plain.toml"
    cfg.write_text(CONFIG.replace("checkpoint_at_beta = [1e-3, 0.01, 1, 100]\n", ""))
    run = tmp_path / "plain"
    subprocess.run(
        [cli, "train", "-q", "--config", str(cfg), "--out", str(run), "--iterations", "40"],
        check=True,
        capture_output=True,
    )
    with pytest.raises(mib.DataError, match="no checkpoints on its beta path"):
        mib.eval.beta_path(run)
    with pytest.raises(mib.ConfigError, match="labels_per_class"):
        mib.eval.beta_path(ramp_run, labels_per_class=[])


def test_est_diagnose_in_memory(mfeat, small):
    (x1, x2), _ = mfeat["train"]
    (t1, _t2), _ = mfeat["test"]
    good = mib.MIB(**small).fit([x1, x2])
    d = good.diagnose(t1)
    kinds = [f["kind"] for f in d["findings"]]
    assert "learning-rate-too-high" not in kinds, d
    assert any(p.startswith("latent collapse") for p in d["passed"]), d
    # without X, the collapse check is skipped and says so
    assert any(s.startswith("latent collapse") for s in good.diagnose()["skipped"])
    bad = mib.MIB(**{**small, "lr": 0.1}).fit([x1, x2])
    kinds = [f["kind"] for f in bad.diagnose()["findings"]]
    assert "learning-rate-too-high" in kinds
