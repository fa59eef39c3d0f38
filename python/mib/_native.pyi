"""Type stubs of the native extension ``mib._native`` (the Rust core)."""

from os import PathLike
from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt

__version__: str
I_YZ_PROBE_BOUND: str
I_XZ_ENCODER_BOUNDS: str

class MibError(ValueError): ...
class ConfigError(MibError): ...
class DataError(MibError): ...
class ShapeError(MibError): ...
class TrainingError(RuntimeError): ...
class FileError(OSError): ...

class Model:
    """A trained model (thread-safe; pickles through ``to_bytes``)."""

    @staticmethod
    def fit(
        config_json: str,
        views: Sequence[npt.NDArray[np.float32]],
        labels: npt.NDArray[np.int64] | None = None,
        image_shape: tuple[int, int] | None = None,
        view_names: Sequence[str] | None = None,
        callback: Callable[[dict[str, Any]], None] | None = None,
        missing: str | None = None,
        present: Sequence[npt.NDArray[np.bool_] | None] | None = None,
        view_image_shapes: Sequence[tuple[int, int, int] | None] | None = None,
    ) -> tuple[Model, list[dict[str, Any]], dict[str, Any], BaseException | None]: ...
    @staticmethod
    def open(
        path: str | PathLike[str], threads: int = 0, checkpoint: str | None = None
    ) -> Model: ...
    @staticmethod
    def from_bytes(data: bytes, threads: int = 0) -> Model: ...
    def to_bytes(self) -> bytes: ...
    def save(
        self,
        path: str | PathLike[str],
        history: Sequence[dict[str, Any]],
        overwrite: bool = False,
        data_json: str | None = None,
    ) -> None: ...
    def embed(
        self,
        view: int,
        x: npt.NDArray[np.float32],
        sample: bool = False,
        seed: int = 0,
        representation: str = "mean",
    ) -> npt.NDArray[np.float32]: ...
    def classify(self, view: int, x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint32]: ...
    def embed_fused(
        self,
        views: Sequence[npt.NDArray[np.float32]],
        fuse: str,
        present: Sequence[npt.NDArray[np.bool_] | None] | None = None,
    ) -> npt.NDArray[np.float32]: ...
    def posterior(
        self, view: int, x: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
    def to_onnx(
        self, view: int, output: str = "mean", path: str | PathLike[str] | None = None
    ) -> bytes: ...
    def evaluate(
        self,
        train_views: Sequence[npt.NDArray[np.float32]],
        y_train: npt.NDArray[np.int64],
        test_views: Sequence[npt.NDArray[np.float32]],
        y_test: npt.NDArray[np.int64],
        protocol_json: str,
    ) -> str: ...
    def evaluate_pairs(
        self,
        views: Sequence[npt.NDArray[np.float32]],
        labels: npt.NDArray[np.int64] | None = None,
        seed: int = 0,
    ) -> dict[str, float]: ...
    def feature_attribution(
        self, view: int, x: npt.NDArray[np.float32], method: str = "grad-x-input", steps: int = 32
    ) -> tuple[
        npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32], float | None
    ]: ...
    def mi_permutation_test(
        self, views: Sequence[npt.NDArray[np.float32]], n: int, seed: int = 0
    ) -> str: ...
    def set_threads(self, threads: int) -> None: ...
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    @property
    def config_json(self) -> str: ...
    @property
    def in_dims(self) -> list[int]: ...
    @property
    def view_names(self) -> list[str]: ...
    @property
    def z_dim(self) -> int: ...
    @property
    def iteration(self) -> int: ...
    @property
    def n_classes(self) -> int: ...
    @property
    def threads(self) -> int: ...

def default_config() -> str: ...
def config_choices() -> dict[str, Any]: ...
def check_augment(steps_json: str) -> None: ...
def resolve_config(json: str) -> str: ...
def config_from_toml(toml_text: str, origin: str = "config") -> str: ...
def config_to_toml(json: str) -> str: ...
def preset(name: str) -> str: ...
def preset_names() -> list[str]: ...
def read_metrics(path: str | PathLike[str]) -> list[dict[str, Any]]: ...
def diagnose_run(path: str | PathLike[str], threads: int = 0) -> str: ...
def diagnose(
    config_json: str,
    history_json: str,
    mean: npt.NDArray[np.float32] | None = None,
    scale: npt.NDArray[np.float32] | None = None,
    finished: bool | None = None,
) -> str: ...
def beta_path(path: str | PathLike[str], params_json: str, threads: int = 0) -> str: ...
def plot_beta_path(report_json: str, kind: str = "plane", format: str = "png") -> bytes: ...
def load_dataset(
    name: str, views: Sequence[str] | None = None, data_dir: str | PathLike[str] | None = None
) -> dict[str, Any]: ...
def evaluate(
    z_train: npt.NDArray[np.float32],
    y_train: npt.NDArray[np.int64],
    z_test: npt.NDArray[np.float32],
    y_test: npt.NDArray[np.int64],
    protocol_json: str,
    z_test_view2: npt.NDArray[np.float32] | None = None,
    threads: int = 0,
) -> str: ...
def knn(
    z_train: npt.NDArray[np.float32],
    y_train: npt.NDArray[np.int64],
    z_test: npt.NDArray[np.float32],
    y_test: npt.NDArray[np.int64],
    k: int = 5,
    metric: str = "euclidean",
    threads: int = 0,
) -> str: ...
def probe_permutation_test(
    z_train: npt.NDArray[np.float32],
    y_train: npt.NDArray[np.int64],
    z_test: npt.NDArray[np.float32],
    y_test: npt.NDArray[np.int64],
    n: int,
    probe_json: str,
    seed: int = 0,
    threads: int = 0,
) -> str: ...
def retrieval(
    queries: npt.NDArray[np.float32],
    query_labels: npt.NDArray[np.int64],
    gallery: npt.NDArray[np.float32],
    gallery_labels: npt.NDArray[np.int64],
    k: int = 200,
    threads: int = 0,
) -> str: ...
def multilabel_probe(
    z_train: npt.NDArray[np.float32],
    t_train: npt.NDArray[np.float32],
    z_test: npt.NDArray[np.float32],
    t_test: npt.NDArray[np.float32],
    labelled: Sequence[int],
    repetitions: int,
    probe_json: str,
    seed: int = 0,
    threads: int = 0,
) -> str: ...
def multilabel_map(scores: npt.NDArray[np.float32], targets: npt.NDArray[np.float32]) -> float: ...
def label_information(
    z_train: npt.NDArray[np.float32],
    y_train: npt.NDArray[np.int64],
    z_test: npt.NDArray[np.float32],
    y_test: npt.NDArray[np.int64],
    probe_json: str,
    threads: int = 0,
) -> tuple[float, float]: ...
def encoder_information_bounds(
    mean: npt.NDArray[np.float32], scale: npt.NDArray[np.float32], seed: int = 0, threads: int = 0
) -> tuple[float, float, int]: ...
def plot_accuracy_vs_labels(runs: Sequence[tuple[str, str]], format: str = "png") -> bytes: ...
def plot_information_plane(
    points: Sequence[tuple[str, float, float]], h_y: float | None = None, format: str = "png"
) -> bytes: ...
def plot_training_curves(jsonl: str, format: str = "png") -> bytes: ...
def plot_pca_scatter(
    x: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    max_points: int = 2000,
    format: str = "png",
) -> bytes: ...
def augment(
    images: npt.NDArray[np.float32],
    h: int,
    w: int,
    steps_json: str,
    seed: int = 0,
    threads: int = 0,
) -> npt.NDArray[np.float32]: ...
