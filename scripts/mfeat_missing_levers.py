"""Levers tried against the gap of the fused MIB representation at 100 labels per class (issue 24):
mfeat, six views, 50 % of the (item, view) entries removed (the draw of scripts/mfeat_missing.py
for the seed), MIB trained for 3,000 iterations on every item. Each arm changes one thing in the
`demo` recipe; each is scored with the few-label probe (1 / 10 / 100 labels per class, 10 draws) on

- ``poe``: the PoE-fused posterior means;
- ``hcat``: each view encoder's last hidden layer, side by side (6 x 256), an item's missing views
  filled with that view's mean hidden layer over the training items that have it (mean imputation
  in the encoders' space instead of the raw one);
- ``poe+hcat``: both.

Arms: ``z32`` (the demo recipe), ``z128`` (a 128-wide representation), ``beta01`` (beta ramped to
0.1 instead of 1: less compression).

    for s in 0 1 2; do .venv/bin/python scripts/mfeat_missing_levers.py --seed $s; done
"""

from __future__ import annotations

import argparse
import json
import time

import mib
import numpy as np
from mfeat_missing import VIEWS, probe, remove_entries


def hidden_concat(est, xs, ps, fill=None):
    """The views' hidden layers side by side; a missing view's block is ``fill`` (default: the
    view's mean hidden layer over the items given that have it)."""
    hs = est.transform(xs, representation="hidden")
    if fill is None:
        fill = [h[p].mean(axis=0) for h, p in zip(hs, ps)]
    blocks = [np.where(p[:, None], h, m) for h, p, m in zip(hs, ps, fill)]
    return np.hstack(blocks).astype(np.float32), fill


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="z32,z128,beta01")
    ap.add_argument("--iterations", type=int, default=3000)
    a = ap.parse_args()
    d = mib.datasets.load_mfeat(VIEWS)
    (xtr, ytr), (xte, yte) = d["train"], d["test"]
    rng = np.random.default_rng(1000 + a.seed)
    ptr = remove_entries(len(ytr), len(VIEWS), 0.5, rng)
    pte = remove_entries(len(yte), len(VIEWS), 0.5, rng)
    for arm in a.arms.split(","):
        kw: dict = {}
        if arm.startswith("z"):
            kw["z_dim"] = int(arm[1:])
        elif arm == "beta01":
            kw["beta"] = {
                "kind": "exponential",
                "start": 1e-3,
                "end": 0.1,
                "start_iteration": a.iterations // 3,
                "n_iterations": a.iterations - a.iterations // 3,
                "base": 10.0,
            }
        else:
            raise SystemExit(f"unknown arm {arm!r}: z<N> or beta01")
        t0 = time.time()
        est = mib.MIB.from_preset("demo", iterations=a.iterations, seed=a.seed, n_jobs=2, **kw).fit(
            xtr, present=list(ptr)
        )
        row = {"arm": arm, "seed": a.seed, "train_s": round(time.time() - t0, 1)}
        ztr = est.transform(xtr, fuse="poe", present=list(ptr))
        zte = est.transform(xte, fuse="poe", present=list(pte))
        htr, fill = hidden_concat(est, xtr, ptr)
        hte, _ = hidden_concat(est, xte, pte, fill)
        row["poe"] = probe(ztr, ytr, zte, yte, a.seed)
        row["hcat"] = probe(htr, ytr, hte, yte, a.seed)
        row["poe+hcat"] = probe(np.hstack([ztr, htr]), ytr, np.hstack([zte, hte]), yte, a.seed)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
