"""`mib.eval` on arrays: the same protocol and numbers as `mib eval`."""

from __future__ import annotations

import numpy as np
import pytest

import mib


@pytest.fixture(scope="module")
def mfeat():
    return mib.datasets.load_mfeat(views=["pix", "fou"])


def test_linear_probe_on_raw_features(mfeat):
    (x1, _), ytr = mfeat["train"]
    (t1, _), yte = mfeat["test"]
    res = mib.eval.linear_probe(x1, ytr, t1, yte, labels_per_class=[1, 10], repetitions=3)
    assert [r["labels_per_class"] for r in res] == [1, 10]
    assert all(r["repetitions"] == 3 for r in res)
    # more labels help, and the pixels of digits are far above chance
    assert 0.3 < res[0]["mean"] < res[1]["mean"] <= 1.0
    again = mib.eval.linear_probe(x1, ytr, t1, yte, labels_per_class=[1, 10], repetitions=3)
    assert again == res  # seeded


def test_evaluate_has_the_eval_json_keys(mfeat):
    (x1, x2), ytr = mfeat["train"]
    (t1, t2), yte = mfeat["test"]
    rep = mib.eval.evaluate(
        x1[:, :76], ytr, t1[:, :76], yte, labels_per_class=[1], repetitions=2, z_test_view2=t2
    )
    assert set(rep) >= {"linear_probe", "knn", "retrieval", "information_plane"}
    assert 0 < rep["knn"]["accuracy"] <= 1
    assert 0 < rep["retrieval"]["map_at_all"] <= 1


def test_bad_labels(mfeat):
    (x1, _), ytr = mfeat["train"]
    with pytest.raises(mib.ShapeError, match="y_train: 1499 labels for 1500 rows"):
        mib.eval.linear_probe(x1, ytr[:-1], x1, ytr)
    with pytest.raises(mib.DataError, match="y_test: labels must be integers"):
        mib.eval.linear_probe(x1, ytr, x1, ytr + 0.5)
    with pytest.raises(mib.DataError, match="label -1 at row 0"):
        mib.eval.linear_probe(x1, ytr, x1, np.full_like(ytr, -1))


# ---- the rest of eval.json: kNN, retrieval, multi-label, the information plane -------------------


def test_knn_with_one_neighbour_is_the_nearest_training_label(mfeat):
    (x1, _), ytr = mfeat["train"]
    (t1, _), yte = mfeat["test"]
    rep = mib.eval.knn(x1, ytr, t1, yte, k=1)
    assert rep["k"] == 1 and rep["metric"] == "euclidean"
    nearest = np.concatenate(
        [
            ((t1[i : i + 50, None, :].astype(np.float64) - x1[None]) ** 2).sum(-1).argmin(1)
            for i in range(0, len(t1), 50)
        ]
    )
    expected = float(np.mean(ytr[nearest] == yte))
    assert rep["accuracy"] == pytest.approx(expected, abs=1e-12)
    # and the full protocol reports the same kNN
    full = mib.eval.evaluate(x1, ytr, t1, yte, labels_per_class=[1], repetitions=1, knn_k=1)
    assert full["knn"] == rep


def test_retrieval_on_a_hand_worked_case():
    gallery = np.array([[0.0], [1.0], [2.0]])
    g_labels = [0, 1, 0]
    queries = np.array([[0.1], [1.9], [5.0]])
    q_labels = [0, 1, 7]  # the third has no relevant gallery item
    rep = mib.eval.retrieval(queries, q_labels, gallery, g_labels, k=1)
    # query 0 ranks 0 (rel), 1, 2 (rel): AP = (1 + 2/3) / 2; query 1 ranks 2, 1 (rel), 0: AP = 1/2
    assert rep["map_at_all"] == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)
    assert rep["precision_at_k"] == pytest.approx(0.5)
    assert (rep["queries"], rep["queries_without_relevant"], rep["k"]) == (2, 1, 1)


def test_cross_view_retrieval_matches_evaluate(mfeat):
    (_, _), _ = mfeat["train"]
    (t1, t2), yte = mfeat["test"]
    a, b = t1[:, :76], t2
    rep = mib.eval.retrieval(a, yte, b, yte, k=200)
    full = mib.eval.evaluate(a, yte, a, yte, labels_per_class=[1], repetitions=1, z_test_view2=b)
    assert full["retrieval"] == rep


