"""Bad input raises Python exceptions that name the argument, array, row or value."""

from __future__ import annotations

import numpy as np
import pytest

import mib

SMALL = dict(encoder_hidden=(16,), critic_hidden=(16,), z_dim=4, iterations=5, n_jobs=1)


@pytest.fixture(scope="module")
def views():
    rng = np.random.default_rng(0)
    return [
        rng.normal(size=(100, 6)).astype(np.float32),
        rng.normal(size=(100, 3)).astype(np.float32),
    ]


@pytest.fixture(scope="module")
def fitted(views):
    return mib.MIB(**SMALL).fit(views)


def test_exception_classes():
    assert issubclass(mib.ConfigError, ValueError)
    assert issubclass(mib.DataError, ValueError)
    assert issubclass(mib.ShapeError, ValueError)
    assert issubclass(mib.NotFittedError, ValueError)
    assert issubclass(mib.TrainingError, RuntimeError)
    assert issubclass(mib.FileError, OSError)


def test_wrong_ndim(views):
    with pytest.raises(mib.ShapeError, match=r"views\[1\]: expected a 2-D array.*1-D"):
        mib.MIB(**SMALL).fit([views[0], views[1][:, 0]])


def test_rows_differ(views):
    with pytest.raises(mib.ShapeError, match=r"views\[1\]: 99 rows, but views\[0\] has 100"):
        mib.MIB(**SMALL).fit([views[0], views[1][:99]])


def test_nan(views):
    bad = views[1].copy()
    bad[7, 2] = np.nan
    with pytest.raises(mib.DataError, match=r"view 1: non-finite value NaN at row 7, column 2"):
        mib.MIB(**SMALL).fit([views[0], bad])


def test_empty(views):
    with pytest.raises(mib.ShapeError, match=r"views\[0\]: the array is empty"):
        mib.MIB(**SMALL).fit([np.zeros((0, 6), np.float32), views[1][:0]])
    with pytest.raises(mib.ShapeError, match="the list is empty"):
        mib.MIB(**SMALL).fit([])


def test_not_numbers(views):
    with pytest.raises(mib.DataError, match=r"views\[0\]: dtype <U1 is not numeric"):
        mib.MIB(**SMALL).fit([np.array([["a"] * 6] * 100), views[1]])
    with pytest.raises(mib.DataError, match="expected a list of 2-D arrays"):
        mib.MIB(**SMALL).fit("views.npy")


def test_one_view_for_mib(views):
    with pytest.raises(mib.ShapeError, match=r"needs two views.*augment="):
        mib.MIB(**SMALL).fit(views[0])


def test_unknown_config_key():
    with pytest.raises(mib.ConfigError, match="unknown field `z_dims`"):
        mib.MIB.from_config({"model": {"z_dims": 4}})
    with pytest.raises(TypeError):
        mib.MIB(z_dims=4)


def test_negative_beta(views):
    with pytest.raises(mib.ConfigError, match="beta"):
        mib.MIB(**SMALL, beta=-1.0).fit(views)


def test_nonsense_values(views):
    with pytest.raises(mib.ConfigError, match="z_dim"):
        mib.MIB(**{**SMALL, "z_dim": 0}).fit(views)
    with pytest.raises(mib.ConfigError, match="estimator"):
        mib.MIB(**SMALL, estimator="bogus").fit(views)
    with pytest.raises(mib.ConfigError, match="n_jobs"):
        mib.MIB(**{**SMALL, "n_jobs": "two"}).fit(views)
    with pytest.raises(mib.ConfigError, match="batch_size"):
        mib.MIB(**SMALL, batch_size=1000).fit(views)
    with pytest.raises(mib.ConfigError, match="augment"):
        mib.MIB(**SMALL, augment="nope").fit(views[0])


def test_transform_before_fit(views):
    with pytest.raises(mib.NotFittedError, match="not fitted yet"):
        mib.MIB().transform(views)
    with pytest.raises(mib.NotFittedError):
        mib.MIB().score(views)


def test_view_wider_than_the_models(fitted, views):
    with pytest.raises(mib.ShapeError, match=r"columns of view 0.*expected 6, got 7"):
        fitted.transform_view(np.zeros((3, 7), np.float32))
    with pytest.raises(mib.ShapeError, match=r"columns of view 1.*expected 3, got 6"):
        fitted.transform([views[0], views[0]])
    with pytest.raises(mib.ConfigError, match="view"):
        fitted.transform_view(views[0], view=5)


def test_bad_run_folders(tmp_path):
    with pytest.raises(mib.DataError, match="not a run folder"):
        mib.load_run(tmp_path)
    (tmp_path / "config.toml").write_text('[model]\nz_dim = "x"\n')
    with pytest.raises(mib.MibError, match="config.toml"):
        mib.load_run(tmp_path)
    (tmp_path / "config.toml").write_text("seed = 1\n")
    with pytest.raises(mib.DataError, match="no model.safetensors and no valid checkpoint"):
        mib.load_run(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(mib.DataError, match="model.safetensors"):
        mib.load_run(tmp_path)


def test_bad_pickle_bytes():
    with pytest.raises(mib.DataError, match="not a mib model"):
        mib._native.Model.from_bytes(b"garbage")
