#!/usr/bin/env python3
"""Benchmark of the few-label linear-probe protocol: mib (Rust) against scikit-learn.

Protocol (issue 5): Gaussian blobs, 64-d, 10 classes, a pool of 2,000 training items per class and
10,000 test items; labels per class 1, 2, 5, 10, 100, 1000; 20 balanced draws each; MinMaxScaler fitted on
the labelled subset; multinomial LogisticRegression(C=10). scikit-learn is run with L-BFGS (exact,
tol 1e-4, max_iter 1000) and with SAGA at tol 0.1 (what the reference evaluation uses), one fit at a
time, in this process. Wall and CPU times are both printed: on a loaded machine the CPU-time ratio is
the steadier one. mib runs `cargo run --release -p mib --example bench_probe` on the same data
(written to a temporary folder as raw little-endian files). Prints both accuracies per count, both
times and the speed ratios.

    /path/to/python scripts/bench_probe_sklearn.py [--reps 20] [--threads N] [--skip-saga]

Needs numpy and scikit-learn; cargo on PATH. Run from the repository root.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

LPC = [1, 2, 5, 10, 100, 1000]


def make_data(seed=0, d=64, k=10, per_class_train=2000, n_test=10000):
    rng = np.random.RandomState(seed)
    centers = 0.35 * rng.randn(k, d)
    ytr = np.tile(np.arange(k), per_class_train)
    yte = np.tile(np.arange(k), n_test // k)
    xtr = centers[ytr] + rng.randn(len(ytr), d)
    xte = centers[yte] + rng.randn(len(yte), d)
    return (
        xtr.astype(np.float32),
        ytr.astype(np.uint32),
        xte.astype(np.float32),
        yte.astype(np.uint32),
    )


def sklearn_protocol(xtr, ytr, xte, yte, reps, solver):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import MinMaxScaler

    kw = (
        dict(solver="lbfgs", C=10, tol=1e-4, max_iter=1000)
        if solver == "lbfgs"
        else dict(solver="saga", C=10, tol=0.1, max_iter=1000)
    )
    rng = np.random.RandomState(1)
    by_class = [np.flatnonzero(ytr == c) for c in range(10)]
    out = []
    c0 = time.process_time()
    t0 = time.perf_counter()
    for k in LPC:
        accs = []
        for _ in range(reps):
            idx = np.concatenate([rng.choice(ix, k, replace=False) for ix in by_class])
            sc = MinMaxScaler().fit(xtr[idx])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m = LogisticRegression(**kw).fit(sc.transform(xtr[idx]), ytr[idx])
            accs.append(m.score(sc.transform(xte), yte))
        out.append(dict(labels_per_class=k, mean=float(np.mean(accs)), std=float(np.std(accs))))
    return time.perf_counter() - t0, time.process_time() - c0, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument(
        "--threads", type=int, default=0, help="RAYON_NUM_THREADS for mib (0: all cores)"
    )
    ap.add_argument("--skip-saga", action="store_true")
    ap.add_argument(
        "--lbfgs-reps",
        type=int,
        default=None,
        help="repetitions for scikit-learn L-BFGS (default: --reps); its time is scaled to --reps",
    )
    a = ap.parse_args()
    xtr, ytr, xte, yte = make_data()
    with tempfile.TemporaryDirectory() as tmp:
        for name, arr in [
            ("x_train.f32", xtr),
            ("y_train.u32", ytr),
            ("x_test.f32", xte),
            ("y_test.u32", yte),
        ]:
            arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(tmp, name))
        json.dump({"d": 64, "n_classes": 10}, open(os.path.join(tmp, "meta.json"), "w"))
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "mib", "--example", "bench_probe"],
            check=True,
        )
        env = dict(os.environ)
        if a.threads:
            env["RAYON_NUM_THREADS"] = str(a.threads)
        target = os.environ.get("CARGO_TARGET_DIR", "target")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = subprocess.run(
            [
                os.path.join(target, "release", "examples", "bench_probe"),
                tmp,
                "--reps",
                str(a.reps),
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        mib = json.loads(res.stdout.strip().splitlines()[-1])
        mib["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"data: {len(ytr)} train pool, {len(yte)} test, 64-d, 10 classes; {a.reps} repetitions per count"
    )
    print(
        f"mib ({mib['threads']} threads): {mib['seconds']:.2f} s wall, {mib['cpu_seconds']:.2f} s CPU"
    )
    lbfgs_reps = a.lbfgs_reps or a.reps
    runs = [("lbfgs", lbfgs_reps)] + ([] if a.skip_saga else [("saga tol=0.1", a.reps)])
    results = {}
    for label, reps in runs:
        secs, cpu, acc = sklearn_protocol(
            xtr, ytr, xte, yte, reps, "lbfgs" if label == "lbfgs" else "saga"
        )
        note = ""
        if reps != a.reps:
            note = f" (measured {secs:.2f} s on {reps} repetitions, scaled to {a.reps})"
            secs *= a.reps / reps
            cpu *= a.reps / reps
        results[label] = (secs, acc)
        print(
            f"scikit-learn {label}: {secs:.2f} s wall, {cpu:.2f} s CPU{note}  -> mib is "
            f"{secs / mib['seconds']:.1f}x faster (wall), {cpu / mib['cpu_seconds']:.1f}x (CPU)"
        )
    head = "labels/class   mib acc (std)    " + "   ".join(f"{l:>14} acc (std)" for l in results)
    print(head)
    for i, k in enumerate(LPC):
        m = mib["linear_probe"][i]
        row = f"{k:>12}   {100 * m['mean']:6.2f} ({100 * m['std']:4.2f})  "
        for label in results:
            s = results[label][1][i]
            row += f"   {100 * s['mean']:14.2f} ({100 * s['std']:4.2f})"
        print(row)
    print(
        json.dumps(
            {
                "mib": mib,
                "sklearn": {l: {"seconds": v[0], "linear_probe": v[1]} for l, v in results.items()},
            }
        ),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
