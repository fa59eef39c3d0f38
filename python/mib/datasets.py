"""Datasets as NumPy arrays: the embedded UCI Multiple Features set, and Fashion-MNIST / MNIST
from IDX files (Debian's ``dataset-fashion-mnist``, or a folder)."""

from __future__ import annotations

import os
from typing import Any, Sequence

from . import _native

__all__ = ["load_mfeat", "load_fashion_mnist", "load_mnist"]


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
