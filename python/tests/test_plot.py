"""`mib.plot`: matplotlib-free figures as PNG (or SVG) bytes, drawn by the Rust library."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import mib

PNG = b"\x89PNG\r\n\x1a\n"


def size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk (the first chunk of every PNG)."""
    assert png[:8] == PNG and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def probe(mean: float) -> list[dict]:
    return [
        {"labels_per_class": k, "mean": mean + 0.01 * i, "std": 0.02, "repetitions": 3}
        for i, k in enumerate([1, 10, 100])
    ]


def test_accuracy_vs_labels(tmp_path):
    png = mib.plot.accuracy_vs_labels({"MIB": probe(0.8), "pixels": probe(0.6)})
    assert size(png) == (720, 480)
    other = mib.plot.accuracy_vs_labels({"MIB": probe(0.5), "pixels": probe(0.6)})
    assert other != png  # the data are drawn
    path = tmp_path / "acc.png"
    assert mib.plot.accuracy_vs_labels({"MIB": probe(0.8), "pixels": probe(0.6)}, path) == png
    assert path.read_bytes() == png
    svg = mib.plot.accuracy_vs_labels(probe(0.8), tmp_path / "acc.svg")  # a bare list: one run
    assert b"<svg" in svg[:200] and (tmp_path / "acc.svg").read_bytes() == svg
    # a report of mib.eval.evaluate is accepted as a run
    report = {"linear_probe": probe(0.7), "knn": None}
    assert size(mib.plot.accuracy_vs_labels({"r": report})) == (720, 480)


def test_accuracy_vs_labels_from_the_probe(tmp_path):
    data = mib.datasets.load_mfeat(views=["fou"])
    (x,), y = data["train"]
    (t,), yt = data["test"]
    res = mib.eval.linear_probe(x, y, t, yt, labels_per_class=[1, 5], repetitions=2)
    assert size(mib.plot.accuracy_vs_labels({"fou": res})) == (720, 480)


def test_bad_results_raise(tmp_path):
    with pytest.raises(mib.DataError, match="non-empty dict"):
        mib.plot.accuracy_vs_labels({})
    nan = probe(0.5)
    nan[1]["mean"] = float("nan")
    with pytest.raises(mib.DataError, match=r"results\['x'\]\[1\]\['mean'\]: non-finite"):
        mib.plot.accuracy_vs_labels({"x": nan})
    with pytest.raises(mib.DataError, match=r"results\['x'\]\[0\]: mean 80.0"):
        mib.plot.accuracy_vs_labels({"x": probe(80.0)})
    with pytest.raises(mib.DataError, match=r"results\['x'\]\[0\]: missing key 'mean'"):
        mib.plot.accuracy_vs_labels({"x": [{"labels_per_class": 1}]})
    with pytest.raises(mib.DataError, match=r"labels_per_class'\]: expected a positive integer"):
        mib.plot.accuracy_vs_labels({"x": [{"labels_per_class": 0, "mean": 0.5}]})
    with pytest.raises(mib.DataError, match=r"without `linear_probe`"):
        mib.plot.accuracy_vs_labels({"x": {"knn": 1}})
    with pytest.raises(mib.ConfigError, match=r"end in .png or .svg"):
        mib.plot.accuracy_vs_labels({"x": probe(0.5)}, tmp_path / "a.jpg")
    with pytest.raises(mib.ConfigError, match=r"format='gif'"):
        mib.plot.accuracy_vs_labels({"x": probe(0.5)}, format="gif")
    with pytest.raises(mib.FileError, match=r"writing figure"):
        mib.plot.accuracy_vs_labels({"x": probe(0.5)}, tmp_path / "no" / "such" / "a.png")


def test_information_plane(tmp_path):
    pts = {"MIB": (2.0, 1.9), "MV-InfoMax": {"i_xz": 7.5, "i_yz": 2.1}}
    png = mib.plot.information_plane(pts, h_y=2.3)
    assert size(png) == (640, 480)
    assert mib.plot.information_plane(pts) != png  # the H(y) ceiling is drawn
    report = {"information_plane": {"i_xz": 3.0, "i_yz": 1.0, "i_xz_estimator": "x"}}
    assert size(mib.plot.information_plane({"run": report}, tmp_path / "ip.png")) == (640, 480)
    with pytest.raises(mib.DataError, match=r"points\['a'\]: needs both i_xz and i_yz"):
        mib.plot.information_plane({"a": {"i_xz": None, "i_yz": 1.0}})
    with pytest.raises(mib.DataError, match=r"points\['a'\] i_yz: non-finite"):
        mib.plot.information_plane({"a": (1.0, float("inf"))})
    with pytest.raises(mib.DataError, match=r"h_y: expected a number"):
        mib.plot.information_plane({"a": (1.0, 1.0)}, h_y="high")


def test_training_curves_and_pca(small):
    data = mib.datasets.load_mfeat(views=["pix", "fou"])
    (x1, x2), y = data["train"]
    est = mib.MIB(**{**small, "iterations": 60}).fit([x1, x2])
    png = mib.plot.training_curves(est)  # the estimator's history_
    assert png == mib.plot.training_curves(est.history_)
    keys = {k for r in est.history_ for k, v in r.items() if k != "iteration"}
    w, h = size(png)
    assert w == 340 * min(3, len(keys)) and h == 240 * -(-len(keys) // 3)
    z = est.transform_view(x1)
    assert size(mib.plot.pca_scatter(z, y, max_points=500)) == (640, 560)
    with pytest.raises(mib.ShapeError, match=r"y: 10 labels for 1500 rows of z"):
        mib.plot.pca_scatter(z, y[:10])
    with pytest.raises(mib.ConfigError, match=r"max_points=0"):
        mib.plot.pca_scatter(z, y, max_points=0)
    with pytest.raises(mib.DataError, match=r"history: expected a non-empty list"):
        mib.plot.training_curves([])
    with pytest.raises(mib.DataError, match=r"training curves: no numeric metric"):
        mib.plot.training_curves([{"iteration": 1}, {"note": "text"}])
