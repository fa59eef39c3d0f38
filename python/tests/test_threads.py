"""One estimator shared by Python threads: concurrent ``transform``, ``posterior`` and ``score``
give what serial calls give, and a refit while other threads transform corrupts neither."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import mib

PARAMS = dict(
    encoder_hidden=(16,),
    critic_hidden=(16,),
    z_dim=4,
    iterations=30,
    batch_size=32,
    log_every=10,
    n_jobs=2,
    seed=3,
)
N_THREADS = 8


@pytest.fixture(scope="module")
def views():
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(300, 12)).astype(np.float32)
    x2 = (x1[:, :6] + 0.1 * rng.normal(size=(300, 6))).astype(np.float32)
    return [x1, x2]


@pytest.fixture(scope="module")
def fitted(views):
    return mib.MIB(**PARAMS).fit(views)


def _calls(est, views):
    """Every read-only call of a fitted estimator, by name."""
    return {
        "transform": lambda: est.transform(views),
        "transform_view1": lambda: [est.transform_view(views[1], view=1)],
        "sample": lambda: [est.transform_view(views[0], sample=True)],
        "posterior": lambda: list(est.posterior(views[1], view=1)),
        "score": lambda: [np.array(est.score(views))],
    }


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_concurrent_calls_equal_serial_ones(fitted, views):
    calls = _calls(fitted, views)
    serial = {name: f() for name, f in calls.items()}
    # every call, 4 times each, from 8 threads at once (started together)
    jobs = [name for name in calls for _ in range(4)] * 2
    start = threading.Barrier(N_THREADS)

    def run(name):
        try:
            start.wait(timeout=0.5)
        except threading.BrokenBarrierError:
            pass
        return name, calls[name]()

    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(run, jobs))
    assert len(results) == len(jobs)
    for name, out in results:
        assert _same(out, serial[name]), name


@pytest.mark.parametrize("what", ["transform", "posterior", "score"])
def test_each_call_from_8_threads(fitted, views, what):
    f = _calls(fitted, views)[what]
    expected = f()
    with ThreadPoolExecutor(N_THREADS) as pool:
        outs = list(pool.map(lambda _: f(), range(3 * N_THREADS)))
    assert all(_same(o, expected) for o in outs)


def test_refit_while_other_threads_transform(views):
    est = mib.MIB(**PARAMS).fit(views)
    old = est.transform(views)
    new_params = dict(PARAMS, seed=4, iterations=400)
    fresh = mib.MIB(**new_params).fit(views)
    new = fresh.transform(views)
    assert not _same(old, new)

    done = threading.Event()
    seen: list[str] = []
    errors: list[BaseException] = []

    def reader():
        while not done.is_set():
            try:
                z = est.transform(views)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return
            seen.append("old" if _same(z, old) else "new" if _same(z, new) else "other")

    with ThreadPoolExecutor(N_THREADS - 1) as pool:
        readers = [pool.submit(reader) for _ in range(N_THREADS - 1)]
        try:
            est.set_params(**new_params).fit(views)
            time.sleep(0.1)  # the readers go on a while with the new model
        finally:
            done.set()
        for r in readers:
            r.result()
    assert not errors, errors
    assert "other" not in seen, seen.count("other")
    assert seen.count("old") > 0  # the readers ran during the refit
    assert seen.count("new") > 0  # and after it
    # after the refit: the new model, the same as a fresh fit with the same seed
    assert _same(est.transform(views), new)
    assert est.score(views) == fresh.score(views)
    assert est.n_iter_ == 400
    assert _same(list(est.posterior(views[0])), list(fresh.posterior(views[0])))


def test_two_estimators_fit_at_once(views):
    """Fits release the interpreter; two at once give what each gives alone."""
    alone = [mib.MIB(**dict(PARAMS, seed=s)).fit(views).transform(views) for s in (5, 6)]
    with ThreadPoolExecutor(2) as pool:
        both = list(
            pool.map(lambda s: mib.MIB(**dict(PARAMS, seed=s)).fit(views).transform(views), (5, 6))
        )
    assert all(_same(a, b) for a, b in zip(alone, both))
