#!/usr/bin/env python3
"""Views per second of the paper's MNIST recipe in torchvision, to compare with `mib bench views`.

The recipe (mfederici/Multi-View-Information-Bottleneck, utils/data.py): RandomAffine(degrees=15,
translate=(0.1, 0.1), scale=(0.9, 1.1), shear=15) then PixelCorruption(0.8), i.e. 20 % of the pixels
set to 0, at 28x28, one image at a time as a Dataset's __getitem__ does. Two paths are timed on one
thread: the reference's (PIL image -> RandomAffine -> ToTensor -> corruption) and an all-tensor one.

Usage: python3 scripts/bench_views_torch.py [--images N] [--json]
"""

import argparse, json, time

import numpy as np
import torch
from PIL import Image
from torchvision import transforms


class PixelCorruption:
    """The reference's PixelCorruption in 'drop' mode: keep each pixel with probability p."""

    def __init__(self, p):
        self.p = p

    def __call__(self, im):
        mask = torch.bernoulli(torch.zeros(im.size(1), im.size(2)) + 1.0 - self.p).bool()
        mask = mask.unsqueeze(0).repeat(im.size(0), 1, 1)
        im[mask] = 0.0
        return im


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    imgs = (rng.random((a.images, 28, 28)) * 255).astype(np.uint8)
    affine = transforms.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=15)
    pil_recipe = transforms.Compose([affine, transforms.ToTensor(), PixelCorruption(0.8)])
    tensor_recipe = transforms.Compose([affine, PixelCorruption(0.8)])
    pil = [Image.fromarray(x) for x in imgs]
    tens = [torch.from_numpy(x).float().div(255).unsqueeze(0) for x in imgs]
    out = {"images": a.images, "torch": torch.__version__}
    for name, recipe, data in [("pil", pil_recipe, pil), ("tensor", tensor_recipe, tens)]:
        for x in data[:50]:
            recipe(x)
        t = time.perf_counter()
        for x in data:
            recipe(x)
            recipe(x)
        out[f"{name}_views_per_sec"] = 2 * len(data) / (time.perf_counter() - t)
    if a.json:
        print(json.dumps(out))
    else:
        print(
            f"torchvision {out['torch']}, 1 thread: PIL path {out['pil_views_per_sec']:.0f} views/s, "
            f"tensor path {out['tensor_views_per_sec']:.0f} views/s"
        )


if __name__ == "__main__":
    main()
