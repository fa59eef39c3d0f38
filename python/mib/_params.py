"""Checks of the estimators' constructor parameters, before any config is built.

One table (:data:`CHECKS`): parameter -> checker. A checker returns ``None`` when the value is
accepted, else what is accepted (``"a positive integer"``), which :func:`validate` turns into
``ConfigError("iterations=-5: expected a positive integer")``. The ranges are those of the Rust
config's ``validate`` functions (``mib::config``, ``mib::objectives::config``,
``mib::train::schedule``); the names of the named choices (critics, estimators, schedule kinds,
...) are read from the native module (``_native.config_choices``), so both sides accept the same.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _native
from ._native import ConfigError

# Integer fields are u64 or usize in Rust, but every config goes through TOML (configs, run
# folders, and the JSON the estimators pass), whose integers are i64: 2**63 and above do not fit.
U64 = 2**63
USIZE = U64
F32_MAX = float(np.finfo(np.float32).max)

Checker = Callable[[Any], "str | None"]


@functools.cache
def choices() -> dict[str, Any]:
    """The names each named choice accepts, from the native module (read once)."""
    return _native.config_choices()


def show(v: Any) -> str:
    """``v`` as the messages write it (a NumPy scalar as the Python number it holds)."""
    if isinstance(v, np.generic):
        v = v.item()
    return repr(v)


def is_int(v: Any) -> bool:
    """An integer, Python's or NumPy's; never a bool (``True`` is not a width)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v: Any) -> bool:
    """A real number (int or float, Python's or NumPy's); never a bool."""
    return (is_int(v) or isinstance(v, (float, np.floating))) and not isinstance(v, np.bool_)


def _int_in(lo: int, hi: int, what: str) -> Checker:
    """An integer in ``[lo, hi)``."""

    def check(v: Any) -> str | None:
        return None if is_int(v) and lo <= int(v) < hi else what

    return check


def positive_int(hi: int = U64) -> Checker:
    what = (
        "a positive integer" if hi == U64 else f"a positive integer below 2**{hi.bit_length() - 1}"
    )
    return _int_in(1, hi, what)


def _f32(v: Any) -> float | None:
    """``v`` as the Rust side stores it (``f32``), or None when it is not a finite number there."""
    if not is_number(v):
        return None
    x = float(v)
    if not math.isfinite(x) or abs(x) > F32_MAX:
        return None
    return float(np.float32(x))


def number(
    *, lo: float = -math.inf, lo_open: bool = False, hi: float = math.inf, f32: bool = True
) -> Checker:
    """A finite number in the range (``f32``: as it reads back as a 32-bit float, the type of
    the Rust field)."""
    parts = []
    if lo > -math.inf:
        parts.append(f"> {lo:g}" if lo_open else f">= {lo:g}")
    if hi < math.inf:
        parts.append(f"< {hi:g}")
    what = "a finite number" + (" " + " and ".join(parts) if parts else "")
    if lo > -math.inf and hi < math.inf and not lo_open:
        what = f"a finite number in [{lo:g}, {hi:g})"

    def check(v: Any) -> str | None:
        x = _f32(v) if f32 else (float(v) if is_number(v) else None)
        if x is None or not math.isfinite(x):
            return what
        if x < lo or (lo_open and x == lo) or x >= hi:
            return what
        return None

    return check


def optional(check: Checker) -> Checker:
    def opt(v: Any) -> str | None:
        what = check(v) if v is not None else None
        return None if what is None else f"None or {what}"

    return opt


def one_of(key: str, *, allow_none: bool = False, extra: tuple[str, ...] = ()) -> Checker:
    """One of the names of the named choice ``key`` (read from the native module)."""

    def check(v: Any) -> str | None:
        names = list(extra) + list(choices()[key])
        if (v is None and allow_none) or (isinstance(v, str) and v in names):
            return None
        listed = ", ".join(repr(n) for n in names)
        return ("None or " if allow_none else "") + f"one of {listed}"

    return check


def widths(*, allow_empty: bool = True) -> Checker:
    """A list of positive integers (layer widths)."""

    def check(v: Any) -> str | None:
        what = "a list of positive integers (layer widths)"
        if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
            return what
        if isinstance(v, np.ndarray) and v.ndim != 1:
            return what
        items = list(v)
        if not items and not allow_empty:
            return what
        return None if all(is_int(x) and 1 <= int(x) < USIZE for x in items) else what

    return check


def flag(v: Any) -> str | None:
    return None if isinstance(v, (bool, np.bool_)) else "True or False"


def shared_encoder(v: Any) -> str | None:
    return None if v is None or isinstance(v, (bool, np.bool_)) else "None, True or False"


