"""mfeat, all six views, with a share of the (item, view) entries removed at random (every item
keeps at least one view): the few-label linear probe (1 / 10 / 100 labels per class) of

- MIB trained on every item with the views it has, fused by PoE (``transform(fuse="poe")``);
- (a) MIB trained only on the complete items (all six views), fused by PoE the same way;
- MIB fused by PoE, side by side with the mean over the present views of each view encoder's last
  hidden layer (``mean+hidden``, fused: computed here from ``transform(representation="hidden")``);
- (b) mean imputation (training column means) of the raw, standardised views, concatenated;
- (c) weighted GCCA with missing views (Benton et al. 2016, "Learning multiview embeddings of
  twitter users": each view's rows enter the GCCA eigenproblem only where the item has the view;
  an item's representation is the mean of the projections of the views it has), 32 dimensions.
  cca-zoo (the CCA family of docs/cca.md) has no model that takes missing views: its GCCA and
  MCCA need every view of every item; this masked GCCA is written out below in numpy.

Both splits lose the same share of entries (the test items are embedded from the views they have).

    .venv/bin/python scripts/mfeat_missing.py [--rates 0,0.25,0.5,0.75] [--seeds 0,1,2]
        [--iterations 600] [--out docs/results/mfeat_missing.json] [--no-complete-only]

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


def masked_gcca(xs, ps, k=32, ridge=10.0):
    """Weighted GCCA with missing views (Benton et al. 2016): the shared G holds the top ``k``
    eigenvectors of sum_j K_j X_j (X_j' K_j X_j + ridge I)^-1 X_j' K_j (K_j: view j's presence,
    X_j centred on its present rows); view j's map is U_j = (X_j' K_j X_j + ridge I)^-1 X_j' K_j G.
    Returns a function that embeds items as the mean of the present views' projections."""
    n = len(ps[0])
    M = np.zeros((n, n))
    maps, centres = [], []
    for x, p in zip(xs, ps):
        mu = x[p].mean(axis=0)
        xc = np.where(p[:, None], x - mu, 0.0).astype(np.float64)
        c = xc.T @ xc + ridge * np.eye(x.shape[1])
        ci_xt = np.linalg.solve(c, xc.T)  # d x n
        M += xc @ ci_xt
        maps.append(ci_xt)
        centres.append(mu)
    w, v = np.linalg.eigh(M)
    g = v[:, np.argsort(w)[::-1][:k]]
    us = [ci_xt @ g for ci_xt in maps]

    def embed(xs2, ps2):
        z = np.zeros((len(ps2[0]), k))
        for x, p, mu, u in zip(xs2, ps2, centres, us):
            z += np.where(p[:, None], (x - mu) @ u, 0.0)
        return (z / np.sum(ps2, axis=0)[:, None]).astype(np.float32)

    return embed


def fused_hidden(est, xs, ps):
    """The mean over the views an item has of each view encoder's last hidden layer."""
    hs = est.transform(xs, representation="hidden")
    acc = sum(np.where(p[:, None], h, 0.0) for h, p in zip(hs, ps))
    return (acc / np.sum(ps, axis=0)[:, None]).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="0,0.25,0.5,0.75")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--out", default="docs/results/mfeat_missing.json")
    ap.add_argument("--no-complete-only", action="store_true", help="skip arm (a)")
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
            # PoE means with the views' mean hidden layer (mean+hidden, fused)
            mh = lambda xs, ps, est=est: np.hstack(
                [est.transform(xs, fuse="poe", present=list(ps)), fused_hidden(est, xs, ps)]
            )
            row["mib_poe_hidden"] = probe(mh(xtr, ptr), ytr, mh(xte, pte), yte, seed)
            # (c) masked GCCA
            t0 = time.time()
            emb = masked_gcca(xtr, ptr)
            row["gcca_s"] = round(time.time() - t0, 1)
            row["masked_gcca"] = probe(emb(xtr, ptr), ytr, emb(xte, pte), yte, seed)
            # (a) only the complete items (a batch of at most 128 of them)
            full = np.flatnonzero(ptr.all(axis=0))
            if a.no_complete_only:
                pass
            elif len(full) == ntr:
                row["complete_only_poe"] = row["mib_poe"]  # the same items: the same model
            elif len(full) >= 16:
                est_c = mib.MIB.from_preset(
                    "demo",
                    iterations=a.iterations,
                    seed=seed,
                    n_jobs=2,
                    batch_size=min(128, len(full)),
                ).fit([x[full] for x in xtr])
                row["complete_only_poe"] = probe(
                    est_c.transform(xtr, fuse="poe", present=list(ptr)),
                    ytr,
                    est_c.transform(xte, fuse="poe", present=list(pte)),
                    yte,
                    seed,
                )
            else:
                row["complete_only_poe"] = f"n/a: {len(full)} complete items (< 16)"
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
