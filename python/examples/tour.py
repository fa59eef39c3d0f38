"""A tour of ``mib`` in Python, notebook-style: each ``# %%`` cell runs as it reads (VS Code and
Jupytext open the file as a notebook; ``python tour.py`` runs it top to bottom).

1. fit MIB on two views of the same digits (the embedded UCI Multiple Features set: the pixel
   view against the Fourier view);
2. compare it with the raw pixels and with PCA of the pixels (scikit-learn) under the few-label
   linear probe;
3. plot accuracy against labels per class (a PNG, no matplotlib), and the information plane;
4. save the model as a run folder, load it back, and check the representations are equal.

Run::

    python python/examples/tour.py --out tour-out               # the demo recipe, ~10 s on 2 cores
    python python/examples/tour.py --out tour-out --iterations 300   # what the test runs

Needs the package (``pip install ./python``) and scikit-learn.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import PCA

import mib


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("tour-out"), help="folder for figures, run")
    ap.add_argument("--iterations", type=int, default=3000, help="training iterations (demo: 3000)")
    ap.add_argument("--repetitions", type=int, default=10, help="label draws per count")
    ap.add_argument("--n-jobs", type=int, default=2, help="compute threads")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # %% [1] Two views of the same 2,000 digits, and MIB on them.
    data = mib.datasets.load_mfeat(views=["pix", "fou"])
    (x1, x2), y_train = data["train"]
    (t1, t2), y_test = data["test"]
    print(f"views: pixels {x1.shape[1]}, Fourier {x2.shape[1]}; {len(x1)} train, {len(t1)} test")

    est = mib.MIB.from_preset("demo", iterations=args.iterations, n_jobs=args.n_jobs)
    t0 = time.perf_counter()
    est.fit([x1, x2])  # no labels: the two views teach each other
    print(f"fitted {est.n_iter_} iterations in {time.perf_counter() - t0:.1f} s")
    z_train, z_test = est.transform_view(x1), est.transform_view(t1)

    # %% [2] Few-label probe: MIB against the raw pixels and PCA of the pixels (same width).
    pca = PCA(n_components=est.z_dim, random_state=0).fit(x1)
    inputs = {
        "MIB": (z_train, z_test),
        "raw pixels": (x1, t1),
        f"PCA-{est.z_dim} of pixels": (pca.transform(x1), pca.transform(t1)),
    }
    counts = [1, 10, 100]
    results = {
        name: mib.eval.linear_probe(
            a, y_train, b, y_test, labels_per_class=counts, repetitions=args.repetitions
        )
        for name, (a, b) in inputs.items()
    }
    print(f"\n{'test accuracy (%)':<22}" + "".join(f"{k:>5} label/cl" for k in counts))
    for name, res in results.items():
        print(f"{name:<22}" + "".join(f"{100 * r['mean']:>14.1f}" for r in res))

    # The rest of `mib eval`'s protocol on the same model: kNN, cross-view retrieval (pixel
    # queries against the Fourier gallery) and the information plane.
    report = mib.eval.evaluate_model(
        est, [x1, x2], y_train, [t1, t2], y_test, labels_per_class=[1], repetitions=2
    )
    ip = report["information_plane"]
    print(
        f"\nkNN (k=5): {100 * report['knn']['accuracy']:.1f} %; cross-view retrieval mAP@all "
        f"{report['retrieval']['map_at_all']:.3f}; I(x;z) bounds [{ip['i_xz_lower']:.2f}, "
        f"{ip['i_xz']:.2f}] nats, I(y;z) bound {ip['i_yz']:.2f} nats"
    )

    # %% [3] Figures as PNG bytes (written to files here; IPython.display.Image(png) in a notebook).
    png = mib.plot.accuracy_vs_labels(results, args.out / "accuracy_vs_labels.png")
    h_y = mib.eval.label_information(z_train, y_train, z_test, y_test)["h_y"]
    mib.plot.information_plane({"MIB": report}, args.out / "information_plane.png", h_y=h_y)
    mib.plot.training_curves(est, args.out / "training_curves.png")
    print(f"\nfigures in {args.out}/ (accuracy_vs_labels.png: {len(png):,} bytes)")

    # %% [4] Save as a run folder (`mib eval`, `mib embed`, `mib report` read it), load it back.
    run = args.out / "run"
    est.save(run, data={"dataset": "mfeat", "views": ["pix", "fou"]}, overwrite=True)
    back = mib.load_run(run)
    same = np.array_equal(back.transform_view(t1), z_test)
    same_pickle = np.array_equal(pickle.loads(pickle.dumps(est)).transform_view(t1), z_test)
    print(f"saved to {run}; loaded back: equal representations: {same}; pickled: {same_pickle}")
    if not (same and same_pickle):
        raise SystemExit("the loaded model's representations differ from the fitted one's")
    return {"results": results, "report": report, "run": run, "figure": png}


if __name__ == "__main__":
    main(sys.argv[1:])