def verbose(v: Any) -> str | None:
    ok = isinstance(v, (bool, np.bool_)) or (is_int(v) and int(v) >= 0)
    return None if ok else "True, False or an integer >= 0"


def n_jobs(v: Any) -> str | None:
    # None, 0 or -1: all cores; -2: all but one (scikit-learn's convention); n > 0: n threads
    ok = v is None or (is_int(v) and -1024 <= int(v) <= 1024)
    return None if ok else "None, -1 (all cores) or a positive integer up to 1024"


def seed(v: Any) -> str | None:
    return None if is_int(v) and 0 <= int(v) < U64 else "an integer in [0, 2**63)"


def batch_size(v: Any) -> str | None:
    ok = v is None or (is_int(v) and 2 <= int(v) < USIZE)
    return None if ok else "None or an integer >= 2 (the critic needs a negative pair)"


def image_shape(v: Any) -> str | None:
    what = "None, (height, width) or (channels, height, width) of positive integers"
    if v is None:
        return None
    try:
        dims = tuple(v)
    except TypeError:
        return what
    ok = len(dims) in (2, 3) and all(is_int(x) and 1 <= int(x) < USIZE for x in dims)
    return None if ok else what


def augment_views(v: Any) -> str | None:
    top = int(choices()["max_augment_views"])
    return None if is_int(v) and 2 <= int(v) <= top else f"an integer from 2 to {top}"


def scaling(v: Any) -> str | None:
    kinds = list(choices()["scaling"])
    if isinstance(v, str) and (v == "auto" or v in kinds):
        return None
    if isinstance(v, (list, tuple)) and v and all(isinstance(k, str) and k in kinds for k in v):
        return None
    listed = ", ".join(repr(k) for k in ["auto", *kinds])
    return f"one of {listed}, or a list with one of the last {len(kinds)} per view"


_ENCODER_KEYS = {
    "kind",
    "channels",
    "strides",
    "kernel",
    "padding",
    "norm",
    "pool",
    "image_shape",
    "hidden",
}


def is_per_view_encoder(v: Any) -> bool:
    """Whether ``encoder=`` is given per view: a list (one entry per view) or a dict without
    ``kind`` (keyed by view name or index)."""
    return isinstance(v, (list, tuple)) or (isinstance(v, dict) and "kind" not in v)


# The value types of an encoder dict; the values themselves (ranges, shapes) are checked by the
# Rust side's own validation, whose key is reported as encoder['kernel'] and so on.
_ENCODER_LISTS = ("channels", "strides", "image_shape", "hidden")
_ENCODER_INTS = ("kernel", "padding")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _encoder_problem(v: Any) -> str | None:
    """None for a valid single encoder; else what is wrong ("" when it is not one at all)."""
    if v is None or (isinstance(v, str) and v in ("mlp", "conv")):
        return None
    if not (isinstance(v, dict) and v.get("kind") in ("mlp", "conv") and set(v) <= _ENCODER_KEYS):
        return ""
    for key in _ENCODER_LISTS:
        x = v.get(key)
        if x is not None and not (isinstance(x, (list, tuple)) and all(_is_int(i) for i in x)):
            return f"{key!r}={show(x)} is not a list of integers"
    for key in _ENCODER_INTS:
        x = v.get(key)
        if x is not None and not _is_int(x):
            return f"{key!r}={show(x)} is not an integer"
    if "norm" in v and not isinstance(v["norm"], bool):
        return f"'norm'={show(v['norm'])} is not True or False"
    if "pool" in v and not isinstance(v["pool"], str):
        return f"'pool'={show(v['pool'])} is not a string"
    return None


def encoder(v: Any) -> str | None:
    what = (
        "None (an MLP), 'mlp', 'conv', or a dict such as {'kind': 'conv', 'channels': [32, 64], "
        "'strides': [2, 2], 'image_shape': [1, 28, 28]} (keys: "
        + ", ".join(sorted(_ENCODER_KEYS))
        + "); or one of these per view: a list (one per view) or a dict keyed by view name or "
        "index ('*': the other views), e.g. {'pix': 'conv', 'fou': 'mlp'}"
    )
    if is_per_view_encoder(v):
        items = list(enumerate(v)) if isinstance(v, (list, tuple)) else list(v.items())
        if not items:
            return what
        for key, e in items:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                return what
            problem = _encoder_problem(e)
            if problem == "":
                return f"{what}; the entry for view {key!r} is not one"
            if problem is not None:
                return f"{what}; the entry for view {key!r}: {problem}"
        return None
    problem = _encoder_problem(v)
    if problem is None:
        return None
    return f"{what}; {problem}" if problem else what


