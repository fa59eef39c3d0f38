"""The evaluation protocol of ``mib eval`` on your own arrays: the few-label linear probe, kNN,
cross-view retrieval, the multi-label probe, the information-plane bounds and permutation tests.

Results are plain dicts (and lists of dicts) with the keys of ``eval.json``; every function is a
thin call into the Rust library (``mib::eval``), so the numbers are the ones ``mib eval`` prints.
Arrays are checked first: a bad shape, dtype or a NaN raises :class:`mib.ShapeError` or
:class:`mib.DataError` naming the argument.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np

from . import _native
from ._estimators import _as_view, _threads
from ._native import ConfigError, DataError, ShapeError

__all__ = [
    "evaluate",
    "evaluate_model",
    "linear_probe",
    "knn",
    "retrieval",
    "multilabel_probe",
    "multilabel_map",
    "label_information",
    "encoder_information_bounds",
    "permutation_test",
    "diagnose",
    "beta_path",
]


# ---- argument checks ---------------------------------------------------------------------------


def _matrix(x: Any, name: str) -> np.ndarray:
    """``x`` as a non-empty 2-D, finite, C-contiguous float32 array (no copy when it is one)."""
    a = _as_view(x, name)
    if a.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D array (items x features), got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(f"{name}: empty array of shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"{name}: non-finite value {a[i, j]} at row {i}, column {j}")
    return a


def _views(views: Any, name: str) -> list[np.ndarray]:
    """A list of views (or one array) as checked matrices; images ``(n, h, w)`` are flattened."""
    if isinstance(views, (list, tuple)):
        items = [(f"{name}[{i}]", v) for i, v in enumerate(views)]
    else:
        items = [(name, views)]
    if not items:
        raise ShapeError(f"{name}: the list is empty; give at least one array")
    out = []
    for n, v in items:
        a = _as_view(v, n)
        out.append(_matrix(a.reshape(a.shape[0], -1) if a.ndim == 3 else a, n))
    return out


def _labels(y: Any, name: str) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim != 1:
        raise ShapeError(f"{name}: expected 1-D class labels, got shape {a.shape}")
    if a.dtype.kind not in "iub":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise DataError(f"{name}: labels must be integers 0, 1, ... (got {a.dtype})")
    return np.ascontiguousarray(a, dtype=np.int64)


def _targets(t: Any, name: str, rows: int, rows_of: str) -> np.ndarray:
    """Multi-hot targets: 2-D, finite, one row per item of ``rows_of``."""
    a = _matrix(t, name)
    if a.shape[0] != rows:
        raise ShapeError(f"{name}: {a.shape[0]} rows for {rows} rows of {rows_of}")
    return a


def _counts(values: Sequence[int], name: str) -> list[int]:
    try:
        out = [int(k) for k in values]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={values!r}: expected a list of positive integers") from None
    if not out or any(k < 1 for k in out):
        raise ConfigError(f"{name}={values!r}: expected a non-empty list of positive integers")
    return out


def _positive(v: Any, name: str, kind: type = int) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name}={v!r}: expected a positive number")
    if not (np.isfinite(v) and v > 0):
        raise ConfigError(f"{name}={v!r}: must be positive and finite")
    if kind is int and int(v) != v:
        raise ConfigError(f"{name}={v!r}: expected an integer")
    return kind(v)


def _probe(c: float) -> str:
    return json.dumps({"c": _positive(c, "c", float)})


def _protocol(
    labels_per_class: Sequence[int],
    repetitions: int,
    c: float,
    knn_k: int | None,
    knn_metric: str,
    retrieval_k: int,
    information_bound: bool,
    seed: int,
) -> str:
    return json.dumps(
        dict(
            labels_per_class=[int(k) for k in labels_per_class],
            repetitions=_positive(repetitions, "repetitions"),
            probe={"c": _positive(c, "c", float)},
            knn=None if not knn_k else {"k": int(knn_k), "metric": knn_metric},
            retrieval_k=_positive(retrieval_k, "retrieval_k"),
            information_bound=bool(information_bound),
            seed=int(seed),
        )
    )


# ---- the protocol ------------------------------------------------------------------------------


def evaluate(
    z_train: Any,
    y_train: Any,
    z_test: Any,
    y_test: Any,
    *,
    labels_per_class: Sequence[int] = (1, 2, 5, 10, 100, 1000),
    repetitions: int = 20,
    c: float = 10.0,
    knn_k: int | None = 5,
    knn_metric: str = "euclidean",
    z_test_view2: Any = None,
    retrieval_k: int = 200,
    information_bound: bool = True,
    seed: int = 0,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """The protocol ``mib eval`` runs, on representations.

    Parameters
    ----------
    z_train, z_test : array-like of shape (n_train, d), (n_test, d)
        Representations (e.g. posterior means) of the training pool and the test items.
    y_train, y_test : array-like of int, shape (n_train,), (n_test,)
        Class labels 0, 1, ...
    labels_per_class : sequence of int
        Counts of the few-label probe; counts larger than the smallest class are left out.
    repetitions : int
        Balanced label draws per count.
    c : float
        Inverse L2 strength of the probe (scikit-learn's ``C``; the paper's 10).
    knn_k : int or None
        Neighbours of the kNN probe on all training labels (None or 0: no kNN).
    knn_metric : {"euclidean", "cosine"}
    z_test_view2 : array-like of shape (n_test, d), optional
        The second view's test representations, row-aligned with ``z_test``: cross-view
        retrieval with ``z_test`` as queries and ``z_test_view2`` as the gallery.
    retrieval_k : int
        ``K`` of Precision@K.
    information_bound : bool
        Compute the ``I(y; z) >= H(y) - CE`` bound.
    seed : int
        Seed of the label draws.
    n_jobs : int, optional
        Threads (None or -1: all cores); results do not depend on it.

    Returns
    -------
    dict
        ``eval.json``'s content: ``linear_probe`` (list of ``labels_per_class``, ``mean``,
        ``std``, ``repetitions``), ``knn``, ``retrieval``, ``information_plane``,
        ``representation_dim``, ``n_train``, ``n_test``, ``seed``.
    """
    protocol = _protocol(
        labels_per_class, repetitions, c, knn_k, knn_metric, retrieval_k, information_bound, seed
    )
    return json.loads(
        _native.evaluate(
            _matrix(z_train, "z_train"),
            _labels(y_train, "y_train"),
            _matrix(z_test, "z_test"),
            _labels(y_test, "y_test"),
            protocol,
            None if z_test_view2 is None else _matrix(z_test_view2, "z_test_view2"),
            threads=_threads(n_jobs),
        )
    )


def evaluate_model(
    estimator: Any,
    train_views: Any,
    y_train: Any,
    test_views: Any,
    y_test: Any,
    *,
    labels_per_class: Sequence[int] = (1, 2, 5, 10, 100, 1000),
    repetitions: int = 20,
    c: float = 10.0,
    knn_k: int | None = 5,
    knn_metric: str = "euclidean",
    retrieval_k: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """What ``mib eval RUN`` computes for a fitted estimator, on the given splits: the
    protocol of :func:`evaluate` on the posterior means of the first training view, cross-view
    retrieval for two distinct views, and the information plane with both ``I(y; z)`` (probe
    bound) and ``I(x; z)`` (the encoder-density bounds on up to 2,000 test items: ``i_xz`` is
    the upper bound, ``i_xz_lower`` the lower one).

    Parameters
    ----------
    estimator : fitted mib estimator (``mib.MIB``, ...)
    train_views, test_views : list of array-like
        The views in training order (one array for a single-view or augmented model).
    y_train, y_test : array-like of int
        Class labels of the splits.

    Returns
    -------
    dict
        ``eval.json``'s content (the same numbers as ``mib eval`` on the saved run).
    """
    model = estimator._check_fitted()
    protocol = _protocol(
        labels_per_class, repetitions, c, knn_k, knn_metric, retrieval_k, True, seed
    )
    return json.loads(
        model.evaluate(
            _views(train_views, "train_views"),
            _labels(y_train, "y_train"),
            _views(test_views, "test_views"),
            _labels(y_test, "y_test"),
            protocol,
        )
    )


def linear_probe(
    z_train: Any,
    y_train: Any,
    z_test: Any,
    y_test: Any,
    labels_per_class: Sequence[int] = (1, 10, 100),
    repetitions: int = 10,
    seed: int = 0,
    c: float = 10.0,
    n_jobs: int | None = None,
) -> list[dict[str, Any]]:
    """The few-label linear probe alone (the paper's protocol: multinomial logistic regression,
    C = 10, MinMax scaling fitted on the labelled items, ``repetitions`` balanced draws of each
    count).

    Returns
    -------
    list of dict
        One per count: ``labels_per_class``, ``mean``, ``std`` (test accuracy, fractions),
        ``repetitions``.
    """
    r = evaluate(
        z_train,
        y_train,
        z_test,
        y_test,
        labels_per_class=_counts(labels_per_class, "labels_per_class"),
        repetitions=repetitions,
        c=c,
        knn_k=None,
        information_bound=False,
        seed=seed,
        n_jobs=n_jobs,
    )
    return r["linear_probe"]


def knn(
    z_train: Any,
    y_train: Any,
    z_test: Any,
    y_test: Any,
    k: int = 5,
    metric: str = "euclidean",
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """The kNN probe fitted on all training labels (majority vote of the ``k`` nearest; ties
    go to the nearest tied class).

    Returns
    -------
    dict
        ``k``, ``metric``, ``accuracy`` (``eval.json``'s ``knn``).
    """
    return json.loads(
        _native.knn(
            _matrix(z_train, "z_train"),
            _labels(y_train, "y_train"),
            _matrix(z_test, "z_test"),
            _labels(y_test, "y_test"),
            k=_positive(k, "k"),
            metric=str(metric),
            threads=_threads(n_jobs),
        )
    )


def retrieval(
    queries: Any,
    query_labels: Any,
    gallery: Any,
    gallery_labels: Any,
    k: int = 200,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Retrieval by Euclidean distance, relevant = same label (cross-view: queries from one
    view's encoder, the gallery from the other's). Ties keep gallery order; queries with no
    relevant item are left out and counted.

    Returns
    -------
    dict
        ``map_at_all``, ``precision_at_k``, ``k``, ``queries``, ``queries_without_relevant``
        (``eval.json``'s ``retrieval``).
    """
    return json.loads(
        _native.retrieval(
            _matrix(queries, "queries"),
            _labels(query_labels, "query_labels"),
            _matrix(gallery, "gallery"),
            _labels(gallery_labels, "gallery_labels"),
            k=_positive(k, "k"),
            threads=_threads(n_jobs),
        )
    )


def multilabel_probe(
    z_train: Any,
    t_train: Any,
    z_test: Any,
    t_test: Any,
    labelled: Sequence[int] = (100, 1000),
    repetitions: int = 10,
    seed: int = 0,
    c: float = 10.0,
    n_jobs: int | None = None,
) -> list[dict[str, Any]]:
    """The label-limited multi-label probe (as for MIR-Flickr in the paper): for each count in
    ``labelled``, ``repetitions`` uniform draws of that many training items; one-vs-rest
    logistic regressions fitted on them score the test set by label-wise mean average precision.

    Parameters
    ----------
    t_train, t_test : array-like of shape (n, n_labels)
        Multi-hot targets (an entry above 0.5 is positive).

    Returns
    -------
    list of dict
        One per count: ``labelled``, ``mean_map``, ``std``, ``repetitions`` (``eval.json``'s
        ``multilabel``).
    """
    ztr, zte = _matrix(z_train, "z_train"), _matrix(z_test, "z_test")
    ttr = _targets(t_train, "t_train", ztr.shape[0], "z_train")
    tte = _targets(t_test, "t_test", zte.shape[0], "z_test")
    return json.loads(
        _native.multilabel_probe(
            ztr,
            ttr,
            zte,
            tte,
            _counts(labelled, "labelled"),
            _positive(repetitions, "repetitions"),
            _probe(c),
            seed=int(seed),
            threads=_threads(n_jobs),
        )
    )


def multilabel_map(scores: Any, targets: Any) -> float:
    """Label-wise ("macro") mean average precision of ``scores`` (higher ranks first) against
    multi-hot ``targets``, both ``(n_items, n_labels)``; labels without a positive item are left
    out (NaN when none has one)."""
    s = _matrix(scores, "scores")
    return _native.multilabel_map(s, _targets(targets, "targets", s.shape[0], "scores"))


def label_information(
    z_train: Any,
    y_train: Any,
    z_test: Any,
    y_test: Any,
    c: float = 10.0,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """The variational lower bound ``I(y; z) >= H(y) - CE_test`` (Barber & Agakov): a linear
    probe fitted on all training labels, its test cross-entropy subtracted from the test label
    entropy.

    Returns
    -------
    dict
        ``i_yz`` and ``h_y`` (nats), ``i_yz_estimator`` (the name ``eval.json`` records).
    """
    i_yz, h_y = _native.label_information(
        _matrix(z_train, "z_train"),
        _labels(y_train, "y_train"),
        _matrix(z_test, "z_test"),
        _labels(y_test, "y_test"),
        _probe(c),
        threads=_threads(n_jobs),
    )
    return {"i_yz": i_yz, "h_y": h_y, "i_yz_estimator": _native.I_YZ_PROBE_BOUND}


def encoder_information_bounds(
    mean: Any, scale: Any = None, *, X: Any = None, view: int = 0, seed: int = 0
) -> dict[str, Any]:
    """Bounds on ``I(x; z)`` of a Gaussian encoder from its own density (Poole et al. 2019):
    with one sample ``z_i ~ p(z | x_i)`` per item and the mixture of the ``n`` posteriors as
    ``p(z)``, an InfoNCE-type lower bound (at most ``ln n``) and a leave-one-out upper bound.

    Call it with posterior means and scales (``encoder_information_bounds(mean, scale)``), or
    with a fitted estimator and inputs (``encoder_information_bounds(est, X=x, view=0)``).
    ``mib eval`` uses up to 2,000 test items; the cost is quadratic in ``n``.

    Returns
    -------
    dict
        ``lower``, ``upper`` (nats), ``n``, ``i_xz_estimator``.
    """
    if X is not None:
        if scale is not None:
            raise ConfigError("give either (mean, scale) or (estimator, X=...), not both")
        mean, scale = mean.posterior(X, view=view)
    elif scale is None:
        raise ConfigError("scale: missing (give posterior means and scales, or estimator, X=...)")
    m, s = _matrix(mean, "mean"), _matrix(scale, "scale")
    if m.shape != s.shape:
        raise ShapeError(f"scale: shape {s.shape}, mean has {m.shape}")
    lower, upper, n = _native.encoder_information_bounds(m, s, seed=int(seed))
    return {"lower": lower, "upper": upper, "n": n, "i_xz_estimator": _native.I_XZ_ENCODER_BOUNDS}


def permutation_test(
    model: Any,
    views: Any,
    y: Any = None,
    *,
    train_views: Any = None,
    y_train: Any = None,
    n: int = 100,
    seed: int = 0,
    c: float = 10.0,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Is the learned dependence real? The permutation tests of ``mib eval --permutations N``.

    - ``mutual_information``: the trained critic's estimate of ``I(z1; z2)`` (nats) on the
      held-out pairs ``views`` against ``n`` seeded random re-pairings (every view after the
      first shuffled); for MIB and MV-InfoMax, else None.
    - ``probe``: with ``y`` (labels of ``views``), ``train_views`` and ``y_train``: the test
      accuracy of a linear probe (C = ``c``) fitted on all training labels, on the first view's
      representations, against ``n`` label permutations (training and test labels each shuffled
      within their split); else None.

    Each test is a dict: ``observed``, ``null`` (the ``n`` null values), ``null_mean``,
    ``null_sd``, ``null_quantiles`` (``q`` and ``value`` at 5, 25, 50, 75, 95 %), ``null_max``
    and ``p_value = (1 + #{null >= observed}) / (n + 1)``.

    Parameters
    ----------
    model : fitted mib estimator, or the path of a run folder (read with :func:`mib.load_run`)
    views : list of array-like
        Held-out views in training order, rows paired.
    """
    from ._estimators import load_run

    if isinstance(model, (str, os.PathLike)):
        model = load_run(model, n_jobs=n_jobs)
    native = model._check_fitted()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(
            f"n={n!r}: a permutation test needs at least 1 permutation (e.g. 100; the smallest "
            f"p-value n permutations can give is 1 / (n + 1))"
        )
    arrays, _ = model._prepare_views(views, fitting=False)
    objective = json.loads(native.config_json)["model"]["objective"]
    mi = None
    if objective in ("mib", "mv-infomax"):
        if len(arrays) == 1 and model.augment is not None:
            # augmented views: the item against itself
            arrays = arrays * max(2, len(native.in_dims))
        mi = json.loads(native.mi_permutation_test(arrays, int(n), seed=int(seed)))
    probe = None
    given = [a is not None for a in (y, train_views, y_train)]
    if any(given) and not all(given):
        raise ConfigError("the probe's test needs y, train_views and y_train together")
    if all(given):
        (xtr,), _ = model._prepare_views(_views(train_views, "train_views")[:1], fitting=False)
        ztr = native.embed(0, xtr)
        zte = native.embed(0, arrays[0])
        probe = json.loads(
            _native.probe_permutation_test(
                ztr,
                _labels(y_train, "y_train"),
                zte,
                _labels(y, "y"),
                int(n),
                _probe(c),
                seed=int(seed),
                threads=_threads(n_jobs),
            )
        )
    return {"mutual_information": mi, "probe": probe}


# ---- run folders -------------------------------------------------------------------------------


def diagnose(run: str | os.PathLike[str], n_jobs: int | None = None) -> dict[str, Any]:
    """``mib doctor RUN``: what a run folder's metrics, checkpoints, representations (the
    posteriors of up to 2,000 test items, when its data loads) and ``eval.json`` say, with
    advice.

    Returns
    -------
    dict with ``summary`` (one line), ``findings`` (each with ``kind``, ``severity``
    (``info``, ``warning``, ``problem``), ``title``, ``saw``, ``advice``), ``passed`` and
    ``skipped`` (lists of lines)
    """
    return json.loads(_native.diagnose_run(os.fspath(run), threads=_threads(n_jobs)))


def beta_path(
    run: str | os.PathLike[str],
    labels_per_class: Sequence[int] = (1, 10),
    repetitions: int = 10,
    seed: int = 0,
    view: int = 0,
    n_jobs: int | None = None,
    save: bool = True,
) -> dict[str, Any]:
    """``mib eval RUN --beta-path``: evaluates the checkpoints a run kept along its beta ramp
    (``train.checkpoint_at_beta``) and its final model on the run's data: ``I(x;z)`` bounds,
    the ``I(y;z)`` bound, the few-label probe; names the best beta on the test split (accuracy
    at the largest ``labels_per_class``). With ``save``, writes ``RUN/beta_path.json`` (what
    ``mib report`` draws). Load the best with ``mib.load_run(run, checkpoint=...)``.

    Returns
    -------
    dict with ``points`` (each ``checkpoint``, ``iteration``, ``beta``, ``i_xz_lower``,
    ``i_xz_upper``, ``i_yz``, ``linear_probe``), ``best`` (index into points),
    ``best_labels_per_class``, ``h_y``, ``estimators``, ``params``
    """
    params = {
        "labels_per_class": _counts(labels_per_class, "labels_per_class"),
        "repetitions": _positive(repetitions, "repetitions"),
        "seed": int(seed),
        "view": int(view),
    }
    if int(view) < 0:
        raise ConfigError(f"view={view!r}: expected a training view (0, 1, ...)")
    text = _native.beta_path(os.fspath(run), json.dumps(params), threads=_threads(n_jobs))
    if save:
        out = os.path.join(os.fspath(run), "beta_path.json")
        try:
            with open(out, "w") as f:
                f.write(text + "\n")
        except OSError as e:
            raise _native.FileError(f"writing {out!r}: {e.strerror or e}") from None
    return json.loads(text)
