"""Shared helpers: the `mib` command-line tool the run-folder tests drive."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Small and quick: a few hundred iterations of a narrow model on mfeat's 1,500 items.
SMALL = dict(
    encoder_hidden=(64,),
    critic="separable",
    estimator="infonce",
    temperature=0.5,
    z_dim=8,
    lr=1e-3,
    beta=1e-3,
    iterations=200,
    batch_size=64,
    log_every=20,
    n_jobs=1,
)


def find_cli() -> str | None:
    """The `mib` binary: $MIB_BIN, else the workspace's build (release, then debug), else PATH."""
    env = os.environ.get("MIB_BIN")
    if env:
        return env
    for p in (ROOT / "target" / "release" / "mib", ROOT / "target" / "debug" / "mib"):
        if p.exists():
            return str(p)
    return shutil.which("mib")


@pytest.fixture(scope="session")
def cli() -> str:
    path = find_cli()
    if path is None:
        pytest.skip(
            "the `mib` command-line tool is not built (cargo build -p mib-cli, or set MIB_BIN)"
        )
    return path


@pytest.fixture
def small() -> dict:
    """Estimator parameters of a small, quick model."""
    return dict(SMALL)


@pytest.fixture(scope="module")
def small_module() -> dict:
    return dict(SMALL)