def test_multilabel_map_on_hand_worked_cases():
    t = np.array([[1.0], [0.0], [1.0]])
    assert mib.eval.multilabel_map(np.array([[0.9], [0.1], [0.5]]), t) == pytest.approx(1.0)
    # ranking: item 1 (negative), item 2, item 0: AP = (1/2 + 2/3) / 2
    assert mib.eval.multilabel_map(np.array([[0.1], [0.9], [0.5]]), t) == pytest.approx(7 / 12)


def test_multilabel_probe_learns_labels_that_the_representation_carries():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1200, 6)).astype(np.float32)
    targets = (z[:, :3] > 0).astype(np.float32)  # three labels, each a half-space
    noise = rng.normal(size=z.shape).astype(np.float32)  # carries nothing about them
    tr, te = slice(0, 1000), slice(1000, None)
    good = mib.eval.multilabel_probe(
        z[tr], targets[tr], z[te], targets[te], labelled=[20, 500], repetitions=3
    )
    bad = mib.eval.multilabel_probe(
        noise[tr], targets[tr], noise[te], targets[te], labelled=[500], repetitions=3
    )
    assert [r["labelled"] for r in good] == [20, 500] and good[0]["repetitions"] == 3
    assert good[0]["mean_map"] < good[1]["mean_map"] and good[1]["mean_map"] > 0.95
    assert bad[0]["mean_map"] < 0.7  # base rate 0.5
    again = mib.eval.multilabel_probe(
        z[tr], targets[tr], z[te], targets[te], labelled=[20, 500], repetitions=3
    )
    assert again == good  # seeded


def test_label_information_is_bounded_by_the_label_entropy(mfeat):
    (x1, _), ytr = mfeat["train"]
    (t1, _), yte = mfeat["test"]
    r = mib.eval.label_information(x1, ytr, t1, yte)
    p = np.bincount(yte) / len(yte)
    assert r["h_y"] == pytest.approx(float(-(p * np.log(p)).sum()), rel=1e-12)
    assert 0.5 * r["h_y"] < r["i_yz"] <= r["h_y"]
    rng = np.random.default_rng(1)
    noise = mib.eval.label_information(
        rng.normal(size=x1.shape), ytr, rng.normal(size=t1.shape), yte
    )
    assert noise["i_yz"] < 0.1 * r["h_y"]
    full = mib.eval.evaluate(x1, ytr, t1, yte, labels_per_class=[1], repetitions=1, knn_k=None)
    assert full["information_plane"]["i_yz"] == r["i_yz"]
    assert full["information_plane"]["i_yz_estimator"] == r["i_yz_estimator"]


def test_encoder_bounds_sandwich_a_gaussian_channel():
    # x ~ N(0, I), z = x + N(0, s^2 I): I(x; z) = d/2 ln(1 + 1/s^2) exactly.
    n, d, s = 1500, 2, 0.5
    mean = np.random.default_rng(3).normal(size=(n, d))
    b = mib.eval.encoder_information_bounds(mean, np.full((n, d), s), seed=1)
    truth = 0.5 * d * np.log(1 + 1 / s**2)
    assert b["n"] == n and b["lower"] <= b["upper"]
    assert abs(b["lower"] - truth) < 0.1 and abs(b["upper"] - truth) < 0.1
    assert b["lower"] <= np.log(n)


