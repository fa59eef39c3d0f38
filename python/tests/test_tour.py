"""The notebook-style tour (python/examples/tour.py) runs end to end on a small budget."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import mib

ROOT = Path(__file__).resolve().parents[2]


def test_tour(tmp_path):
    spec = importlib.util.spec_from_file_location("tour", ROOT / "python" / "examples" / "tour.py")
    tour = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tour)
    out = tour.main(["--out", str(tmp_path), "--iterations", "300", "--repetitions", "3"])
    res = out["results"]
    assert set(res) == {"MIB", "raw pixels", "PCA-32 of pixels"}
    for name, r in res.items():
        assert [p["labels_per_class"] for p in r] == [1, 10, 100], name
        assert 0.2 < r[0]["mean"] <= r[2]["mean"] <= 1.0, name  # far above chance (0.1)
    for f in ("accuracy_vs_labels.png", "information_plane.png", "training_curves.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f
    assert (tmp_path / "accuracy_vs_labels.png").read_bytes() == out["figure"]
    # the saved run is a run folder the package (and `mib eval`) reads
    back = mib.load_run(out["run"])
    t1 = mib.datasets.load_mfeat(views=["pix", "fou"])["test"][0][0]
    assert back.n_iter_ == 300 and back.transform_view(t1).shape == (500, 32)
    assert np.isfinite(out["report"]["information_plane"]["i_xz"])
