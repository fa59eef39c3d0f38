#!/usr/bin/env python3
"""Which representation of a trained `mib` encoder to probe, against the raw inputs.

Trains PRESET once per seed (`mib train`), evaluates each run's representations (`mib eval
--representation R`: posterior means, the encoder's last hidden layer, both) with the few-label
linear probe, the raw view-0 features with the same probe (`mib experiment`, a raw arm), and
prints a Markdown table: mean over training seeds +- their standard deviation (ddof = 1).

    scripts/representations.py --preset demo --seeds 1,2,3 --out runs/repr-demo
    scripts/representations.py --preset fast --seeds 1,2,3 --out runs/repr-fast

Runs and evaluations already in OUT are reused (delete a folder to redo it). Needs the `mib`
binary ($MIB_BIN, else target/release/mib).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mib_bin() -> str:
    env = os.environ.get("MIB_BIN")
    if env:
        return env
    for p in (ROOT / "target" / "release" / "mib", ROOT / "target" / "debug" / "mib"):
        if p.exists():
            return str(p)
    sys.exit("no mib binary: build it (cargo build --release -p mib-cli) or set MIB_BIN")


def run(args: list[str]) -> None:
    print("+ mib " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run([mib_bin(), *args], check=True)


def probe_means(path: Path) -> dict[int, float]:
    report = json.loads(path.read_text())
    return {p["labels_per_class"]: p["mean"] for p in report["linear_probe"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", required=True, help="preset name or config file")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--representations", default="mean,hidden,mean+hidden")
    ap.add_argument("--labels", default="1,2,5,10,100", help="labels per class")
    ap.add_argument("--repetitions", type=int, default=10, help="label draws per count")
    ap.add_argument("--iterations", type=int, help="override the preset's iterations")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        help="extra `mib train` flags, e.g. --set=--batch-size=256",
    )
    ap.add_argument("--no-raw", action="store_true", help="skip the raw-feature baseline")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    reprs = a.representations.split(",")
    a.out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[int, float]]] = {r: [] for r in reprs}
    walls: list[float] = []
    for s in seeds:
        d = a.out / f"seed{s}"
        if not (d / "model.safetensors").exists():
            extra = ["--iterations", str(a.iterations)] if a.iterations else []
            t = time.time()
            run(
                [
                    "train",
                    "-q",
                    "-c",
                    a.preset,
                    "--seed",
                    str(s),
                    "--out",
                    str(d),
                    "--force",
                    *extra,
                    *a.set,
                ]
            )
            walls.append(time.time() - t)
        for r in reprs:
            out = d / f"eval-{r}.json"
            if not out.exists():
                run(
                    [
                        "eval",
                        str(d),
                        "--representation",
                        r,
                        "--labels-per-class",
                        a.labels,
                        "--repetitions",
                        str(a.repetitions),
                        "--knn-k",
                        "0",
                        "--json",
                        "--out",
                        str(out),
                    ]
                )
            rows[r].append(probe_means(out))
    raw: dict[int, float] | None = None
    if not a.no_raw:
        spec = a.out / "raw.toml"
        spec.write_text(
            f'name = "raw"\nbudget = 1\nlabels_per_class = [{a.labels}]\n'
            f"repetitions = {a.repetitions}\n"
            f'[[arm]]\nname = "raw"\nraw_view = 0\ndata_from = "{a.preset}"\n'
        )
        if not (a.out / "raw" / "raw" / "eval.json").exists():
            run(["experiment", "-p", str(spec), "--out", str(a.out / "raw"), "--quiet"])
        raw = probe_means(a.out / "raw" / "raw" / "eval.json")
    counts = [int(k) for k in a.labels.split(",")]
    head = "| representation | " + " | ".join(
        f"{k} label{'s' if k > 1 else ''}/class" for k in counts
    )
    print(f"\n{a.preset}, {len(seeds)} training seeds ({a.out})\n")
    print(head + " |")
    print("|---" * (len(counts) + 1) + "|")
    for r in reprs:
        cells = []
        for k in counts:
            v = [row[k] for row in rows[r] if k in row]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            best = raw is not None and k in raw and statistics.mean(v) > raw[k]
            cell = f"{statistics.mean(v):.3f} ± {sd:.3f}"
            cells.append(f"**{cell}**" if best else cell)
        print(f"| {r} | " + " | ".join(cells) + " |")
    if raw is not None:
        print(
            "| raw view 0 | " + " | ".join(f"{raw.get(k, float('nan')):.3f}" for k in counts) + " |"
        )
    if walls:
        print(f"\ntraining wall time per run (this machine, now): {statistics.mean(walls):.0f} s")


if __name__ == "__main__":
    main()
