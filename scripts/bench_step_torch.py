#!/usr/bin/env python3
"""The reference MIB training step in PyTorch (CPU), timed the same way as `mib bench step`.

Shared encoder 784-1024-1024-2x64 (softplus scale + 1e-7), MLP critic 128-1024-1024-1 on [z1, z2]
with one shifted-batch negative, JSD surrogate, Monte-Carlo symmetrised KL, Adam lr 1e-4: the
formulas of github.com/mfederici/Multi-View-Information-Bottleneck (training/mib.py).

    python scripts/bench_step_torch.py --batch 64 --threads 2 [--ours ours.json]

With --encoder conv it times issue 22's conv MIB step instead (`mib bench step --encoder conv
--critic separable --estimator infonce`; the objective of ../shared/reference/torch_conv_probe.py):
a shared encoder of 3x3 convolutions 1-32-64-128 with strides 1, 2, 2 and padding 1 on 28x28
images, each followed by a ReLU, the flattened 7x7x128 into a linear layer to 2x64 (softplus scale
+ 1e-7); the separable critic (cosine similarity / 0.5 over all B x B pairs), InfoNCE in both
directions, Monte-Carlo symmetrised KL, Adam lr 1e-3. Convolutions run on oneDNN (mkldnn) when
PyTorch has it, as by default.

With --ours (a file holding `mib bench step --json` output, or '-' for stdin) it also prints the
ratio of our steps/s to PyTorch's, PyTorch's GFLOP/s, and `ceiling_ratio`: the machine's ceiling
step rate (multiply-adds at the measured peak plus Adam at the measured memory floor, from
`mib bench step`) over PyTorch's rate, the largest ratio any implementation could reach here.
"""

import argparse, json, math, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--ours", help="JSON from `mib bench step --json` (file or '-')")
    ap.add_argument("--encoder", choices=["mlp", "conv"], default="mlp")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.encoder == "conv":
        return report(a, *conv_step(a))
    X, H, Z, B = 784, 1024, 64, a.batch
    enc = nn.Sequential(nn.Linear(X, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, 2 * Z))
    critic = nn.Sequential(
        nn.Linear(2 * Z, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, 1)
    )
    opt = torch.optim.Adam(list(enc.parameters()) + list(critic.parameters()), lr=1e-4)
    v1, v2 = torch.rand(B, X), torch.rand(B, X)
    beta = 1e-3

    def log_normal(z, mu, s):
        return (-0.5 * ((z - mu) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)).sum(1)

    def step():
        p = enc(torch.cat([v1, v2]))
        mu, s = p[:, :Z], F.softplus(p[:, Z:]) + 1e-7
        z = mu + s * torch.randn_like(mu)
        mu1, mu2, s1, s2, z1, z2 = mu[:B], mu[B:], s[:B], s[B:], z[:B], z[B:]
        t = critic(torch.cat([torch.cat([z1, z2], 1), torch.cat([torch.roll(z1, 1, 0), z2], 1)]))
        pos, neg = t[:B], t[B:]
        jsd = -F.softplus(-pos).mean() - F.softplus(neg).mean()
        skl = (
            (log_normal(z1, mu1, s1) - log_normal(z1, mu2, s2))
            + (log_normal(z2, mu2, s2) - log_normal(z2, mu1, s1))
        ).mean() / 2
        loss = -jsd + beta * skl
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    # PyTorch's own products: forward, weight and input gradients (none for the input layer's
    # input); mib factors the critic's input layer and does slightly fewer
    macs = 2 * B * (X * H + H * H + H * 2 * Z) + 2 * B * (2 * Z * H + H * H + H)
    return report(a, step, (6 * macs - 2 * 2 * B * X * H) / 1e9)


def conv_step(a):
    """Issue 22's conv MIB step; returns (step, GFLOP per step)."""
    Z, B = 64, a.batch
    enc = nn.Sequential(
        nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 2 * Z),
    )  # fmt: skip
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    v1, v2 = torch.rand(B, 1, 28, 28), torch.rand(B, 1, 28, 28)
    beta, lab = 1e-3, torch.arange(B)

    def log_normal(z, mu, s):
        return (-0.5 * ((z - mu) / s) ** 2 - torch.log(s)).sum(1)

    def step():
        p = enc(torch.cat([v1, v2]))
        mu, s = p[:, :Z], F.softplus(p[:, Z:]) + 1e-7
        z = mu + s * torch.randn_like(mu)
        mu1, mu2, s1, s2, z1, z2 = mu[:B], mu[B:], s[:B], s[B:], z[:B], z[B:]
        t = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T / 0.5
        nce = -(F.cross_entropy(t, lab) + F.cross_entropy(t.T, lab)) / 2
        skl = (
            (log_normal(z1, mu1, s1) - log_normal(z1, mu2, s2))
            + (log_normal(z2, mu2, s2) - log_normal(z2, mu1, s1))
        ).mean() / 2
        loss = -nce + beta * skl
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    # forward multiply-adds per image: the three convolutions and the head
    convs = 32 * 9 * 28 * 28 + 64 * 32 * 9 * 14 * 14 + 128 * 64 * 9 * 7 * 7
    head = 128 * 49 * 2 * Z
    # forward, weight and input gradients, no input gradient for the first convolution
    return step, 2 * 2 * B * (3 * (convs + head) - 32 * 9 * 28 * 28) / 1e9


def report(a, step, gflop_per_step):
    for _ in range(a.warmup):
        step()
    best = float("inf")
    times = []
    c0 = time.process_time()  # CPU time of all threads: robust to other load on shared cores
    t0 = time.perf_counter()
    for _ in range(a.steps):
        ts = time.perf_counter()
        step()
        times.append(time.perf_counter() - ts)
        best = min(best, times[-1])
    total = time.perf_counter() - t0
    cpu_ms = 1e3 * (time.process_time() - c0) / a.steps
    torch_sps = a.steps / total
    out = dict(
        framework=f"torch {torch.__version__}",
        encoder=a.encoder,
        mkldnn=torch.backends.mkldnn.is_available(),
        batch=a.batch,
        threads=a.threads,
        steps=a.steps,
        steps_per_s=torch_sps,
        best_steps_per_s=1 / best,
        cpu_ms_per_step=cpu_ms,
        median_steps_per_s=1 / sorted(times)[len(times) // 2],
    )
    if a.ours:
        ours = json.load(sys.stdin if a.ours == "-" else open(a.ours))
        out["ours_steps_per_s"] = ours["steps_per_s"]
        out["ratio"] = ours["steps_per_s"] / torch_sps
        if "best_steps_per_s" in ours:
            out["ratio_best"] = ours["best_steps_per_s"] / out["best_steps_per_s"]
        if "median_steps_per_s" in ours:
            out["ratio_median_step"] = ours["median_steps_per_s"] / out["median_steps_per_s"]
        if ours.get("cpu_ms_per_step"):
            out["ratio_cpu"] = cpu_ms / ours["cpu_ms_per_step"]
        out["torch_gflop_per_step"] = gflop_per_step
        out["torch_gflop_per_s"] = out["torch_gflop_per_step"] * torch_sps
        if ours.get("ceiling_steps_per_s"):
            # the machine's multiply-add ceiling for these products, as `mib bench step` measured
            # it: no implementation can exceed ceiling_steps_per_s, so no ratio can exceed this one
            out["ceiling_steps_per_s"] = ours["ceiling_steps_per_s"]
            out["ceiling_ratio"] = ours["ceiling_steps_per_s"] / torch_sps
    print(json.dumps(out))


if __name__ == "__main__":
    main()
