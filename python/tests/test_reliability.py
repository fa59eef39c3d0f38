"""The bad inputs of the reliability campaign, through the Python API: exceptions, never a crash."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import mib


def idx(path, dims, payload: bytes, compress=False):
    head = struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(
        struct.pack(">I", d) for d in dims
    )
    data = head + payload
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data, compresslevel=1))
    else:
        path.write_bytes(data)


def mnist_dir(d, labels=3, n=20):
    for split in ("train", "t10k"):
        idx(d / f"{split}-images-idx3-ubyte", [n, 28, 28], bytes(n * 784))
        idx(d / f"{split}-labels-idx1-ubyte", [n], bytes([labels]) * n)
    return d


def test_out_of_range_labels(tmp_path):
    mnist_dir(tmp_path, labels=42)
    with pytest.raises(mib.DataError, match="42"):
        mib.datasets.load_mnist(tmp_path)


def test_gzip_bomb_is_refused_without_expanding_it(tmp_path):
    mnist_dir(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    # declares 20 images, then 64 MiB of zeros
    idx(tmp_path / "train-images-idx3-ubyte", [20, 28, 28], bytes(64 << 20), compress=True)
    with pytest.raises(mib.DataError, match="train-images"):
        mib.datasets.load_mnist(tmp_path)


def test_missing_files_name_the_folder(tmp_path):
    with pytest.raises(mib.MibError, match=str(tmp_path)):
        mib.datasets.load_mnist(tmp_path)


def test_corrupt_checkpoint_in_a_run_folder(tmp_path):
    (tmp_path / "config.toml").write_text("seed = 1\n")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "ckpt-0000000010.safetensors").write_bytes(b"\x08" + bytes(40))
    with pytest.raises(mib.DataError, match="no model.safetensors and no valid checkpoint"):
        mib.load_run(tmp_path)


def test_infinite_values_and_huge_rows(tmp_path):
    x = np.zeros((10, 3), np.float32)
    x[4, 1] = np.inf
    with pytest.raises(mib.DataError, match="row 4, column 1"):
        mib.MIB(iterations=2, batch_size=4).fit([x, np.zeros((10, 2), np.float32)])
