"""Incomplete multi-view data (issue 24): fit with missing views, fused transform, ids, errors."""

import mib
import numpy as np
import pytest
from mib import ConfigError, DataError, ShapeError


def _views(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    out = []
    for d in (6, 4, 5):
        x = rng.normal(size=(n, d)).astype(np.float32) * 0.1
        x[np.arange(n), y % d] += 1.0
        out.append(x)
    return out, y


def _masks(n=96):
    m0 = np.arange(n) % 3 != 0
    m1 = np.ones(n, dtype=bool)
    m2 = np.arange(n) % 3 != 1
    return [m0, m1, m2]


def _small(**kw):
    return mib.MIB(
        z_dim=4,
        encoder_hidden=[16],
        iterations=20,
        batch_size=16,
        n_jobs=1,
        seed=1,
        **kw,
    )


def test_masks_and_nan_rows_train_the_same_model_and_fuse_every_item():
    views, _ = _views()
    masks = _masks()
    est = _small().fit(views, present=masks)
    z = est.transform(views, fuse="poe", present=masks)
    assert z.shape == (96, 4) and np.isfinite(z).all()
    # the same missing items said by NaN rows: the same training, the same representations
    nan_views = [v.copy() for v in views]
    for v, m in zip(nan_views, masks):
        v[~m] = np.nan
    est2 = _small().fit(nan_views, missing="nan-rows")
    z2 = est2.transform(nan_views, fuse="poe", missing="nan-rows")
    np.testing.assert_array_equal(z, z2)
    # the missing rows' values play no part
    junk = [v.copy() for v in views]
    for v, m in zip(junk, masks):
        v[~m] = 123.0
    np.testing.assert_array_equal(z, est.transform(junk, fuse="poe", present=masks))


def test_poe_matches_a_numpy_reference():
    views, _ = _views()
    masks = _masks()
    est = _small().fit(views, present=masks)
    num = np.zeros((96, 4))
    den = np.zeros((96, 4))
    means = []
    for v in range(3):
        mu, sd = est.posterior(views[v], view=v)
        means.append(mu)
        prec = 1.0 / sd.astype(np.float64) ** 2
        num += masks[v][:, None] * prec * mu
        den += masks[v][:, None] * prec
    want = num / den
    got = est.transform(views, fuse="poe", present=masks)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # mean fusion: the mean of the present views' means
    cnt = np.stack(masks).sum(axis=0)[:, None]
    want_mean = sum(m[:, None] * mu for m, mu in zip(masks, means)) / cnt
    got_mean = est.transform(views, fuse="mean", present=masks)
    np.testing.assert_allclose(got_mean, want_mean, rtol=1e-5, atol=1e-6)
    # an item with one view: exactly that view's representation
    only1 = [np.zeros(96, bool), np.ones(96, bool), np.zeros(96, bool)]
    np.testing.assert_array_equal(est.transform(views, fuse="poe", present=only1), means[1])


def test_views_with_their_own_item_ids_are_aligned():
    views, _ = _views()
    masks = _masks()
    ids = [np.flatnonzero(m) for m in masks]
    own = [v[m] for v, m in zip(views, masks)]
    # each view's rows in its own (reversed) order
    own = [o[::-1].copy() for o in own]
    ids = [i[::-1].copy() for i in ids]
    est = _small().fit(own, ids=ids)
    assert len(est.item_ids_) == 96
    z = est.transform(own, fuse="poe", ids=ids)
    order = np.asarray(est.item_ids_)
    # the same model as with paired rows and masks: the item ids only permute the items
    ref = _small().fit([v[order] for v in views], present=[m[order] for m in masks])
    want = ref.transform([v[order] for v in views], fuse="poe", present=[m[order] for m in masks])
    np.testing.assert_allclose(z, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match=r"ids\[0\]: item id .* more than once"):
        _small().fit(own, ids=[np.zeros(len(own[0]), int), ids[1], ids[2]])


def test_bad_missing_views_are_refused_clearly():
    views, _ = _views()
    masks = _masks()
    with pytest.raises(ShapeError, match=r"present\[1\].*96 rows"):
        _small().fit(views, present=[masks[0], masks[1][:10], masks[2]])
    none = [m.copy() for m in masks]
    for m in none:
        m[5] = False
    with pytest.raises(DataError, match="item 5 has no view"):
        _small().fit(views, present=none)
    empty = [masks[0], np.zeros(96, bool), masks[2]]
    with pytest.raises(DataError, match="has no present item"):
        _small().fit(views, present=empty)
    nan = [v.copy() for v in views]
    nan[2][7, 1] = np.nan
    with pytest.raises(DataError, match=r"row 7, column 1"):
        _small().fit(nan, missing="nan-rows")
    nan[2][7] = np.nan  # a whole row is NaN, but missing= does not say so
    with pytest.raises(DataError, match=r"row 7"):
        _small().fit(nan)
    with pytest.raises(ConfigError, match="missing="):
        _small().fit(views, missing="zeros")
    est = _small().fit(views, present=masks)
    with pytest.raises(ConfigError, match="fuse="):
        est.transform(views, fuse="concat")
    with pytest.raises(ConfigError, match="need fuse"):
        est.transform(views, present=masks)


def test_mudata_modalities_are_views_and_missing_observations_missing_views():
    md = pytest.importorskip("mudata", reason="the scverse extra (pip install mib[scverse])")
    ad = pytest.importorskip("anndata", reason="the scverse extra (pip install mib[scverse])")
    import mib.scverse

    views, _ = _views()
    masks = _masks()
    names = np.array([f"cell{i}" for i in range(96)])
    mods = {
        f"m{v}": ad.AnnData(X=views[v][masks[v]], obs={"i": np.flatnonzero(masks[v])})
        for v in range(3)
    }
    for v, a in enumerate(mods.values()):
        a.obs_names = names[masks[v]]
    mdata = md.MuData(mods)
    obs = list(mdata.obs_names)
    assert sorted(obs) == sorted(names.tolist())
    order = [int(o[4:]) for o in obs]
    est = _small().fit(mdata)
    z = mib.scverse.embed(est, mdata, key="X_mib")
    assert mdata.obsm["X_mib"].shape == (96, 4)
    np.testing.assert_array_equal(z, mdata.obsm["X_mib"])
    # the same as paired arrays with masks, in mdata's observation order
    ref = _small().fit([v[order] for v in views], present=[m[order] for m in masks])
    want = ref.transform([v[order] for v in views], fuse="poe", present=[m[order] for m in masks])
    np.testing.assert_allclose(z, want, rtol=1e-5, atol=1e-6)