def test_evaluate_model_equals_mib_eval_on_the_saved_run(cli, mfeat, tmp_path, small_module):
    import json
    import subprocess

    (x1, x2), ytr = mfeat["train"]
    (t1, t2), yte = mfeat["test"]
    est = mib.MIB(**small_module).fit([x1, x2])
    run = tmp_path / "run"
    est.save(run, data={"dataset": "mfeat", "views": ["pix", "fou"]})
    flags = ["--labels-per-class", "1,10", "--repetitions", "2", "--json"]
    p = subprocess.run([cli, "eval", str(run), *flags], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    ours = mib.eval.evaluate_model(
        est, [x1, x2], ytr, [t1, t2], yte, labels_per_class=[1, 10], repetitions=2
    )
    assert ours == json.loads(p.stdout)
    ip = ours["information_plane"]
    assert ip["i_xz_lower"] <= ip["i_xz"] and ip["i_yz"] is not None
    # the I(x; z) bounds alone, from the estimator's posterior on the same 500 test items
    mean, scale = est.posterior(t1)
    assert mean.shape == scale.shape == (len(t1), est.z_dim) and (scale > 0).all()
    np.testing.assert_array_equal(mean, est.transform_view(t1))
    b = mib.eval.encoder_information_bounds(est, X=t1)
    assert b == mib.eval.encoder_information_bounds(mean, scale)
    assert 0 <= b["lower"] <= b["upper"]


def test_bad_arrays_name_the_argument(mfeat):
    (x1, _), ytr = mfeat["train"]
    bad = x1.copy()
    bad[3, 1] = np.nan
    with pytest.raises(mib.DataError, match=r"z_train: non-finite value nan at row 3, column 1"):
        mib.eval.linear_probe(bad, ytr, x1, ytr)
    with pytest.raises(mib.DataError, match=r"z_test: non-finite value inf"):
        mib.eval.knn(x1, ytr, np.where(bad == bad, x1, np.inf), ytr)
    with pytest.raises(mib.ShapeError, match=r"z_test: expected a 2-D array"):
        mib.eval.knn(x1, ytr, x1[0], ytr[:1])
    with pytest.raises(mib.DataError, match=r"gallery: dtype <U1 is not numeric"):
        mib.eval.retrieval(x1, ytr, np.array([["a"]]), [0])
    with pytest.raises(mib.ShapeError, match=r"gallery_labels: 3 labels for 1500 rows"):
        mib.eval.retrieval(x1, ytr, x1, ytr[:3])
    with pytest.raises(mib.ShapeError, match=r"z_train: empty array"):
        mib.eval.label_information(x1[:0], ytr[:0], x1, ytr)
    with pytest.raises(mib.ConfigError, match=r"metric: `manhattan` is not a distance"):
        mib.eval.knn(x1, ytr, x1, ytr, metric="manhattan")
    with pytest.raises(mib.ConfigError, match=r"k=0: must be positive"):
        mib.eval.knn(x1, ytr, x1, ytr, k=0)
    with pytest.raises(mib.ConfigError, match=r"c=-1: must be positive"):
        mib.eval.linear_probe(x1, ytr, x1, ytr, c=-1)
    with pytest.raises(mib.ConfigError, match=r"labels_per_class=\[0\]"):
        mib.eval.linear_probe(x1, ytr, x1, ytr, labels_per_class=[0])
    t = np.zeros((1500, 2))
    with pytest.raises(mib.ShapeError, match=r"t_test: 1499 rows for 1500 rows of z_test"):
        mib.eval.multilabel_probe(x1, t, x1, t[:-1], labelled=[10])
    with pytest.raises(mib.ConfigError, match=r"eval.labelled.*1501"):
        mib.eval.multilabel_probe(x1, t, x1, t, labelled=[1501])
    with pytest.raises(mib.ShapeError, match=r"scale: shape \(3, 2\), mean has \(3, 1\)"):
        mib.eval.encoder_information_bounds(np.zeros((3, 1)), np.ones((3, 2)))
    with pytest.raises(mib.DataError, match=r"non-positive scale"):
        mib.eval.encoder_information_bounds(np.zeros((3, 1)), np.zeros((3, 1)))


def test_augment_draws_seeded_views_of_each_image():
    rng = np.random.default_rng(0)
    imgs = rng.uniform(size=(64, 28, 28)).astype(np.float32)
    a = mib.datasets.augment(imgs, "mnist", seed=1)
    assert a.shape == imgs.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, mib.datasets.augment(imgs, "mnist", seed=1, n_jobs=1))
    b = mib.datasets.augment(imgs, "mnist", seed=2)
    assert (a != b).any(axis=(1, 2)).all()  # another seed: another view of every image
    # rows (n, h * w) with image_shape give the same views
    rows = mib.datasets.augment(imgs.reshape(64, -1), "mnist", image_shape=(28, 28), seed=1)
    np.testing.assert_array_equal(rows.reshape(imgs.shape), a)
    np.testing.assert_array_equal(mib.datasets.augment(imgs, [], seed=1), imgs)  # no steps
    ones = np.ones((200, 28, 28), np.float32)
    drop = mib.datasets.augment(ones, [{"kind": "pixel-corruption", "keep": 0.8, "mode": "drop"}])
    assert abs(float((drop == 0).mean()) - 0.2) < 0.01
    with pytest.raises(mib.ConfigError, match="image_shape: needed"):
        mib.datasets.augment(imgs.reshape(64, -1))
    with pytest.raises(mib.ShapeError, match="not 5 x 5 images"):
        mib.datasets.augment(imgs.reshape(64, -1), image_shape=(5, 5))
    with pytest.raises(mib.ConfigError, match=r"augment.steps\[0\].keep"):
        mib.datasets.augment(imgs, [{"kind": "pixel-corruption", "keep": 2.0, "mode": "drop"}])
    imgs[3, 4, 5] = np.nan
    with pytest.raises(mib.DataError, match=r"images: non-finite value at index \(3, 4, 5\)"):
        mib.datasets.augment(imgs)
