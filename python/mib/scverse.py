"""MuData / AnnData (scverse) as multi-view data: the optional extra ``mib[scverse]``.

A :class:`mudata.MuData` holds one :class:`anndata.AnnData` per modality, each over its own
observations (a subset of ``mdata.obs_names``). Here the modalities are the views and an
observation a modality lacks is a missing view: ``est.fit(mdata)`` trains on every observation with
the modalities it has, and :func:`embed` writes one fused representation per observation back to
``mdata.obsm[key]``, as scvi-tools and MOFA+ do. Nothing here imports mudata or anndata: any
object with their attributes (``mod``, ``obs_names``, ``X``) works.

    import mib, mib.scverse
    est = mib.MIB(iterations=1000).fit(mdata)            # modalities as views
    mib.scverse.embed(est, mdata, key="X_mib", fuse="poe")  # mdata.obsm["X_mib"]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._native import DataError

__all__ = ["is_mudata", "is_anndata", "views_from_mudata", "embed"]


def is_mudata(x: Any) -> bool:
    """Whether ``x`` looks like a MuData object (modalities in ``.mod``, ``.obs_names``)."""
    return hasattr(x, "mod") and hasattr(x, "obs_names") and hasattr(x.mod, "items")


def is_anndata(x: Any) -> bool:
    """Whether ``x`` looks like an AnnData object (``.X`` and ``.obs_names``, no ``.mod``)."""
    return hasattr(x, "X") and hasattr(x, "obs_names") and not hasattr(x, "mod")


def _dense(x: Any, name: str) -> np.ndarray:
    if x is None:
        raise DataError(f"{name}: no data matrix (.X is None)")
    if hasattr(x, "toarray"):  # scipy.sparse
        x = x.toarray()
    return np.ascontiguousarray(np.asarray(x), dtype=np.float32)


def views_from_mudata(
    mdata: Any, modalities: Sequence[str] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """The modalities of ``mdata`` (all, in ``mdata.mod`` order, or ``modalities``) as views
    aligned on ``mdata.obs_names``: returns the views (zeros where a modality lacks an
    observation), one presence mask per view and the modality names. An AnnData is one view."""
    if is_anndata(mdata):
        x = _dense(mdata.X, "X")
        return [x], [np.ones(x.shape[0], dtype=bool)], ["X"]
    if not is_mudata(mdata):
        raise DataError(f"expected a MuData or AnnData object, got {type(mdata).__name__}")
    names = list(modalities) if modalities is not None else list(mdata.mod.keys())
    unknown = [m for m in names if m not in mdata.mod]
    if unknown:
        raise DataError(
            f"modalities {unknown}: not in this MuData (it has {list(mdata.mod.keys())})"
        )
    obs = list(mdata.obs_names)
    index = {o: i for i, o in enumerate(obs)}
    n = len(obs)
    views, present = [], []
    for m in names:
        ad = mdata.mod[m]
        x = _dense(ad.X, f"mod['{m}'].X")
        rows = []
        for o in ad.obs_names:
            if o not in index:
                raise DataError(
                    f"mod['{m}']: observation {o!r} is not in mdata.obs_names "
                    f"(call mdata.update() after changing a modality)"
                )
            rows.append(index[o])
        rows_a = np.asarray(rows, dtype=np.int64)
        full = np.zeros((n, x.shape[1]), dtype=np.float32)
        full[rows_a] = x
        mask = np.zeros(n, dtype=bool)
        mask[rows_a] = True
        views.append(full)
        present.append(mask)
    return views, present, names


def embed(
    est: Any,
    mdata: Any,
    key: str = "X_mib",
    fuse: str = "poe",
    modalities: Sequence[str] | None = None,
) -> np.ndarray:
    """One representation per observation of ``mdata`` from the modalities it has (``fuse``:
    ``"poe"`` or ``"mean"``; an AnnData: its one view), written to ``mdata.obsm[key]`` and
    returned."""
    views, present, _ = views_from_mudata(mdata, modalities)
    if len(views) == 1:
        z = est.transform_view(views[0], view=0)
    else:
        z = est.transform(views, fuse=fuse, present=present)
    mdata.obsm[key] = z
    return z
