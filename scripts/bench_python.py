#!/usr/bin/env python3
"""The Python package against the CLI, and what it costs: not a test, a measurement.

1. Training overhead: the same config and data through `mib.MIB.fit` (NumPy arrays) and through
   `mib train` (a subprocess), alternated for several rounds on this machine. Reports each side's
   training-loop time (the run's own `wall_s`) and Python's whole `fit()` call.
2. `transform` throughput on 60,000 x 784 inputs (float32 C-contiguous, and float64 converted).
3. Peak memory of `fit` on Fashion-MNIST from NumPy arrays (each in a fresh process): resident
   memory after loading the arrays, and the peak during fit, against the size of the data.

    .venv/bin/python scripts/bench_python.py [--rounds 3] [--iterations 3000] [--json]

Needs the package installed (scripts/test.sh does it), `mib` built (target/release/mib, or
$MIB_BIN) and, for 2 and 3, Fashion-MNIST (Debian's dataset-fashion-mnist).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import mib

ROOT = Path(__file__).resolve().parents[1]


def cli_path() -> str:
    for p in (os.environ.get("MIB_BIN"), ROOT / "target/release/mib"):
        if p and Path(p).exists():
            return str(p)
    sys.exit("build the CLI first: cargo build --release -p mib-cli (or set MIB_BIN)")


def overhead(rounds: int, iterations: int, threads: int) -> dict:
    est = mib.MIB.from_preset("demo", iterations=iterations, n_jobs=threads)
    data = mib.datasets.load_mfeat(views=["pix", "fou"])
    (x1, x2), _ = data["train"]
    cfg = est.get_config()
    cfg["data"].update({"dataset": "mfeat", "views": ["pix", "fou"]})
    cfg["eval"]["every"] = 0  # Python's fit has no test split: no probe on either side
    cfg["train"]["checkpoint_every"] = cfg["train"]["iterations"]
    cli = cli_path()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "bench.toml"
        conf.write_text(mib.config_to_toml(cfg))
        for r in range(rounds):
            out = Path(tmp) / f"run{r}"
            t = time.perf_counter()
            subprocess.run(
                [cli, "train", "--config", str(conf), "--out", str(out), "--quiet"],
                check=True,
                capture_output=True,
            )
            cli_total = time.perf_counter() - t
            cli_loop = mib._native.read_metrics(str(out / "metrics.jsonl"))[-1]["wall_s"]
            t = time.perf_counter()
            fitted = mib.MIB.from_config(cfg, n_jobs=threads).fit([x1, x2])
            py_fit = time.perf_counter() - t
            rows.append(
                dict(
                    cli_loop_s=cli_loop,
                    cli_process_s=cli_total,
                    py_loop_s=fitted.train_wall_s_,
                    py_fit_s=py_fit,
                )
            )
            print(f"round {r}: {rows[-1]}", file=sys.stderr)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return dict(
        config="demo preset (mfeat pix/fou, 256-256 encoders, separable InfoNCE, batch 128)",
        iterations=iterations,
        threads=threads,
        rounds=rows,
        median=med,
        loop_overhead=med["py_loop_s"] / med["cli_loop_s"] - 1,
        fit_call_overhead=med["py_fit_s"] / med["cli_loop_s"] - 1,
        ratios=[r["py_loop_s"] / r["cli_loop_s"] - 1 for r in rows],
    )


def throughput(threads: int) -> dict:
    est = mib.MIB(iterations=1, batch_size=64, n_jobs=threads)  # the reference 784-1024-1024-64
    rng = np.random.default_rng(0)
    x = rng.random((60_000, 784), dtype=np.float32)
    est.fit([x[:512], x[:512]])
    out = {}
    for name, arr in (("float32", x), ("float64", x.astype(np.float64))):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            z = est.transform_view(arr)
            times.append(time.perf_counter() - t)
        out[name] = dict(best_s=min(times), rows_per_s=60_000 / min(times), shape=list(z.shape))
    return dict(threads=threads, **out)


MEMORY_CHILD = r"""
import json, sys, numpy as np, mib
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) * 1024
d = mib.datasets.load_fashion_mnist()
(x,), _ = d["train"]
x = x.reshape(-1, 28, 28)
if sys.argv[1] == "float64":
    x = x.astype(np.float64)
del d
before = rss()
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (VmHWM) to the current RSS
est = mib.MIB.from_preset("fast", iterations=int(sys.argv[2]), n_jobs=2)
est.fit(x)
peak = hwm()
print(json.dumps(dict(dtype=sys.argv[1], data_bytes=x.nbytes, rss_before_fit=before, peak_rss=peak)))
"""


def memory(iterations: int) -> list[dict]:
    out = []
    for dtype in ("float32", "float64"):
        p = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, dtype, str(iterations)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(p.stdout)
        r["peak_over_loaded"] = r["peak_rss"] - r["rss_before_fit"]
        r["float32_copy_bytes"] = r["data_bytes"] // (2 if dtype == "float64" else 1)
        out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-iterations", type=int, default=200)
    ap.add_argument("--skip", nargs="*", default=[], choices=["overhead", "throughput", "memory"])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = {}
    if "overhead" not in a.skip:
        res["overhead"] = overhead(a.rounds, a.iterations, a.threads)
    if "throughput" not in a.skip:
        res["throughput"] = throughput(a.threads)
    if "memory" not in a.skip:
        res["memory"] = memory(a.memory_iterations)
    if a.json:
        print(json.dumps(res, indent=2))
        return
    if "overhead" in res:
        o = res["overhead"]
        m = o["median"]
        print(
            f"training, {o['iterations']} iterations, {o['threads']} threads, {len(o['rounds'])} rounds (medians):"
        )
        print(
            f"  mib train loop {m['cli_loop_s']:.2f} s (process {m['cli_process_s']:.2f} s); "
            f"MIB.fit loop {m['py_loop_s']:.2f} s, whole fit() {m['py_fit_s']:.2f} s"
        )
        print(
            f"  overhead: loop {100 * o['loop_overhead']:+.1f} % (rounds: "
            + ", ".join(f"{100 * r:+.1f} %" for r in o["ratios"])
            + f"), whole fit() call {100 * o['fit_call_overhead']:+.1f} %"
        )
    if "throughput" in res:
        t = res["throughput"]
        for k in ("float32", "float64"):
            print(
                f"transform 60,000 x 784 ({k}, {t['threads']} threads): {t[k]['best_s']:.3f} s, "
                f"{t[k]['rows_per_s']:,.0f} rows/s"
            )
    if "memory" in res:
        for r in res["memory"]:
            print(
                f"fit on Fashion-MNIST from {r['dtype']} arrays ({r['data_bytes'] / 2**20:.0f} MiB): "
                f"RSS {r['rss_before_fit'] / 2**20:.0f} MiB loaded, peak {r['peak_rss'] / 2**20:.0f} MiB "
                f"(+{r['peak_over_loaded'] / 2**20:.0f} MiB; a float32 copy of the data is "
                f"{r['float32_copy_bytes'] / 2**20:.0f} MiB)"
            )


if __name__ == "__main__":
    main()