def augment(v: Any) -> str | None:
    # A preset name is resolved (and its error raised) where it is read, _augment_steps; steps
    # are checked by the Rust side's own reader, which names the step and key.
    if v is None or isinstance(v, str):
        return None
    what = "None, a preset name such as 'mnist', or a list of steps (dicts)"
    if isinstance(v, dict) and "steps" in v:
        v = v["steps"]
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, dict) for s in v):
        return what
    try:
        _native.check_augment(json.dumps({"steps": [dict(s) for s in v]}, default=_plain))
    except (ConfigError, TypeError, ValueError) as e:
        return f"{what}; {e}"
    return None


def _plain(v: Any) -> Any:
    """NumPy scalars and arrays inside step dicts as the JSON numbers and lists they hold."""
    if isinstance(v, (np.generic, np.ndarray)):
        return v.tolist()
    raise TypeError(f"{show(v)} is not a number")


def beta(v: Any) -> str | None:
    what = (
        "None, a finite number >= 0 (constant beta) or a schedule dict such as "
        "{'kind': 'exponential', 'start': 1e-3, 'end': 1.0, 'start_iteration': 1000, "
        "'n_iterations': 2000}"
    )
    if v is None:
        return None
    if is_number(v):
        x = float(v)
        return None if math.isfinite(x) and x >= 0 else what
    if not isinstance(v, dict):
        return what
    kinds: dict[str, dict[str, tuple[str, bool]]] = choices()["beta"]
    kind = v.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        return f"a schedule whose 'kind' is one of {', '.join(repr(k) for k in kinds)}"
    keys = kinds[kind]
    unknown = sorted(str(k) for k in v if k != "kind" and k not in keys)
    if unknown:
        return f"a {kind} schedule with keys {sorted(keys)} (unknown: {', '.join(unknown)})"
    missing = sorted(k for k, (_, required) in keys.items() if required and k not in v)
    if missing:
        return f"a {kind} schedule with keys {sorted(keys)} (missing: {', '.join(missing)})"
    # mib::train::schedule::BetaSchedule::validate: values finite and >= 0; the exponential
    # schedule's start, end and base > 0, its base not 1
    positive = kind == "exponential"
    for k, (ty, _) in keys.items():
        if k not in v:
            continue
        x = v[k]
        if ty == "int":
            if not (is_int(x) and 0 <= int(x) < U64):
                return f"a {kind} schedule whose {k}={show(x)} is an integer in [0, 2**63)"
        else:
            bad = not is_number(x) or not math.isfinite(float(x)) or float(x) < 0
            bad = bad or (positive and float(x) == 0)
            if bad or (k == "base" and float(x) == 1.0):
                need = "> 0" if positive else ">= 0"
                extra = " and not 1" if k == "base" else ""
                return f"a {kind} schedule whose {k}={show(x)} is a finite number {need}{extra}"
    return None


# Parameter -> checker, for every constructor parameter of the estimators.
CHECKS: dict[str, Checker] = {
    "z_dim": positive_int(USIZE),
    "encoder_hidden": widths(),
    "encoder_norm": one_of("encoder_norm"),
    "encoder": encoder,
    "shared_encoder": shared_encoder,
    "critic": one_of("critic", allow_none=True),
    "critic_hidden": widths(),
    "projection": widths(),
    "temperature": number(lo=0, lo_open=True),
    "estimator": one_of("estimator", allow_none=True),
    "skl": one_of("skl"),
    "decoder_hidden": widths(),
    "decoder_scale": number(lo=0, lo_open=True),
    "lr": number(lo=0),
    "lr_encoder": optional(number(lo=0)),
    "lr_critic": optional(number(lo=0)),
    "lr_decoder": optional(number(lo=0)),
    "beta1": number(lo=0, hi=1),
    "beta2": number(lo=0, hi=1),
    "eps": number(lo=0, lo_open=True),
    "beta": beta,
    "iterations": positive_int(),
    "batch_size": batch_size,
    "log_every": positive_int(),
    "max_nonfinite": positive_int(),
    "augment": augment,
    "augment_views": augment_views,
    "image_shape": image_shape,
    "scaling": scaling,
    "representation": one_of("representation"),
    "label_weight": number(lo=0),
    "seed": seed,
    "n_jobs": n_jobs,
    "verbose": verbose,
}


def validate(params: dict[str, Any], objective: str) -> None:
    """Raises ``ConfigError`` naming the first parameter (in the table's order) whose value is
    not accepted, the value, and what is accepted."""
    for name, check in CHECKS.items():
        if name not in params:
            continue
        v = params[name]
        what = check(v)
        if what is not None:
            raise ConfigError(f"{name}={show(v)}: expected {what}")
    # what one parameter cannot say alone (mib::objectives::ModelConfig::validate)
    if objective == "infomax" and params.get("critic") == "separable":
        raise ConfigError(
            "critic='separable': InfoMax's critic compares z with x (different widths); "
            "expected 'mlp' (or None)"
        )
