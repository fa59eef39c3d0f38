"""Datasets as NumPy arrays: the embedded UCI Multiple Features set, and Fashion-MNIST / MNIST
from IDX files (Debian's ``dataset-fashion-mnist``, or a folder)."""

from __future__ import annotations

import os
from typing import Any, Sequence

from . import _native

__all__ = ["load_mfeat", "load_fashion_mnist", "load_mnist", "augment"]


def load_mfeat(views: Sequence[str] = ("pix", "fou")) -> dict[str, Any]:
    """The UCI Multiple Features set (embedded; 2,000 handwritten digits, six views ``pix``,
    ``fou``, ``fac``, ``kar``, ``zer``, ``mor``), split 1,500 train / 500 test as ``mib train``
    splits it, scaled as it scales it (``pix`` to [0, 1], the others standardised with the
    training statistics).

    Returns
    -------
    dict
        ``train`` and ``test``: ``(views, labels)`` with ``views`` a list of float32 arrays;
        ``view_names``, ``n_classes``, ``image_shape``.
    """
    return _native.load_dataset("mfeat", views=list(views))


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Fashion-MNIST (60,000 train / 10,000 test 28x28 images scaled to [0, 1], one view) from
    ``data_dir``, else ``$MIB_DATA``, else ``/usr/share/datasets/fashion-mnist``. Same layout as
    :func:`load_mfeat`."""
    return _native.load_dataset(
        "fashion-mnist", data_dir=None if data_dir is None else os.fspath(data_dir)
    )


def load_mnist(data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """MNIST from IDX files in ``data_dir`` (same layout as :func:`load_fashion_mnist`)."""
    return _native.load_dataset("mnist", data_dir=None if data_dir is None else os.fspath(data_dir))


def augment(
    images: Any,
    augment: Any = "mnist",
    *,
    image_shape: tuple[int, int] | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
) -> Any:
    """Augmented copies of single-channel images: the transforms the estimators' ``augment=``
    pairing draws at every training step (``fit(X, augment="mnist")``), one draw per image.

    Parameters
    ----------
    images : array-like of shape (n, h, w), or (n, h * w) with ``image_shape``
    augment : str or list of dict
        A preset name with an augmentation (``"mnist"``: the paper's random affine + pixel
        drop; ``"fast"``) or the steps themselves (``[{"kind": "random-affine", ...}]``).
    seed : int
        Image ``i`` draws from a generator seeded by ``(seed, i)``: the same call gives the same
        views, whatever ``n_jobs``; another seed gives another view of each image.

    Returns
    -------
    ndarray of float32, the shape of ``images``
    """
    import json

    import numpy as np

    from ._estimators import _as_view, _augment_steps, _threads
    from ._native import ConfigError, DataError, ShapeError

    a = _as_view(images, "images")
    if a.ndim == 3:
        h, w = a.shape[1], a.shape[2]
    elif a.ndim == 2 and image_shape is not None:
        h, w = (int(v) for v in image_shape)
    elif a.ndim == 2:
        raise ConfigError("image_shape: needed for images given as rows (n, h * w)")
    else:
        raise ShapeError(f"images: expected (n, h, w) or (n, h * w), got shape {a.shape}")
    if a.shape[0] == 0:
        raise ShapeError(f"images: empty array of shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        raise DataError(
            f"images: non-finite value at index {tuple(int(i) for i in np.argwhere(bad)[0])}"
        )
    flat = np.ascontiguousarray(a.reshape(a.shape[0], -1))
    steps = json.dumps({"steps": _augment_steps(augment)})
    out = _native.augment(flat, h, w, steps, seed=int(seed), threads=_threads(n_jobs))
    return out.reshape(a.shape)
