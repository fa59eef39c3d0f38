"""torch-mist's MIB and mib's MIB side by side: same arrays, same machine, back to back, each
tool in its own subprocess (so peak memory is each tool's own), scored by the same probe
(``mib.eval.linear_probe``: 1 / 10 / 100 labels per class, 10 balanced draws).

Installs nothing. Its environment (PyPI only; torch pulls its CUDA wheels, ~5.7 GB; torch-mist
imports pandas without declaring it)::

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch torch-mist "numpy<2" "pandas<3" scikit-learn tqdm
    /work/venv-torch/bin/pip install ./python        # mib itself (or its wheel)

Run (``uptime`` is printed before, between and after the runs)::

    /work/venv-torch/bin/python scripts/compare_torch_mist.py --datasets mfeat --rounds 3
    /work/venv-torch/bin/python scripts/compare_torch_mist.py --datasets fashion-mnist --rounds 1 \\
        --arms tm-default,mib-tm-arch,mib-demo,mib-tm-arch-fresh,mib-demo-fresh
    /work/venv-torch/bin/python scripts/compare_torch_mist.py --arms tm-default,mib-default \\
        --iterations 1000 --rounds 1                 # a quick look

Data
    mfeat: the embedded UCI Multiple Features digits (1,500 train / 500 test), pixel view (240)
    against Fourier view (76), both standardised with the training statistics, and the same
    arrays to both tools (torch-mist's own ``normalize_inputs`` then leaves them as they are).
    fashion-mnist: 60,000 / 10,000 images from ``/usr/share/datasets/fashion-mnist``. torch-mist's
    ``fit(X, Y)`` takes fixed paired arrays, so it gets one fixed pair of augmented views per
    image (mib's reference augmentation, ``mib.datasets.augment``, seeds 1 and 2); mib is run on
    the same fixed pairs and, as it trains by default, on fresh augmentations at every step.
    Both are probed on the clean images.

Arms (``--arms``; each is one recipe of one tool, see ``ARMS``): the defaults of each tool for the
same 5,000 iterations and batch 64, torch-mist's architecture given to mib, and the recipes of a
small search (``--search`` runs all the search trials, ``search_arms``; ``--arms`` may name them
too, e.g. to repeat the best with ``--first-round 1``). Timing: ``fit`` only, after a warm-up
that imports and initialises each library (torch's first optimizer builds torch._dynamo, seconds);
steps/s = iterations run / fit time; peak memory is the subprocess's maximum RSS (``wait4``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
COUNTS = [1, 10, 100]
OMP_PASSIVE = True

# Each arm: tool, dataset kinds it runs on, and the recipe. "iterations": None = --iterations.
ARMS: dict[str, dict[str, Any]] = {
    # torch-mist's defaults: MIB(n_dim, beta=0.01): encoder x-128-2n (a conditional affine of a
    # standard normal), separable InfoNCE critic 128-64-64 per side, Adam 5e-4, batch 64, 5,000
    # iterations, 10 % held out for early stopping (patience 2 % of the epochs).
    "tm-default": dict(tool="torch-mist", n_dim=64, beta=0.01, train={}),
    # the same, run for all 5,000 iterations (no early stopping): the same-iterations speed
    "tm-noes": dict(tool="torch-mist", n_dim=64, beta=0.01, train=dict(early_stopping=False)),
    # mib's defaults: MIB(): the CPU-sized recipe (the demo preset's: encoders x-256-256-2x32,
    # separable cosine/0.5 critic with InfoNCE, Adam 1e-3, beta 1e-3 ramped to 1 from 1/6 to 2/3
    # of the run), at the same batch 64 and iterations as torch-mist.
    "mib-default": dict(tool="mib", params={}),
    # the paper's MNIST recipe (MIB.from_preset("mib"): encoders x-1024-1024-2x64, MLP critic
    # 1024-1024 on [z1, z2], Jensen-Shannon bound, Adam 1e-4, beta 1e-3), batch 64; mib's
    # default before 2026-12-02.
    "mib-paper": dict(
        tool="mib",
        params=dict(
            z_dim=64,
            encoder_hidden=[1024, 1024],
            critic="mlp",
            estimator="jsd",
            temperature=0.2,
            lr=1e-4,
            beta=1e-3,
        ),
    ),
    # torch-mist's network sizes in mib (encoder x-128-2x64, separable InfoNCE critic; mib's
    # separable critic is a cosine similarity / temperature over a projection head 128-64).
    "mib-tm-arch": dict(
        tool="mib",
        params=dict(
            encoder_hidden=[128],
            critic="separable",
            projection=[128, 64],
            estimator="infonce",
            lr=5e-4,
            beta=0.01,
            temperature=1.0,
        ),
    ),
    # the repository's demo preset (configs/demo.toml, chosen in docs/demo.md), its beta ramp
    # scaled to the run: encoders x-256-256-2x32, separable InfoNCE critic at temperature 0.5
    "mib-demo": dict(
        tool="mib",
        params=dict(
            encoder_hidden=[256, 256],
            z_dim=32,
            critic="separable",
            temperature=0.5,
            estimator="infonce",
            lr=1e-3,
            beta={"kind": "exponential", "start": 1e-3, "end": 1.0, "share": [1 / 6, 1 / 2]},
        ),
    ),
}


def search_arms(kind: str) -> dict[str, dict[str, Any]]:
    """The search for each tool's best recipe (every trial is kept in the output): torch-mist's
    beta, representation size and learning rate, early stopping off; mib's beta ramp end,
    temperature and representation size around its defaults."""
    arms: dict[str, dict[str, Any]] = {}
    for beta, n_dim, lr in ((1e-3, 64, 5e-4), (0.1, 64, 5e-4), (0.01, 32, 5e-4), (0.01, 64, 1e-3)):
        train: dict[str, Any] = dict(early_stopping=False)
        if lr != 5e-4:
            train["optimizer_params"] = {"lr": lr}
        arms[f"tm-b{beta:g}-z{n_dim}-lr{lr:g}-noes"] = dict(
            tool="torch-mist", n_dim=n_dim, beta=beta, train=train
        )
    arms["mib-beta1e-3to0.1"] = dict(tool="mib", params={"beta": ramp(1e-3, 0.1)})
    arms["mib-beta1e-3"] = dict(tool="mib", params={"beta": 1e-3})
    arms["mib-t0.2"] = dict(tool="mib", params={"temperature": 0.2})
    arms["mib-z64"] = dict(tool="mib", params={"z_dim": 64})
    return arms


def ramp(start: float, end: float) -> dict[str, Any]:
    """The demo's exponential beta schedule, as a share of the run (scaled to --iterations)."""
    return {"kind": "exponential", "start": start, "end": end, "share": [1 / 6, 1 / 2]}


