"""`est.feature_importance` and `mib.eval.permutation_test` on views where the answer is known: a
latent factor planted in columns 2 and 7 of view 0 and column 3 of view 1, the rest noise."""

from __future__ import annotations

import mib
import numpy as np
import pytest

PLANTED0 = [2, 7]
PLANTED1 = 3
FAST = dict(
    encoder_hidden=(32,),
    z_dim=2,
    critic="separable",
    estimator="infonce",
    lr=3e-3,
    beta=1e-2,
    iterations=400,
    batch_size=64,
    log_every=100,
    scaling="standardize",
    n_jobs=1,
    seed=1,
)


def synthetic(n: int, seed: int, related: bool = True):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal(n)
    t = s if related else rng.standard_normal(n)
    a = rng.standard_normal((n, 10))
    a[:, 2] = s + 0.1 * rng.standard_normal(n)
    a[:, 7] = -s + 0.1 * rng.standard_normal(n)
    b = rng.standard_normal((n, 8))
    b[:, PLANTED1] = t + 0.1 * rng.standard_normal(n)
    # shifted and stretched per column: the input scaling matters
    a = 3.0 + a * np.arange(1, 11)
    b = -1.0 + 0.5 * b * np.arange(1, 9)
    return [a.astype(np.float32), b.astype(np.float32)], (s > 0).astype(np.int64)


@pytest.fixture(scope="module")
def related():
    train, ytr = synthetic(1000, 1)
    test, yte = synthetic(300, 2)
    est = mib.MIB(**FAST).fit(train)
    return est, train, ytr, test, yte


@pytest.mark.parametrize("method", ["grad-x-input", "integrated-gradients"])
def test_planted_columns_are_the_most_important(related, method):
    est, _, _, test, _ = related
    for view, planted in ((0, PLANTED0), (1, [PLANTED1])):
        fi = est.feature_importance(test[view], view=view, method=method, steps=16)
        d = test[view].shape[1]
        for key in ("importance", "signed", "loadings"):
            assert fi[key].shape == (d, 2) and fi[key].dtype == np.float32
        total = fi["importance"].sum(axis=1)
        top = sorted(np.argsort(-total)[: len(planted)].tolist())
        assert top == planted, total
        load = np.abs(fi["loadings"]).max(axis=1)
        assert sorted(np.argsort(-load)[: len(planted)].tolist()) == planted, load
        if method == "integrated-gradients":
            assert fi["completeness_gap"] < 0.05
        else:
            assert fi["completeness_gap"] is None
    # loadings are correlations with the representation
    z = est.transform_view(test[0], view=0)
    fi = est.feature_importance(test[0], view=0)
    expect = np.corrcoef(test[0][:, 2], z[:, 0])[0, 1]
    assert abs(fi["loadings"][2, 0] - expect) < 1e-4


def test_feature_importance_errors(related):
    est, _, _, test, _ = related
    with pytest.raises(mib.ConfigError, match="view=2"):
        est.feature_importance(test[0], view=2)
    with pytest.raises(mib.ConfigError, match="shap"):
        est.feature_importance(test[0], method="shap")
    with pytest.raises(mib.ConfigError, match="steps"):
        est.feature_importance(test[0], method="integrated-gradients", steps=0)
    with pytest.raises(mib.ShapeError, match="columns of view 1"):
        est.feature_importance(test[0], view=1)
    with pytest.raises(mib.NotFittedError):
        mib.MIB().feature_importance(test[0])


def test_permutation_test_related_and_unrelated(related, tmp_path):
    est, train, ytr, test, yte = related
    res = mib.eval.permutation_test(est, test, yte, train_views=train, y_train=ytr, n=19, seed=3)
    mi, probe = res["mutual_information"], res["probe"]
    assert len(mi["null"]) == 19 and mi["n_permutations"] == 19
    assert mi["observed"] > mi["null_max"]
    assert mi["p_value"] == pytest.approx(1 / 20)
    assert probe["observed"] > 0.85 and probe["p_value"] == pytest.approx(1 / 20)
    assert [q["q"] for q in mi["null_quantiles"]] == [0.05, 0.25, 0.5, 0.75, 0.95]
    # seeded
    again = mib.eval.permutation_test(est, test, n=19, seed=3)
    assert again["mutual_information"] == mi and again["probe"] is None
    # a run folder works too
    est.save(tmp_path / "run")
    from_run = mib.eval.permutation_test(tmp_path / "run", test, n=19, seed=3)
    assert from_run["mutual_information"]["observed"] == pytest.approx(mi["observed"], abs=1e-5)

    train_u, _ = synthetic(1000, 1, related=False)
    test_u, _ = synthetic(300, 2, related=False)
    unrelated = mib.MIB(**FAST).fit(train_u)
    rng = np.random.default_rng(0)
    coin_tr, coin_te = rng.integers(0, 2, 1000), rng.integers(0, 2, 300)
    res = mib.eval.permutation_test(
        unrelated, test_u, coin_te, train_views=train_u, y_train=coin_tr, n=19, seed=3
    )
    assert res["mutual_information"]["p_value"] > 0.2, res["mutual_information"]
    assert res["probe"]["p_value"] > 0.2, res["probe"]


def test_permutation_test_errors(related):
    est, _, _, test, yte = related
    with pytest.raises(mib.ConfigError, match="at least 1 permutation"):
        mib.eval.permutation_test(est, test, n=0)
    with pytest.raises(mib.ConfigError, match="together"):
        mib.eval.permutation_test(est, test, yte, n=5)
    with pytest.raises(mib.ShapeError, match="views"):
        mib.eval.permutation_test(est, [test[0]], n=5)
    with pytest.raises(mib.ShapeError, match="columns of view 0"):
        mib.eval.permutation_test(est, [test[1], test[0]], n=5)
