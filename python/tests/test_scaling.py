"""Input scaling travels with the model: fitted in ``fit``, applied by ``transform``, kept by
pickles and by run folders the command-line tool trains from raw ``.npy`` files."""

from __future__ import annotations

import pickle
import subprocess

import numpy as np
import pytest

import mib


@pytest.fixture(scope="module")
def views():
    (x1, x2), y = mib.datasets.load_mfeat(views=["pix", "fou"])["train"]
    return x1, x2, y


def test_standardize_makes_fits_invariant_to_column_units(views, small):
    x1, x2, _ = views
    rng = np.random.default_rng(0)
    a = rng.uniform(10, 1000, size=x1.shape[1]).astype(np.float32)
    b = rng.uniform(-50, 50, size=x1.shape[1]).astype(np.float32)
    x1_units = x1 * a + b  # the same view in other units
    std = dict(small, scaling="standardize")
    z = mib.MIB(**std).fit([x1, x2]).transform([x1, x2])[0]
    z_units = mib.MIB(**std).fit([x1_units, x2]).transform([x1_units, x2])[0]
    assert np.abs(z - z_units).max() < 0.05 * np.abs(z).max()
    # without scaling the units matter
    raw = dict(small, scaling="none")
    z_raw = mib.MIB(**raw).fit([x1_units, x2]).transform([x1_units, x2])[0]
    assert np.abs(z - z_raw).max() > 0.2 * np.abs(z).max()


def test_pickles_keep_the_scaling(views, small):
    x1, x2, _ = views
    est = mib.MIB(**dict(small, iterations=40)).fit([x1 * 100.0, x2])
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(
        est.transform([x1 * 100.0, x2])[0], back.transform([x1 * 100.0, x2])[0]
    )


def test_bad_scaling_names_the_parameter(views, small):
    x1, x2, _ = views
    for bad in ("loud", ["minmax"] * 3 + ["x"], 3):
        with pytest.raises(mib.ConfigError, match="scaling"):
            mib.MIB(**dict(small, scaling=bad)).fit([x1, x2])
    # the library's check, reported under the Python parameter's name (not data.scaling)
    with pytest.raises(mib.ConfigError, match=r"^scaling=.*one kind per view"):
        mib.MIB(**dict(small, scaling=["minmax"])).fit([x1, x2])


def test_cli_run_on_raw_npy_files_transforms_raw_rows(tmp_path, cli, views):
    x1, x2, y = views
    raw1 = (x1 * 6.0).astype(np.float32)  # pix in its file units, 0-6
    np.save(tmp_path / "pix.npy", raw1)
    np.save(tmp_path / "fou.npy", x2)
    np.save(tmp_path / "y.npy", y.astype(np.int64))
    run = tmp_path / "run"
    out = subprocess.run(
        [cli, "train", "--config", "demo", "--iterations", "60", "--threads", "1", "--quiet"]
        + ["--views", f"{tmp_path / 'pix.npy'},{tmp_path / 'fou.npy'}"]
        + ["--labels", str(tmp_path / "y.npy"), "--out", str(run)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "input scaling: pix: standardize, fou: standardize" in out.stderr
    est = mib.load_run(run)
    z = est.transform([raw1, x2])[0]
    emb = tmp_path / "z.npy"
    out = subprocess.run(
        [cli, "embed", str(run), "--split", "train", "--out", str(emb)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        pytest.fail(out.stderr)
    z_cli = np.load(emb)  # the CLI's training split: a seeded subset of the rows, permuted
    assert z_cli.shape[1] == z.shape[1] and 0 < len(z_cli) < len(z)
    d2 = ((z_cli[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    assert d2.min(axis=1).max() < 1e-8, "every CLI embedding is Python's for the same raw row"
    # the raw rows without the saved scaling would give other embeddings
    z_unscaled = est.transform([raw1 / 6.0, x2])[0]
    assert np.abs(z_unscaled - z).max() > 1e-3
