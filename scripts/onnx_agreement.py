#!/usr/bin/env python3
"""The largest differences between mib and ONNX Runtime on the encoders of python/tests/test_onnx.py
(MLP with layer norms and input standardisation; conv with strides, padding and group norms; the
same conv with pool = "mean", global average pooling, on shifted inputs), on
mfeat's 500 test items (docs/export.md). Run: .venv/bin/python scripts/onnx_agreement.py"""

import numpy as np
import onnxruntime as ort

import mib


def shifted(views):
    return [(v * 3.0 + 2.0).astype(np.float32) for v in views]


d = mib.datasets.load_mfeat(views=["pix", "fou"])
x1, x2 = shifted(d["train"][0])
t = shifted(d["test"][0])
mlp = mib.MIB(
    encoder_hidden=(64, 32),
    encoder_norm="layer",
    critic="separable",
    estimator="infonce",
    temperature=0.5,
    z_dim=8,
    lr=1e-3,
    beta=1e-3,
    iterations=200,
    batch_size=64,
    n_jobs=1,
).fit([x1, x2])
p1 = d["train"][0][0]
rng = np.random.default_rng(0)
enc = {
    "kind": "conv",
    "channels": [4, 8],
    "strides": [2, 1],
    "kernel": 3,
    "norm": True,
    "image_shape": [1, 15, 16],
}
noisy = (p1 + 0.1 * rng.standard_normal(p1.shape)).astype(np.float32)
conv = mib.MIB(
    encoder=enc,
    encoder_hidden=(32,),
    encoder_norm="layer",
    z_dim=8,
    iterations=100,
    batch_size=64,
    n_jobs=1,
).fit([p1, noisy])
pooled = mib.MIB(
    encoder={**enc, "pool": "mean"},
    encoder_hidden=(16,),
    z_dim=8,
    iterations=30,
    batch_size=64,
    n_jobs=1,
).fit([x1, (x1 + 0.1 * rng.standard_normal(x1.shape)).astype(np.float32)])
runs = (("mlp", mlp, t), ("conv", conv, [d["test"][0][0]] * 2), ("pooled", pooled, [t[0]] * 2))
for name, est, xs in runs:
    for v in (0, 1):
        model = est.to_onnx(view=v, output="mean-scale")
        s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        m, sc = s.run(None, {"x": xs[v]})
        rm, rs = est.posterior(xs[v], view=v)
        print(
            f"{name} view {v}: n={len(xs[v])} max|mean diff| {np.abs(m - rm).max():.1e} "
            f"max|scale diff| {np.abs(sc - rs).max():.1e} max|mean| {np.abs(rm).max():.2f}"
        )
