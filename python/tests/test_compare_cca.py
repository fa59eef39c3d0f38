"""scripts/compare_cca.py's detection of K-view support (the script itself is a measurement and
needs cca-zoo; these tests need only mib and numpy): today's package refuses six views and the
script says "skipped: needs K-view support"; a package that fits six views goes through the
six-view path (probe, retrieval, the mean of the six projections)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import mib

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("compare_cca", ROOT / "scripts" / "compare_cca.py")
compare_cca = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_cca)


class Refuses(mib.MIB):
    """Stands for a package without K-view support: refuses more than two views, as ``fit`` does
    today."""

    def fit(self, views, y=None):
        if len(views) > 2:
            raise mib.ShapeError(f"views: {len(views)} views given; MIB trains on two")
        return super().fit(views, y)


class FitsK(mib.MIB):
    """Stands for a package with K-view support: one fixed random projection per view."""

    def fit(self, views, y=None):
        rng = np.random.default_rng(self.seed)
        self.weights_ = [rng.standard_normal((v.shape[1], self.z_dim)) for v in views]
        self.n_features_in_ = [v.shape[1] for v in views]
        return self

    def transform_view(self, X, view=0, sample=False):
        return (np.asarray(X, dtype=np.float64) @ self.weights_[view]).astype(np.float32)


class Broken(mib.MIB):
    def fit(self, views, y=None):
        raise mib.ConfigError("a real failure, not a refusal")


def test_detection_on_the_installed_package_agrees_with_fit():
    ok, why = compare_cca.kview_support()
    rng = np.random.default_rng(1)
    views = [rng.standard_normal((32, 3)).astype(np.float32) for _ in range(6)]
    try:
        mib.MIB(encoder_hidden=(4,), z_dim=2, iterations=1, batch_size=16, log_every=1).fit(views)
        refused = False
    except mib.ShapeError:
        refused = True
    assert ok is not refused, why
    if not ok:
        assert why.startswith("mib.ShapeError: ")


def test_detection_with_stand_ins():
    ok, why = compare_cca.kview_support(Refuses)
    assert not ok and "trains on two" in why
    assert compare_cca.kview_support(FitsK) == (True, "fits six views")
    with pytest.raises(mib.ConfigError):  # only a refusal of the views means "not supported"
        compare_cca.kview_support(Broken)


def test_the_script_prints_the_skip_line_without_k_view_support(monkeypatch, capsys, tmp_path):
    real = compare_cca.kview_support
    monkeypatch.setattr(compare_cca, "kview_support", lambda: real(Refuses))
    out = tmp_path / "rows.json"
    assert compare_cca.main(["--only", "mib6", "--json", str(out)]) == 0
    assert (
        "MIB six views (demo preset), 32: skipped: needs K-view support" in capsys.readouterr().out
    )
    (row,) = json.loads(out.read_text())["rows"]
    assert row["skipped"] == compare_cca.SKIP_KVIEW


def test_the_six_view_path_runs_once_fit_takes_six_views():
    d = compare_cca.load()
    emb = compare_cca.m_mib(d, list(range(6)), seed=0, threads=1, estimator=FitsK)
    assert emb["z"].shape == (1500, 32) and emb["zt"].shape == (500, 32)
    assert emb["za"].shape == (1500, 32) and emb["zat"].shape == (500, 32)
    row, row_all = compare_cca.run_row(
        "MIB six views",
        dict(views="all 6", dim=32, seeded=True),
        lambda d, s: compare_cca.m_mib(d, list(range(6)), s, 1, estimator=FitsK),
        d,
        [0, 1],
    )
    assert row["seeds"] == 2 and [p["labels_per_class"] for p in row["probe"]] == [1, 10, 100]
    assert 0 <= row["map_pix_fou"] <= 1 and 0 <= row["map_fou_pix"] <= 1
    assert row_all["all_views_at_test"] and "map_pix_fou" not in row_all
    assert "MIB six views" in compare_cca.table([row, row_all])
