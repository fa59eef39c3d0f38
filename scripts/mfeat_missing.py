"""mfeat, all six views, with a share of the (item, view) entries removed at random (every item
keeps at least one view): the few-label linear probe (1 / 10 / 100 labels per class) of

- MIB trained on every item with the views it has, fused by PoE (``transform(fuse="poe")``);
- (a) MIB trained only on the complete items (all six views), fused by PoE the same way;
- (b) mean imputation (training column means) of the raw, standardised views, concatenated.

Both splits lose the same share of entries (the test items are embedded from the views they have).

    .venv/bin/python scripts/mfeat_missing.py [--rates 0,0.25,0.5,0.75] [--seeds 0,1,2]
        [--iterations 600] [--out docs/results/mfeat_missing.json]

The recipe is the demo preset's (one 256-256 -> 32 encoder per view, separable critic + InfoNCE,
batch 128, Adam 1e-3, beta 1e-3 -> 1) with ``iterations`` iterations, on 2 threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import mib
import numpy as np
from mib.eval import linear_probe

VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")


def remove_entries(n: int, k: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A presence mask [k, n]: each entry removed with probability ``rate``; an item left with no
    view gets one back at random."""
    present = rng.random((k, n)) >= rate
    empty = np.flatnonzero(~present.any(axis=0))
    present[rng.integers(0, k, size=len(empty)), empty] = True
    return present


def probe(ztr, ytr, zte, yte, seed):
    r = linear_probe(ztr, ytr, zte, yte, labels_per_class=(1, 10, 100), repetitions=10, seed=seed)
    return {str(p["labels_per_class"]): round(100 * p["mean"], 2) for p in r}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="0,0.25,0.5,0.75")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--out", default="docs/results/mfeat_missing.json")
    a = ap.parse_args()
    d = mib.datasets.load_mfeat(VIEWS)
    (xtr, ytr), (xte, yte) = d["train"], d["test"]
    ntr, nte, k = len(ytr), len(yte), len(VIEWS)
    results = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        for rate in [float(r) for r in a.rates.split(",")]:
            rng = np.random.default_rng(1000 + seed)
            ptr = remove_entries(ntr, k, rate, rng)
            pte = remove_entries(nte, k, rate, rng)
            row = {
                "seed": seed,
                "rate": rate,
                "removed_train": round(float(1 - ptr.mean()), 4),
                "complete_train_items": int(ptr.all(axis=0).sum()),
            }

            def fit(views, present, seed=seed):
                est = mib.MIB.from_preset("demo", iterations=a.iterations, seed=seed, n_jobs=2)
                return est.fit(views, present=present)

            t0 = time.time()
            est = fit(xtr, list(ptr))
            row["mib_train_s"] = round(time.time() - t0, 1)
            ztr = est.transform(xtr, fuse="poe", present=list(ptr))
            zte = est.transform(xte, fuse="poe", present=list(pte))
            row["mib_poe"] = probe(ztr, ytr, zte, yte, seed)
            row["mib_mean"] = probe(
                est.transform(xtr, fuse="mean", present=list(ptr)),
                ytr,
                est.transform(xte, fuse="mean", present=list(pte)),
                yte,
                seed,
            )
            # (a) only the complete items
            full = np.flatnonzero(ptr.all(axis=0))
            if len(full) == ntr:
                row["complete_only_poe"] = row["mib_poe"]  # the same items: the same model
            elif len(full) >= 128:
                est_c = fit([x[full] for x in xtr], None)
                row["complete_only_poe"] = probe(
                    est_c.transform(xtr, fuse="poe", present=list(ptr)),
                    ytr,
                    est_c.transform(xte, fuse="poe", present=list(pte)),
                    yte,
                    seed,
                )
            else:
                row["complete_only_poe"] = f"n/a: {len(full)} complete items (< one batch of 128)"
            # (b) mean imputation + raw features (the views are standardised, pix in [0, 1])
            means = [np.array([x[p].mean(axis=0)]) for x, p in zip(xtr, ptr)]
            imp = lambda xs, ps, means=means: np.hstack(
                [np.where(p[:, None], x, m) for x, p, m in zip(xs, ps, means)]
            ).astype(np.float32)
            row["impute_raw"] = probe(imp(xtr, ptr), ytr, imp(xte, pte), yte, seed)
            print(json.dumps(row), flush=True)
            results.append(row)
    with open(a.out, "w") as f:
        json.dump({"command": " ".join(sys.argv), "results": results}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
