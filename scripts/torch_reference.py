#!/usr/bin/env python3
"""PyTorch comparator for `mib` (issue 6): the reference recipe, written by us from the paper and the
reference's documented hyper-parameters (no code copied from the authors' repository, which has no licence).

Trains one objective on Fashion-MNIST (IDX files, e.g. Debian's dataset-fashion-mnist) with the reference
architecture (encoder 784-1024-1024-2x64, critic 128-1024-1024-1), two torchvision-augmented views per image
(RandomAffine(15, translate 0.1, scale 0.9-1.1, shear 15) + pixel corruption keeping 80 %), batch 64, Adam 1e-4,
beta exponential 1e-3 -> 1 (warm start at 1/3 of the budget, ramp over the remaining 2/3), views built by a
DataLoader with worker processes; then the few-label linear probe (MinMax + multinomial logistic regression C=10)
on the posterior means. Prints one JSON object (timings, probe accuracies).

    python scripts/torch_reference.py --objective mib --iterations 3000 --threads 2 --workers 2

`--recipe fast` trains `configs/fast.toml`'s recipe instead: the same encoder, a separable critic (cosine of the
two samples / temperature), InfoNCE over all pairs of the batch in both directions, beta * single-sample SKL with beta ramped
(1e-3 -> 1, warm 1/3, ramp 2/3; `--beta-end` changes the end), Adam with a larger learning rate and batch; `--augment` picks the views (`reference` or `fashion`:
RandomCrop(28, padding) + a milder RandomAffine + pixel corruption). `--raw` also scores the raw pixels.
"""

import argparse, gzip, json, math, os, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    _, _, dt, nd = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * nd, data[4 : 4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(data_dir):
    def f(name):
        for n in (name + ".gz", name):
            p = os.path.join(data_dir, n)
            if os.path.exists(p):
                return read_idx(p)
        raise SystemExit(f"missing {name} in {data_dir}")

    return (
        f("train-images-idx3-ubyte"),
        f("train-labels-idx1-ubyte"),
        f("t10k-images-idx3-ubyte"),
        f("t10k-labels-idx1-ubyte"),
    )


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, images, augment="reference", keep=0.8, pad=2):
        import torchvision.transforms as T

        self.images = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 255.0
        self.keep = keep
        if augment == "reference":
            self.affine = T.RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=15)
        else:  # "fashion": crop with padding, then a milder affine (no horizontal flip: `mib` has none)
            self.affine = T.Compose(
                [T.RandomCrop(28, padding=pad), T.RandomAffine(8, scale=(0.9, 1.1))]
            )

    def __len__(self):
        return len(self.images)

    def view(self, x):
        x = self.affine(x)
        keep = (
            torch.rand_like(x) < self.keep
        ).float()  # pixel corruption: 1 - keep of the pixels set to 0
        return (x * keep).flatten()

    def __getitem__(self, i):
        x = self.images[i]
        return self.view(x), self.view(x)


# The recipe of configs/fast.toml (keep in sync).
FAST = dict(augment="reference", lr=1e-3, keep=0.8, beta=1e-3, beta_end=1.0)


def mlp(i, h, o):
    layers, d = [], i
    for w in h:
        layers += [nn.Linear(d, w), nn.ReLU()]
        d = w
    layers.append(nn.Linear(d, o))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    def __init__(self, z=64):
        super().__init__()
        self.z, self.net = z, mlp(784, [1024, 1024], 2 * z)

    def forward(self, x):
        p = self.net(x)
        return p[:, : self.z], F.softplus(p[:, self.z :]) + 1e-7


def log_normal(z, mu, s):
    return (-0.5 * ((z - mu) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)).sum(1)


def exp_beta(it, start, end, s0, n):
    ls, le = math.log10(start), math.log10(end)
    if it > s0 + n:
        return end
    if it <= s0:
        return start
    return 10 ** ((it - s0) * (le - ls) / n + ls)