# ---- data ----------------------------------------------------------------------------------------


def prepare(kind: str, out: Path, fm_train: int | None) -> Path:
    """Writes the arrays both tools read to ``out/data-KIND.npz`` (once)."""
    import mib

    path = out / f"data-{kind}.npz"
    if path.exists():
        return path
    if kind == "mfeat":
        d = mib.datasets.load_mfeat(views=["pix", "fou"])
        (x1, x2), y = d["train"]
        (t1, t2), yt = d["test"]
        mu, sd = x1.mean(0), x1.std(0)
        sd[sd < 1e-6] = 1.0
        x1, t1 = (x1 - mu) / sd, (t1 - mu) / sd  # fou is standardised by the loader already
        arrays = dict(x1=x1, x2=x2, y=y, t1=t1, yt=yt)
    else:
        d = mib.datasets.load_fashion_mnist()
        (x,), y = d["train"]
        (t,), yt = d["test"]
        if fm_train:
            x, y = x[:fm_train], y[:fm_train]
        img = x.reshape(-1, 28, 28)
        a = mib.datasets.augment(img, "mnist", seed=1).reshape(len(x), -1)
        b = mib.datasets.augment(img, "mnist", seed=2).reshape(len(x), -1)
        arrays = dict(x1=a, x2=b, clean=x, y=y, t1=t, yt=yt)
    np.savez(path, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
    return path


# ---- workers (one subprocess per tool and run) ---------------------------------------------------


def worker(arm: dict[str, Any], data: Path, iterations: int, threads: int, seed: int) -> None:
    d = dict(np.load(data))
    fresh = arm.get("fresh", False)
    probe_train = d.get("clean", d["x1"])
    res: dict[str, Any] = {}
    if arm["tool"] == "torch-mist":
        import torch

        torch.set_num_threads(threads)
        from torch_mist.decomposition import MIB

        # warm-up: torch's first optimizer imports torch._dynamo (seconds), paid once per process
        p = torch.nn.Parameter(torch.zeros(2))
        torch.optim.Adam([p]).step()
        torch.manual_seed(seed)
        np.random.seed(seed)
        est = MIB(arm["n_dim"], beta=arm["beta"])
        t0 = time.perf_counter()
        est.fit(d["x1"], d["x2"], max_iterations=iterations, batch_size=64, **arm["train"])
        res["fit_s"] = time.perf_counter() - t0
        log = est.train_log
        res["iterations"] = int(log[log.split == "train"].iteration.max())
        z_train, z_test = est.transform(probe_train), est.transform(d["t1"])
    else:
        import mib

        params = dict(arm["params"])
        beta = params.get("beta")
        if isinstance(beta, dict) and "share" in beta:
            a, b = beta.pop("share")
            params["beta"] = {
                **beta,
                "start_iteration": int(a * iterations),
                "n_iterations": int(b * iterations),
            }
        est = mib.MIB(
            **{"batch_size": 64, **params},
            iterations=iterations,
            n_jobs=threads,
            seed=seed,
            augment="mnist" if fresh else None,
            image_shape=(28, 28) if fresh else None,
        )
        t0 = time.perf_counter()
        est.fit(d["clean"] if fresh else [d["x1"], d["x2"]])
        res["fit_s"] = time.perf_counter() - t0
        res["iterations"] = int(est.n_iter_)
        z_train, z_test = est.transform_view(probe_train), est.transform_view(d["t1"])
    np.savez(data.parent / f"z-{os.getpid()}.npz", z_train=z_train, z_test=z_test)
    print("RESULT " + json.dumps(res), flush=True)


def run_arm(
    name: str, arm: dict[str, Any], data: Path, iterations: int, threads: int, seed: int
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(HERE),
        "--worker",
        json.dumps(arm),
        "--data",
        str(data),
        "--iterations",
        str(iterations),
        "--threads",
        str(threads),
        "--seed",
        str(seed),
    ]
    env = dict(os.environ)
    if arm["tool"] == "torch-mist" and OMP_PASSIVE:
        # On a shared machine OpenMP's spinning barriers turn torch's many small ops into
        # scheduler waits (2 threads: 2 it/s instead of 15 here): let torch's threads sleep.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    out, err = p.stdout.read(), p.stderr.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{name}: worker failed ({p.returncode}):\n{err[-3000:]}")
    res = json.loads([ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1][7:])
    res.update(process_s=wall, peak_rss_mib=usage.ru_maxrss / 1024)
    z = np.load(data.parent / f"z-{p.pid}.npz")
    os.remove(data.parent / f"z-{p.pid}.npz")
    import mib

    d = np.load(data)
    probe = mib.eval.linear_probe(
        z["z_train"], d["y"], z["z_test"], d["yt"], labels_per_class=COUNTS, repetitions=10
    )
    res["accuracy"] = {str(r["labels_per_class"]): r["mean"] for r in probe}
    res["steps_per_s"] = res["iterations"] / res["fit_s"]
    return res


def table(log: Path) -> None:
    """Medians over rounds of each (dataset, arm) in ``log``, as a Markdown table."""
    rows = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["arm"]), []).append(r)
    print(
        "| data | arm | rounds | iterations | fit (s) | steps/s | peak RSS (MiB) | "
        + " | ".join(f"{k} label/cl" for k in COUNTS)
        + " | load |"
    )
    print("|" + "---|" * (8 + len(COUNTS)))
    for (kind, arm), g in groups.items():
        med = lambda key: float(np.median([r[key] for r in g]))  # noqa: E731
        acc = [f"{100 * np.mean([r['accuracy'][str(k)] for r in g]):.1f}" for k in COUNTS]
        print(
            f"| {kind} | {arm} | {len(g)} | {med('iterations'):.0f} | {med('fit_s'):.1f} | "
            f"{med('steps_per_s'):.1f} | {med('peak_rss_mib'):.0f} | "
            + " | ".join(acc)
            + f" | {min(r['load'] for r in g):.1f}-{max(r['load'] for r in g):.1f} |"
        )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="mfeat")
    ap.add_argument("--arms", default="tm-default,mib-default,mib-tm-arch")
    ap.add_argument("--search", action="store_true", help="run the search trials instead")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--first-round", type=int, default=0, help="number (and seed) of the first round"
    )
    ap.add_argument("--iterations", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fm-train", type=int, default=None, help="first N Fashion-MNIST images")
    ap.add_argument("--out", type=Path, default=Path("runs/compare-torch-mist"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--table", action="store_true", help="tabulate OUT/results.jsonl and exit")
    ap.add_argument(
        "--omp-active",
        action="store_true",
        help="leave OpenMP's default (spinning) wait policy for torch",
    )
    args = ap.parse_args()
    global OMP_PASSIVE
    OMP_PASSIVE = not args.omp_active
    if args.table:
        table(args.out / "results.jsonl")
        return
    if args.worker:
        worker(json.loads(args.worker), args.data, args.iterations, args.threads, args.seed)
        return
    for kind in args.datasets.split(","):
        if kind not in ("mfeat", "fashion-mnist"):
            ap.error(f"--datasets: unknown dataset {kind!r}; known: mfeat, fashion-mnist")
        known = {**ARMS, **search_arms(kind)}
        for a in [] if args.search else args.arms.split(","):
            if a.removesuffix("-fresh") not in known:
                ap.error(f"--arms: unknown arm {a!r}; known: {', '.join(sorted(known))}")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "results.jsonl"
    print(f"load before: {uptime()}")
    for kind in args.datasets.split(","):
        data = prepare(kind, args.out, args.fm_train)
        if args.search:
            arms = search_arms(kind)
        else:
            # NAME-fresh: mib's arm NAME on fresh augmentations at every step (Fashion-MNIST)
            known = {**ARMS, **search_arms(kind)}
            arms = {
                a: {**known[a.removesuffix("-fresh")], "fresh": a.endswith("-fresh")}
                for a in args.arms.split(",")
            }
        for r in range(args.first_round, args.first_round + args.rounds):
            # alternate the order of the tools from round to round
            names = list(arms) if r % 2 == 0 else list(reversed(arms))
            for name in names:
                res = run_arm(name, arms[name], data, args.iterations, args.threads, seed=r)
                row = dict(dataset=kind, arm=name, round=r, load=os.getloadavg()[0], **res)
                with open(log, "a") as f:
                    f.write(json.dumps(row) + "\n")
                acc = " / ".join(f"{100 * res['accuracy'][str(k)]:.1f}" for k in COUNTS)
                print(
                    f"{kind:<14} {name:<26} r{r} {res['iterations']:>5} it "
                    f"{res['fit_s']:8.1f} s {res['steps_per_s']:8.1f} it/s "
                    f"{res['peak_rss_mib']:7.0f} MiB  acc {acc}  load {row['load']:.1f}",
                    flush=True,
                )
            print(f"load: {uptime()}")
    print(f"load after: {uptime()}")
    print(f"rows appended to {log}")
    table(log)


if __name__ == "__main__":
    main()
