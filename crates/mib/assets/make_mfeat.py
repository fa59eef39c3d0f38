#!/usr/bin/env python3
"""Builds `mfeat.bin`, the compact embedded copy of the UCI Multiple Features (mfeat) data set.

Usage: python3 make_mfeat.py /path/to/uci-mfeat  (the folder with mfeat-{pix,fou,fac,kar,zer,mor}.csv.gz)

Every value in the CSVs is a short decimal (at most 5-6 significant digits), so it is stored exactly
as a decimal: an integer mantissa m and a count of decimals d (value = m / 10^d). The reader
rebuilds each value as the f32 nearest to that decimal, which is exactly what parsing the CSV text
as f32 gives: the embedding is lossless. Layout (all little-endian):

    b"MFEAT2"  u32 n_rows  u8 n_views  n_rows x u8 labels
    per view: u8 name_len, name, u16 cols, u8 order (0 column-major, 1 row-major), u8 planes,
              u32 zlen, zlib( n_rows*cols u8 decimals d,
                              then `planes` byte planes (low byte first) of the zigzag mantissas )
    Each view picks the order that compresses better (row-major for the 0-6 pixel view).

`mfeat_split.bin` (2,000 u16 LE) is numpy's `np.random.RandomState(0).permutation(2000)`, the split of
the baselines in the data set's README (first 1,500 train, last 500 test); written when numpy imports.
"""
import gzip, sys, zlib, struct, os

VIEWS = ["pix", "fou", "fac", "kar", "zer", "mor"]


def decimal(tok):
    tok = tok.strip()
    exp = 0
    if "e" in tok.lower():
        tok, e = tok.lower().split("e")
        exp = int(e)
    neg = tok.startswith("-")
    tok = tok.lstrip("+-")
    if "." in tok:
        ip, fp = tok.split(".")
    else:
        ip, fp = tok, ""
    m = int((ip + fp) or "0")
    d = len(fp) - exp
    while d < 0:
        m *= 10
        d += 1
    return (-m if neg else m), d


def zigzag(m):
    return (m << 1) ^ -1 if m < 0 else m << 1


def main(src):
    labels = None
    body = bytearray()
    for v in VIEWS:
        with gzip.open(os.path.join(src, f"mfeat-{v}.csv.gz"), "rt") as f:
            lines = f.read().strip().split("\n")[1:]
        rows = [l.split(",") for l in lines]
        lab = [int(r[-1]) for r in rows]
        if labels is None:
            labels = lab
        assert labels == lab, v
        n, cols = len(rows), len(rows[0]) - 1
        dec = [[decimal(r[c]) for c in range(cols)] for r in rows]
        best = None
        for order in (0, 1):
            idx = [(r, c) for c in range(cols) for r in range(n)] if order == 0 else [
                (r, c) for r in range(n) for c in range(cols)]
            ds = bytes(dec[r][c][1] for r, c in idx)
            zz = [zigzag(dec[r][c][0]) for r, c in idx]
            planes = (max(zz).bit_length() + 7) // 8
            raw = ds + b"".join(bytes((z >> (8 * k)) & 255 for z in zz) for k in range(planes))
            comp = zlib.compress(raw, 9)
            if best is None or len(comp) < len(best[2]):
                best = (order, planes, comp)
        order, planes, comp = best
        body += bytes([len(v)]) + v.encode() + struct.pack("<HBBI", cols, order, planes, len(comp)) + comp
        print(f"{v}: {cols} cols, order {order}, {planes} planes, {len(comp)} bytes")
    out = b"MFEAT2" + struct.pack("<IB", len(labels), len(VIEWS)) + bytes(labels) + bytes(body)
    dst = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mfeat.bin")
    with open(dst, "wb") as f:
        f.write(out)
    print(f"{len(out)} bytes -> {dst}")
    try:
        import numpy as np
        perm = np.random.RandomState(0).permutation(len(labels))
        with open(os.path.join(os.path.dirname(dst), "mfeat_split.bin"), "wb") as f:
            f.write(struct.pack(f"<{len(perm)}H", *perm.tolist()))
    except ImportError:
        print("numpy not found: mfeat_split.bin left as it is")


if __name__ == "__main__":
    main(sys.argv[1])