def probe(ztr, ytr, zte, yte, ks, reps, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import MinMaxScaler

    rng = np.random.RandomState(seed)
    out = []
    for k in ks:
        accs = []
        for _ in range(reps):
            idx = np.concatenate(
                [rng.choice(np.where(ytr == c)[0], k, replace=False) for c in range(10)]
            )
            sc = MinMaxScaler().fit(ztr[idx])
            m = LogisticRegression(solver="saga", C=10, tol=0.1, max_iter=1000).fit(
                sc.transform(ztr[idx]), ytr[idx]
            )
            accs.append(m.score(sc.transform(zte), yte))
        out.append(
            dict(
                labels_per_class=k,
                mean=float(np.mean(accs)),
                std=float(np.std(accs)),
                repetitions=reps,
            )
        )
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data-dir", default=os.environ.get("MIB_DATA", "/usr/share/datasets/fashion-mnist")
    )
    ap.add_argument("--objective", default="mib", choices=["mib", "mv-infomax"])
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repetitions", type=int, default=10)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--recipe", default="reference", choices=["reference", "fast"])
    ap.add_argument(
        "--augment",
        default=None,
        choices=["reference", "fashion"],
        help="views (default: reference for --recipe reference, as configs/fast.toml for fast)",
    )
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument(
        "--beta", type=float, default=None, help="--recipe fast: beta (start of the ramp)"
    )
    ap.add_argument(
        "--beta-end",
        type=float,
        default=None,
        help="--recipe fast: ramp beta exponentially to this value (warm 1/3, ramp 2/3)",
    )
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--keep", type=float, default=None, help="pixel-corruption keep probability")
    ap.add_argument("--pad", type=int, default=2)
    ap.add_argument(
        "--raw", action="store_true", help="also score the raw pixels with the same probe"
    )
    a = ap.parse_args()
    fast = a.recipe == "fast"
    augment = a.augment or (FAST["augment"] if fast else "reference")
    lr = a.lr or (FAST["lr"] if fast else 1e-4)
    keep = a.keep if a.keep is not None else (FAST["keep"] if fast else 0.8)
    beta0 = a.beta if a.beta is not None else FAST["beta"]
    beta1 = a.beta_end if a.beta_end is not None else FAST["beta_end"]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = load(a.data_dir)
    enc = Encoder()
    critic = mlp(128, [1024, 1024], 1)
    params = [{"params": enc.parameters()}] + ([] if fast else [{"params": critic.parameters()}])
    opt = torch.optim.Adam(params, lr=lr)
    loader = torch.utils.data.DataLoader(
        TwoViews(xtr, augment, keep, a.pad),
        batch_size=a.batch,
        shuffle=True,
        drop_last=True,
        num_workers=a.workers,
        persistent_workers=a.workers > 0,
    )
    s0, n = a.iterations // 3, a.iterations - a.iterations // 3
    it, t0, log = 0, time.time(), []
    while it < a.iterations:
        for v1, v2 in loader:
            if a.objective != "mib":
                beta = 0.0
            elif fast:
                beta = exp_beta(it, beta0, beta1, s0, n) if beta1 != beta0 else beta0
            else:
                beta = exp_beta(it, 1e-3, 1.0, s0, n)
            mu1, s1 = enc(v1)
            mu2, s2 = enc(v2)
            z1, z2 = mu1 + s1 * torch.randn_like(s1), mu2 + s2 * torch.randn_like(s2)
            skl = (
                (log_normal(z1, mu1, s1) - log_normal(z1, mu2, s2))
                + (log_normal(z2, mu2, s2) - log_normal(z2, mu1, s1))
            ).mean() / 2
            if fast:
                t = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).t() / a.temperature
                target = torch.arange(t.shape[0])
                nce = math.log(t.shape[0]) - 0.5 * (
                    F.cross_entropy(t, target) + F.cross_entropy(t.t(), target)
                )
                nwj = nce
                loss = -nce + beta * skl
            else:
                pos = critic(torch.cat([z1, z2], 1))
                neg = critic(torch.cat([torch.roll(z1, 1, 0), z2], 1))
                jsd = -F.softplus(-pos).mean() - F.softplus(neg).mean()
                nwj = pos.mean() - neg.exp().mean() + 1
                loss = -jsd + beta * skl
            opt.zero_grad()
            loss.backward()
            opt.step()
            it += 1
            if it % 100 == 0:
                log.append(
                    dict(
                        iteration=it,
                        loss=loss.item(),
                        mi_estimate=nwj.item(),
                        skl=skl.item(),
                        beta=beta,
                    )
                )
            if it >= a.iterations:
                break
    train_s = time.time() - t0
    res = dict(
        implementation="pytorch",
        torch=torch.__version__,
        objective=a.objective,
        recipe=a.recipe,
        augment=augment,
        lr=lr,
        beta=[beta0, beta1] if fast else [1e-3, 1.0],
        iterations=it,
        batch=a.batch,
        threads=a.threads,
        workers=a.workers,
        train_s=train_s,
        it_per_s=it / train_s,
        last=log[-1] if log else None,
    )
    if not a.no_eval:
        with torch.no_grad():
            ztr = torch.cat(
                [
                    enc(torch.tensor(xtr[i : i + 2000], dtype=torch.float32).flatten(1) / 255.0)[0]
                    for i in range(0, len(xtr), 2000)
                ]
            ).numpy()
            zte = torch.cat(
                [
                    enc(torch.tensor(xte[i : i + 2000], dtype=torch.float32).flatten(1) / 255.0)[0]
                    for i in range(0, len(xte), 2000)
                ]
            ).numpy()
        t1 = time.time()
        res["linear_probe"] = probe(
            ztr, ytr.astype(int), zte, yte.astype(int), [1, 10, 100], a.repetitions, a.seed
        )
        res["eval_s"] = time.time() - t1
        if a.raw:
            x2 = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0
            res["raw_linear_probe"] = probe(
                x2(xtr),
                ytr.astype(int),
                x2(xte),
                yte.astype(int),
                [1, 10, 100],
                a.repetitions,
                a.seed,
            )
    print(json.dumps(res))


if __name__ == "__main__":
    main()
