"""Settings that ask for more memory than the machine has raise ConfigError naming the Python
parameter, the bytes needed and the bytes available, before anything is allocated: the
interpreter (this pytest process) survives them."""

from __future__ import annotations

import numpy as np
import pytest

import mib
from mib import ConfigError


def _views(n: int = 60) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.normal(size=(n, 8)).astype(np.float32),
        rng.normal(size=(n, 6)).astype(np.float32),
    ]


HUGE = 2**40


@pytest.mark.parametrize(
    ("cls", "params", "name"),
    [
        (mib.MIB, {"encoder_hidden": (HUGE,)}, "encoder_hidden"),
        (mib.MIB, {"z_dim": HUGE}, "z_dim"),
        (mib.MIB, {"critic": "mlp", "critic_hidden": (HUGE,)}, "critic_hidden"),
        (mib.MIB, {"critic": "separable", "projection": (HUGE,)}, "projection"),
        (mib.MVInfoMax, {"encoder_hidden": (64, HUGE)}, "encoder_hidden"),
        (mib.BetaVAE, {"decoder_hidden": (HUGE,)}, "decoder_hidden"),
    ],
)
def test_a_step_beyond_the_machine_is_refused(cls: type, params: dict, name: str) -> None:
    views = _views()
    X = views if cls in (mib.MIB, mib.MVInfoMax) else views[0]
    with pytest.raises(ConfigError) as e:
        cls(iterations=2, **params).fit(X)
    msg = str(e.value)
    assert msg.startswith(f"{name}="), msg
    assert "would need" in msg and "available" in msg, msg
    assert "\n" not in msg


def test_the_estimator_still_fits_after_a_refusal() -> None:
    est = mib.MIB(iterations=2, z_dim=HUGE)
    with pytest.raises(ConfigError):
        est.fit(_views())
    est.set_params(z_dim=4).fit(_views())
    assert est.transform(_views())[0].shape == (60, 4)


def test_a_batch_larger_than_the_items_names_both() -> None:
    with pytest.raises(ConfigError, match=r"batch_size=100000: .*60 items"):
        mib.MIB(iterations=2, batch_size=100_000).fit(_views())
