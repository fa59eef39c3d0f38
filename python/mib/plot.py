"""Figures of an evaluation, without matplotlib: PNG (or SVG) bytes drawn by the Rust library
(``mib::plot``, plotters with an embedded DejaVu Sans font), the figures ``mib plot`` and
``mib report`` draw.

Every function returns the encoded image as ``bytes`` and, given ``path``, also writes it there
(the format follows the suffix, ``.png`` or ``.svg``; ``format=`` overrides it)::

    res = {"MIB": mib.eval.linear_probe(z_tr, y_tr, z_te, y_te),
           "pixels": mib.eval.linear_probe(x_tr, y_tr, x_te, y_te)}
    png = mib.plot.accuracy_vs_labels(res, "accuracy.png")

In a notebook, ``IPython.display.Image(png)`` shows it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import _native
from ._native import ConfigError, DataError, FileError

__all__ = [
    "accuracy_vs_labels",
    "information_plane",
    "training_curves",
    "pca_scatter",
    "beta_path",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _format(path: str | os.PathLike[str] | None, format: str | None) -> str:
    if format is not None:
        if format not in ("png", "svg"):
            raise ConfigError(f"format={format!r}: expected 'png' or 'svg'")
        return format
    if path is None:
        return "png"
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ConfigError(f"path={os.fspath(path)!r}: figure files end in .png or .svg")
    return suffix[1:]


def _write(data: bytes, path: str | os.PathLike[str] | None) -> bytes:
    if path is not None:
        try:
            Path(path).write_bytes(data)
        except OSError as e:
            raise FileError(f"writing figure {os.fspath(path)!r}: {e.strerror or e}") from None
    return data


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise DataError(f"{where}: expected a number, got {v!r}")
    if not math.isfinite(float(v)):
        raise DataError(f"{where}: non-finite value {v!r}")
    return float(v)


def _summaries(value: Any, name: str) -> list[dict[str, Any]]:
    """Probe summaries of one run: a list of dicts (``mib.eval.linear_probe``) or an eval report
    (a dict with ``linear_probe``)."""
    if isinstance(value, Mapping):
        if "linear_probe" not in value:
            raise DataError(
                f"results[{name!r}]: a dict without `linear_probe` (give mib.eval.linear_probe's "
                f"list or mib.eval.evaluate's report)"
            )
        value = value["linear_probe"]
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or not value:
        raise DataError(f"results[{name!r}]: expected a non-empty list of probe results")
    out = []
    for i, s in enumerate(value):
        where = f"results[{name!r}][{i}]"
        if not isinstance(s, Mapping):
            raise DataError(f"{where}: expected a dict with labels_per_class, mean, std")
        try:
            k, mean = s["labels_per_class"], s["mean"]
        except KeyError as e:
            raise DataError(f"{where}: missing key {e.args[0]!r}") from None
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"{where}['labels_per_class']: expected a positive integer, got {k!r}")
        mean = _number(mean, f"{where}['mean']")
        std = _number(s.get("std", 0.0), f"{where}['std']")
        if not (0.0 <= mean <= 1.0) or std < 0.0:
            raise DataError(
                f"{where}: mean {mean} and std {std} are not an accuracy (a fraction in [0, 1]) "
                f"and its spread"
            )
        out.append(
            {
                "labels_per_class": int(k),
                "mean": mean,
                "std": std,
                "repetitions": int(s.get("repetitions", 1)),
            }
        )
    return out


def _named(results: Any, what: str) -> list[tuple[str, Any]]:
    if isinstance(results, Mapping) and results and all(isinstance(k, str) for k in results):
        return list(results.items())
    if isinstance(results, Sequence) and not isinstance(results, (str, bytes)) and results:
        if all(isinstance(r, tuple) and len(r) == 2 for r in results):
            return [(str(n), v) for n, v in results]
    raise DataError(
        f"{what}: expected a non-empty dict {{name: result}} (or a list of (name, result) pairs)"
    )


def accuracy_vs_labels(
    results: Any, path: str | os.PathLike[str] | None = None, *, format: str | None = None
) -> bytes:
    """Test accuracy (%) against labels per class (log axis): one line per run, with a band of
    one standard deviation.

    Parameters
    ----------
    results : dict
        ``{name: probe results}``, each a list from :func:`mib.eval.linear_probe` or a report
        from :func:`mib.eval.evaluate` (its ``linear_probe``). A bare list is one run.
    path : str or path-like, optional
        Where to write the figure (``.png`` or ``.svg``).
    format : {"png", "svg"}, optional
        Overrides the format given by ``path`` (default PNG).

    Returns
    -------
    bytes
        The PNG file (or the SVG document as UTF-8).
    """
    fmt = _format(path, format)
    if isinstance(results, Sequence) and results and isinstance(results[0], Mapping):
        results = {"representation": results}
    runs = [(name, json.dumps(_summaries(v, name))) for name, v in _named(results, "results")]
    return _write(bytes(_native.plot_accuracy_vs_labels(runs, fmt)), path)


def _point(name: str, v: Any) -> tuple[str, float, float]:
    where = f"points[{name!r}]"
    if isinstance(v, Mapping):
        if "information_plane" in v:
            v = v["information_plane"] or {}
        if "i_xz" not in v or "i_yz" not in v or v["i_xz"] is None or v["i_yz"] is None:
            raise DataError(f"{where}: needs both i_xz and i_yz (mib.eval.evaluate_model has both)")
        x, y = v["i_xz"], v["i_yz"]
    elif isinstance(v, Sequence) and len(v) == 2:
        x, y = v
    else:
        raise DataError(f"{where}: expected (i_xz, i_yz) or a dict with i_xz and i_yz")
    return name, _number(x, f"{where} i_xz"), _number(y, f"{where} i_yz")


def information_plane(
    points: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    h_y: float | None = None,
    format: str | None = None,
) -> bytes:
    """The information plane: ``I(x; z)`` against ``I(y; z)`` (nats), one labelled point per
    run, with the ceiling ``I(y; z) <= H(y)`` when ``h_y`` is given. The x axis turns
    logarithmic when the points span more than 50x.

    Parameters
    ----------
    points : dict
        ``{name: point}``, each ``(i_xz, i_yz)``, a dict with ``i_xz`` and ``i_yz`` (an
        ``information_plane``), or a report of :func:`mib.eval.evaluate_model`.
    h_y : float, optional
        The label entropy (``mib.eval.label_information(...)["h_y"]``).

    Returns
    -------
    bytes
    """
    fmt = _format(path, format)
    pts = [_point(n, v) for n, v in _named(points, "points")]
    if h_y is not None:
        h_y = _number(h_y, "h_y")
    return _write(bytes(_native.plot_information_plane(pts, h_y, fmt)), path)


def training_curves(
    history: Any, path: str | os.PathLike[str] | None = None, *, format: str | None = None
) -> bytes:
    """Training curves: one panel per numeric metric of the history (against ``iteration``).

    Parameters
    ----------
    history : list of dict, or a fitted estimator
        Metrics lines (an estimator's ``history_``, ``mib._native.read_metrics(path)``).

    Returns
    -------
    bytes
    """
    fmt = _format(path, format)
    if hasattr(history, "history_"):
        history = history.history_
    if not isinstance(history, Sequence) or isinstance(history, (str, bytes)) or not history:
        raise DataError("history: expected a non-empty list of metrics dicts")
    lines = []
    for i, r in enumerate(history):
        if not isinstance(r, Mapping):
            raise DataError(f"history[{i}]: expected a dict, got {type(r).__name__}")
        numeric = {
            k: float(v)
            for k, v in r.items()
            if isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, bool)
            and math.isfinite(float(v))
        }
        lines.append(json.dumps(numeric))
    return _write(bytes(_native.plot_training_curves("\n".join(lines), fmt)), path)


def pca_scatter(
    z: Any,
    y: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    max_points: int = 2000,
    format: str | None = None,
) -> bytes:
    """The first two principal components of ``z`` (e.g. test representations), coloured by
    the labels ``y``; at most ``max_points`` rows are drawn (an even stride).

    Returns
    -------
    bytes
    """
    from .eval import _labels, _matrix

    fmt = _format(path, format)
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)):
        raise ConfigError(f"max_points={max_points!r}: expected a positive integer")
    if max_points < 1:
        raise ConfigError(f"max_points={max_points!r}: expected a positive integer")
    a = _matrix(z, "z")
    return _write(bytes(_native.plot_pca_scatter(a, _labels(y, "y"), int(max_points), fmt)), path)


def beta_path(
    report: Mapping[str, Any] | str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    kind: str = "plane",
    format: str | None = None,
) -> bytes:
    """A run's beta path (``mib.eval.beta_path``'s dict, or a ``beta_path.json`` file): ``kind``
    ``"plane"`` draws the information-plane path (``I(x;z)`` against ``I(y;z)``, one point per
    checkpoint, named by its beta, the best circled), ``"accuracy"`` the probe's accuracy
    against beta (log axis), as ``mib report`` does."""
    if kind not in ("plane", "accuracy"):
        raise ConfigError(f"kind={kind!r}: expected 'plane' or 'accuracy'")
    if isinstance(report, (str, os.PathLike)):
        try:
            text = Path(report).read_text()
        except OSError as e:
            raise FileError(f"reading {os.fspath(report)!r}: {e.strerror or e}") from None
    elif isinstance(report, Mapping):
        text = json.dumps(dict(report))
    else:
        raise DataError(
            f"report: expected mib.eval.beta_path's dict or a beta_path.json path, got "
            f"{type(report).__name__}"
        )
    data = _native.plot_beta_path(text, kind=kind, format=_format(path, format))
    return _write(data, path)
