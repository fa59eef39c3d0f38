"""The .npz fixtures of crates/mib/tests/data_npz.rs (needs numpy):

    python make_npz_fixtures.py

views.npz (np.savez, stored) and views_compressed.npz (np.savez_compressed, deflated) hold the same
arrays: a [6, 4] float16, b [6, 3] uint8, c [6, 2] int8, y [6] int64 (0, 1, 2, 0, 1, 2);
views_a_f32.txt is `a` widened to float32, the values the reader must give.
"""
import numpy as np

r = np.random.default_rng(3)
a = r.normal(size=(6, 4)).astype(np.float16)
b = r.integers(0, 255, size=(6, 3)).astype(np.uint8)
c = r.integers(-128, 127, size=(6, 2)).astype(np.int8)
y = np.arange(6) % 3
np.savez("views.npz", a=a, b=b, c=c, y=y)
np.savez_compressed("views_compressed.npz", a=a, b=b, c=c, y=y)
np.savetxt("views_a_f32.txt", a.astype(np.float32), fmt="%.9g")
