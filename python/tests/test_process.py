"""Processes: Ctrl-C during fit, a forked child, threads of the pool."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mib


def _child_transform(est, x, q):
    q.put(est.transform_view(x))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_neither_hangs_nor_crashes(small):
    rng = np.random.default_rng(0)
    views = [rng.normal(size=(300, 10)).astype(np.float32) for _ in range(2)]
    est = mib.MIB(**{**small, "iterations": 20, "n_jobs": 2}).fit(views)
    ref = est.transform_view(views[0])  # the parent's pool threads are running now
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_transform, args=(est, views[0], q))
    p.start()
    out = q.get(timeout=60)
    p.join(timeout=60)
    assert p.exitcode == 0
    np.testing.assert_array_equal(out, ref)
    # and a child can train too
    p = ctx.Process(target=lambda: mib.MIB(**{**small, "iterations": 10}).fit(views))
    p.start()
    p.join(timeout=60)
    assert p.exitcode == 0


def test_ctrl_c_raises_keyboard_interrupt_and_keeps_the_model(tmp_path):
    script = textwrap.dedent("""
        import faulthandler, signal, sys, time, numpy as np, mib
        # A hang shows every thread's stack in the failure instead of a bare timeout.
        faulthandler.dump_traceback_later(25, exit=True)
        # Python leaves SIGINT ignored when it starts with it ignored (a job started in the
        # background by a shell without job control, as CI runners may do): Ctrl-C's handler.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        rng = np.random.default_rng(0)
        views = [rng.normal(size=(2000, 200)).astype(np.float32) for _ in range(2)]
        est = mib.MIB(encoder_hidden=(512, 512), critic_hidden=(512,), z_dim=16,
                      iterations=1_000_000, log_every=10, n_jobs=1)
        print("fitting", flush=True)
        t0 = time.time()
        try:
            est.fit(views)
        except KeyboardInterrupt:
            print(f"interrupted {time.time():.3f} n_iter {est.n_iter_} "
                  f"finite {bool(np.isfinite(est.transform_view(views[0][:5])).all())}", flush=True)
            sys.exit(0)
        print("finished", flush=True)
        """)
    import time

    p = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout.readline().strip() == "fitting"
        time.sleep(2.0)
        t_sig = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=40)
    finally:
        p.kill()
    assert p.returncode == 0, out + err
    words = out.split()
    assert words[0] == "interrupted", out
    assert float(words[1]) - t_sig < 1.0, f"took {float(words[1]) - t_sig:.2f} s"
    assert int(words[3]) > 0 and words[5] == "True", out
