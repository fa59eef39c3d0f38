//! `mib._native`: the Python bindings of `mib`, a thin layer over the library facade
//! ([`mib::train::fit`], [`mib::models::TrainedModel`], [`mib::train::RunFolder`]).
//!
//! A few coarse calls (fit, embed, score, load/save, bytes for pickling) and no per-step calls. The
//! GIL is released around training and embedding; compute runs on the model's own pool
//! ([`mib::pool::ComputePool`], rebuilt in a forked child); Python is only called back from the
//! thread that called `fit` (progress and `KeyboardInterrupt`, between steps). The scikit-learn
//! classes live in the pure-Python layer (`python/mib/`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use mib::config::TrainConfig;
use mib::data::MultiViewDataset;
use mib::matrix::SharedF32;
use mib::models::TrainedModel;
use mib::train::{MetricsRecord, RunFolder, TrainObserver};
use mib::{Error, Matrix, MibRng};
use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rand::SeedableRng;

create_exception!(
    _native,
    MibError,
    PyValueError,
    "Base class of the errors `mib` raises for bad input (a ValueError)."
);
create_exception!(
    _native,
    ConfigError,
    MibError,
    "A configuration key or value that is unknown, out of range or inconsistent."
);
create_exception!(
    _native,
    DataError,
    MibError,
    "Data that cannot be used: NaN or infinite values, bad labels, a corrupt file."
);
create_exception!(
    _native,
    ShapeError,
    MibError,
    "Arrays whose shapes do not fit: rows that differ between views, a view of the wrong width."
);
create_exception!(
    _native,
    TrainingError,
    PyRuntimeError,
    "Training failed (diverged: too many non-finite losses in a row)."
);
create_exception!(
    _native,
    FileError,
    PyOSError,
    "A file or folder could not be read or written."
);

/// The library's error as the Python exception of its kind.
fn py_err(e: Error) -> PyErr {
    with_context(e, "")
}

/// [`py_err`] with `context: ` before the message (when `context` is not empty).
fn with_context(e: Error, context: &str) -> PyErr {
    let msg = if context.is_empty() {
        e.to_string()
    } else {
        format!("{context}: {e}")
    };
    match e {
        Error::Config { .. } => ConfigError::new_err(msg),
        Error::Shape { .. } => ShapeError::new_err(msg),
        Error::Io { .. } => FileError::new_err(msg),
        Error::Diverged(_) => TrainingError::new_err(msg),
        _ => DataError::new_err(msg),
    }
}

trait IntoPy<T> {
    fn py(self) -> PyResult<T>;
}
impl<T> IntoPy<T> for mib::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(py_err)
    }
}

/// A C-contiguous float32 NumPy array, shared with the library without a copy. The array object
/// is kept alive (and so its buffer) as long as the matrix that reads it.
struct NumpyF32 {
    _owner: Py<PyArray2<f32>>,
    ptr: *const f32,
    len: usize,
}

// SAFETY: the buffer is owned by the NumPy array `_owner` keeps alive; it is only read. (Python
// code that writes to the array while `mib` reads it races, as with any library that releases the
// GIL; the docs say not to.)
unsafe impl Send for NumpyF32 {}
unsafe impl Sync for NumpyF32 {}
unsafe impl SharedF32 for NumpyF32 {
    fn as_slice(&self) -> &[f32] {
        // SAFETY: ptr/len describe the live, contiguous buffer of `_owner`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A matrix over `arr`'s buffer (no copy). `name` names the array in errors.
fn shared_matrix(arr: &Bound<'_, PyArray2<f32>>, name: &str) -> PyResult<Matrix> {
    if !arr.is_c_contiguous() {
        return Err(ShapeError::new_err(format!(
            "{name}: must be C-contiguous (use numpy.ascontiguousarray)"
        )));
    }
    let (rows, cols) = (arr.shape()[0], arr.shape()[1]);
    let ro = arr.try_readonly().map_err(|e| {
        DataError::new_err(format!(
            "{name}: cannot be read while it is borrowed mutably: {e}"
        ))
    })?;
    let slice = ro
        .as_slice()
        .map_err(|e| ShapeError::new_err(format!("{name}: {e}")))?;
    let buf = NumpyF32 {
        _owner: arr.clone().unbind(),
        ptr: slice.as_ptr(),
        len: slice.len(),
    };
    Matrix::shared(rows, cols, Arc::new(buf)).py()
}

fn matrix_to_numpy<'py>(py: Python<'py>, m: Matrix) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (r, c) = (m.rows, m.cols);
    let a = Array2::from_shape_vec((r, c), m.data.into_vec())
        .map_err(|e| DataError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

fn record_dict<'py>(py: Python<'py>, r: &MetricsRecord) -> PyResult<Bound<'py, PyDict>> {
    let json = serde_json::to_string(r).map_err(|e| DataError::new_err(e.to_string()))?;
    py.import("json")?
        .call_method1("loads", (json,))?
        .cast_into::<PyDict>()
        .map_err(PyErr::from)
}

/// Reports progress to a Python callable and turns Ctrl-C into a clean stop: called on the thread
/// that called `fit` (attached to the interpreter only for the call-backs).
struct PyObserver {
    callback: Option<Py<PyAny>>,
    last_check: Instant,
    error: Option<PyErr>,
}

impl TrainObserver for PyObserver {
    fn on_log(&mut self, record: &MetricsRecord) {
        let Some(cb) = &self.callback else { return };
        if self.error.is_some() {
            return;
        }
        let r = Python::attach(|py| -> PyResult<()> {
            cb.call1(py, (record_dict(py, record)?,))?;
            Ok(())
        });
        if let Err(e) = r {
            self.error = Some(e);
        }
    }
    fn should_stop(&mut self, _iteration: u64) -> bool {
        if self.error.is_none() && self.last_check.elapsed() >= Duration::from_millis(50) {
            self.last_check = Instant::now();
            if let Err(e) = Python::attach(|py| py.check_signals()) {
                self.error = Some(e);
            }
        }
        self.error.is_some()
    }
}

/// Two arrays (posterior means and scales).
type Pair<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<f32>>);
/// Importance, signed attribution and loadings (`[n_features, z_dim]` each), and the
/// completeness gap of integrated gradients.
type Attribution<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Option<f64>,
);

/// A trained `mib` model (the library's `TrainedModel`), safe to share between Python threads:
/// its calls take turns (the model keeps per-call buffers), each waiting for the one before it
/// with the interpreter released.
#[pyclass(module = "mib._native", frozen)]
struct Model {
    inner: Mutex<TrainedModel>,
}

impl Model {
    /// The model, for a caller attached to the interpreter: while another thread uses it, waits
    /// with the interpreter released (the user may hold it for its own call-backs).
    fn lock<'a>(&'a self, py: Python<'_>) -> MutexGuard<'a, TrainedModel> {
        loop {
            match self.inner.try_lock() {
                Ok(m) => return m,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => py.detach(|| drop(self.wait())),
            }
        }
    }
    /// The model, for a caller detached from the interpreter: waits its turn. A panic in an
    /// earlier call does not lock it for good (calls leave no partial state in the weights).
    fn wait(&self) -> MutexGuard<'_, TrainedModel> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn wrap(m: TrainedModel) -> Self {
        Model {
            inner: Mutex::new(m),
        }
    }
}

/// A config error as [`ConfigError`] (parse errors included: an unknown key is a config error).
fn config_err(e: Error) -> PyErr {
    ConfigError::new_err(e.to_string())
}

/// Parses a TOML config; `origin` names it in errors.
fn parse_toml(toml_text: &str, origin: &str) -> PyResult<TrainConfig> {
    TrainConfig::from_toml_str(toml_text, origin).map_err(config_err)
}

/// Parses a JSON config (the nested dict of the Python layer, as JSON). It goes through TOML so
/// that errors quote the offending key, as they do for `config.toml` files.
fn parse_json(json: &str) -> PyResult<TrainConfig> {
    let mut value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ConfigError::new_err(format!("config: {e}")))?;
    drop_nulls(&mut value);
    let text = toml::to_string(&value).map_err(|e| ConfigError::new_err(format!("config: {e}")))?;
    parse_toml(&text, "config")
}

/// Removes `null` entries (unset optional keys; TOML has no null).
fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn to_json(cfg: &TrainConfig) -> PyResult<String> {
    serde_json::to_string(cfg).map_err(|e| ConfigError::new_err(e.to_string()))
}

#[pymethods]
impl Model {
    /// Trains the config `config_json` (a complete config as JSON) on `views` (C-contiguous float32 arrays with paired rows;
    /// read without a copy). Returns `(model, history, summary, error)`: `error` is the exception a
    /// progress call-back or Ctrl-C raised (training stopped cleanly at the last completed step),
    /// else `None`.
    #[staticmethod]
    #[pyo3(signature = (config_json, views, labels=None, image_shape=None, view_names=None, callback=None, missing=None, present=None, view_image_shapes=None))]
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn fit<'py>(
        py: Python<'py>,
        config_json: &str,
        views: Vec<Bound<'py, PyArray2<f32>>>,
        labels: Option<PyReadonlyArray1<'py, i64>>,
        image_shape: Option<(usize, usize)>,
        view_names: Option<Vec<String>>,
        callback: Option<Py<PyAny>>,
        missing: Option<&str>,
        present: Option<Vec<Option<PyReadonlyArray1<'py, bool>>>>,
        view_image_shapes: Option<Vec<Option<(usize, usize, usize)>>>,
    ) -> PyResult<(
        Model,
        Vec<Bound<'py, PyDict>>,
        Bound<'py, PyDict>,
        Option<PyErr>,
    )> {
        let cfg = parse_json(config_json)?;
        cfg.validate().map_err(config_err)?;
        let nan_rows = match missing {
            None | Some("none") => mib::data::MissingRows::None,
            Some("nan-rows") => mib::data::MissingRows::NanRows,
            Some(other) => {
                return Err(config_err(Error::config(
                    "missing",
                    other,
                    "expected None or 'nan-rows'",
                )))
            }
        };
        let mut mats = views
            .iter()
            .enumerate()
            .map(|(i, v)| shared_matrix(v, &format!("views[{i}]")))
            .collect::<PyResult<Vec<_>>>()?;
        let masks: Vec<Option<Vec<bool>>> = present
            .map(|p| {
                p.iter()
                    .map(|m| m.as_ref().map(|a| a.as_array().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        let names: Vec<String> = view_names
            .clone()
            .unwrap_or_else(|| (0..mats.len()).map(|i| format!("views[{i}]")).collect());
        let present = mib::data::mark_missing(&mut mats, &names, nan_rows, &masks).py()?;
        let y = labels.as_ref().map(|l| class_labels(l, "y")).transpose()?;
        let mut ds = MultiViewDataset::new(mats, y, None).py()?;
        if let Some(names) = view_names {
            ds = ds.with_view_names(names).py()?;
        } else if present.is_some() {
            ds = ds.with_view_names(names).py()?;
        }
        ds = ds.with_present(present).py()?;
        if let Some(shape) = image_shape {
            ds = ds.with_image_shape(shape).py()?;
        }
        for (v, shape) in view_image_shapes
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            if let Some((c, h, w)) = shape {
                ds = ds.with_view_image_shape(v, [c, h, w]).py()?;
            }
        }
        let ds = Arc::new(ds);
        let mut obs = PyObserver {
            callback,
            last_check: Instant::now(),
            error: None,
        };
        let fitted = py
            .detach(|| mib::train::fit(&cfg, ds, None, None, &mut obs))
            .py()?;
        let history = fitted
            .history
            .iter()
            .map(|r| record_dict(py, r))
            .collect::<PyResult<Vec<_>>>()?;
        let s = &fitted.summary;
        let summary = PyDict::new(py);
        summary.set_item("iterations", s.iterations)?;
        summary.set_item("interrupted", s.interrupted)?;
        summary.set_item("nonfinite_total", s.nonfinite_total)?;
        summary.set_item("wall_s", s.wall_s)?;
        Ok((Model::wrap(fitted.model), history, summary, obs.error))
    }

    /// The model of a CLI run folder (final model, else its newest valid checkpoint), or its
    /// checkpoint `checkpoint` (`final`, `latest`, a file name in `checkpoints/`,
    /// `beta=<value>`, or a path).
    #[staticmethod]
    #[pyo3(signature = (path, threads=0, checkpoint=None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        threads: usize,
        checkpoint: Option<String>,
    ) -> PyResult<Model> {
        let m = py
            .detach(|| TrainedModel::open_checkpoint(&path, checkpoint.as_deref(), threads))
            .py()?;
        Ok(Model::wrap(m))
    }

    /// Reads the bytes `to_bytes` wrote.
    #[staticmethod]
    #[pyo3(signature = (data, threads=0))]
    fn from_bytes(data: &[u8], threads: usize) -> PyResult<Model> {
        Ok(Model::wrap(
            TrainedModel::from_bytes(data, "pickled mib model", threads).py()?,
        ))
    }

    /// The parameters, config and encoder info as bytes (safetensors; no optimizer state).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = self.lock(py).to_bytes().py()?;
        Ok(PyBytes::new(py, &b))
    }

    /// Writes a run folder that `mib eval`, `mib embed`, `mib inspect` and `mib report` read.
    /// `data_json` replaces the config's data section (what `mib eval` reads the data from).
    #[pyo3(signature = (path, history, overwrite=false, data_json=None))]
    fn save(
        &self,
        py: Python<'_>,
        path: PathBuf,
        history: Vec<Bound<'_, PyDict>>,
        overwrite: bool,
        data_json: Option<&str>,
    ) -> PyResult<()> {
        let data: Option<mib::config::DataConfig> = data_json
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ConfigError::new_err(format!("data: {e}")))?;
        let json = py.import("json")?;
        let records = history
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let s: String = json.call_method1("dumps", (d,))?.extract()?;
                serde_json::from_str::<MetricsRecord>(&s)
                    .map_err(|e| DataError::new_err(format!("history[{i}]: {e}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let mut m = self.lock(py);
        if let Some(d) = data {
            m.set_data_config(d);
        }
        py.detach(|| RunFolder::new(&path).save(&m, &records, overwrite))
            .py()
    }

    /// Posterior means (or, with `sample`, one sample seeded by `seed`) of the rows of `x` under
    /// the encoder of training view `view`; or another representation (`mean`, `hidden`,
    /// `mean+hidden`: [`mib::config::Representation`]).
    #[pyo3(signature = (view, x, sample=false, seed=0, representation="mean"))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        view: usize,
        x: Bound<'py, PyArray2<f32>>,
        sample: bool,
        seed: u64,
        representation: &str,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let repr: mib::config::Representation = representation.parse().py()?;
        if sample && repr != mib::config::Representation::Mean {
            return Err(ConfigError::new_err(format!(
                "sample=True draws z from the posterior: it needs representation='mean', not {representation:?}"
            )));
        }
        let xm = shared_matrix(&x, "X")?;
        let z = py
            .detach(|| {
                let mut m = self.wait();
                if sample {
                    m.embed_sample_using(view, &xm, &mut MibRng::seed_from_u64(seed))
                } else {
                    m.represent(view, &xm, repr)
                }
            })
            .py()?;
        matrix_to_numpy(py, z)
    }

    /// The classes the model's classifier (supervised objective, semi-supervised mode) predicts
    /// for the rows of `x` under the encoder of training view `view`.
    fn classify<'py>(
        &self,
        py: Python<'py>,
        view: usize,
        x: Bound<'py, PyArray2<f32>>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let xm = shared_matrix(&x, "X")?;
        let y = py.detach(|| self.wait().classify(view, &xm)).py()?;
        Ok(PyArray1::from_vec(py, y))
    }

    /// One representation per item of `views` (one array per training view, paired rows) from the
    /// views it has: `present[v]` (`None`: all) says which items view `v` has; `fuse` is `poe`
    /// or `mean` ([`mib::models::Fuse`]).
    #[pyo3(signature = (views, fuse, present=None))]
    fn embed_fused<'py>(
        &self,
        py: Python<'py>,
        views: Vec<Bound<'py, PyArray2<f32>>>,
        fuse: &str,
        present: Option<Vec<Option<PyReadonlyArray1<'py, bool>>>>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let fuse: mib::models::Fuse = fuse.parse().map_err(config_err)?;
        let mats = views
            .iter()
            .enumerate()
            .map(|(i, v)| shared_matrix(v, &format!("views[{i}]")))
            .collect::<PyResult<Vec<_>>>()?;
        let masks: Option<Vec<Vec<bool>>> = present.map(|p| {
            p.iter()
                .zip(&mats)
                .map(|(m, x)| {
                    m.as_ref()
                        .map_or_else(|| vec![true; x.rows], |a| a.as_array().to_vec())
                })
                .collect()
        });
        let z = py
            .detach(|| self.wait().embed_fused(&mats, masks.as_deref(), fuse))
            .py()?;
        matrix_to_numpy(py, z)
    }

    /// Posterior means and scales (`[n, z_dim]` each) of the rows of `x` under the encoder of
    /// training view `view`.
    fn posterior<'py>(
        &self,
        py: Python<'py>,
        view: usize,
        x: Bound<'py, PyArray2<f32>>,
    ) -> PyResult<Pair<'py>> {
        let xm = shared_matrix(&x, "X")?;
        let (mean, scale) = py.detach(|| self.wait().posterior(view, &xm)).py()?;
        Ok((matrix_to_numpy(py, mean)?, matrix_to_numpy(py, scale)?))
    }

    /// What `mib eval` runs on a run folder ([`mib::eval::evaluate_model`]), on the splits
    /// `(train_views, y_train)` and `(test_views, y_test)` (views in training order);
    /// `protocol_json` is [`mib::eval::EvalProtocol`] as JSON. Returns the report as JSON.
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        train_views: Vec<Bound<'py, PyArray2<f32>>>,
        y_train: PyReadonlyArray1<'py, i64>,
        test_views: Vec<Bound<'py, PyArray2<f32>>>,
        y_test: PyReadonlyArray1<'py, i64>,
        protocol_json: &str,
    ) -> PyResult<String> {
        let protocol = parse_protocol(protocol_json)?;
        let split = |views: &[Bound<'py, PyArray2<f32>>],
                     y: &PyReadonlyArray1<'py, i64>,
                     what: &str|
         -> PyResult<MultiViewDataset> {
            let mats = views
                .iter()
                .enumerate()
                .map(|(i, v)| shared_matrix(v, &format!("{what}_views[{i}]")))
                .collect::<PyResult<Vec<_>>>()?;
            MultiViewDataset::new(mats, Some(class_labels(y, &format!("y_{what}"))?), None)
                .map_err(|e| with_context(e, &format!("{what} split")))
        };
        let train = split(&train_views, &y_train, "train")?;
        let mut test = split(&test_views, &y_test, "test")?;
        test.n_classes = test.n_classes.max(train.n_classes);
        let mut train = train;
        train.n_classes = test.n_classes;
        let data = mib::data::DatasetSplits {
            train: Arc::new(train),
            test,
            train_rows: None,
            test_rows: None,
        };
        let (report, _) = py
            .detach(|| {
                let mut m = self.wait();
                mib::eval::evaluate_model(&mut m, &data, &protocol)
            })
            .py()?;
        to_json_str(&report)
    }

    /// The objective's loss parts on held-out pairs, averaged (no update): a dict with `loss`,
    /// `mi_estimate`, `mi_surrogate`, `skl`, `rate`, `distortion`, `cross_entropy`.
    #[pyo3(signature = (views, labels=None, seed=0))]
    fn evaluate_pairs<'py>(
        &self,
        py: Python<'py>,
        views: Vec<Bound<'py, PyArray2<f32>>>,
        labels: Option<PyReadonlyArray1<'py, i64>>,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mats = views
            .iter()
            .enumerate()
            .map(|(i, v)| shared_matrix(v, &format!("views[{i}]")))
            .collect::<PyResult<Vec<_>>>()?;
        let y = labels.as_ref().map(|l| class_labels(l, "y")).transpose()?;
        let st = py
            .detach(|| {
                let mut m = self.wait();
                let refs: Vec<&Matrix> = mats.iter().collect();
                m.evaluate_pairs(&refs, y.as_deref(), seed)
            })
            .py()?;
        let d = PyDict::new(py);
        d.set_item("loss", st.loss)?;
        d.set_item("mi_estimate", st.mi_estimate)?;
        d.set_item("mi_surrogate", st.mi_surrogate)?;
        d.set_item("skl", st.skl)?;
        d.set_item("rate", st.rate)?;
        d.set_item("distortion", st.distortion)?;
        d.set_item("cross_entropy", st.cross_entropy)?;
        Ok(d)
    }

    /// The encoder of training view `view` as an ONNX model (bytes): input scaling folded in,
    /// `output` `"mean"` (posterior means) or `"mean-scale"` (means and scales); written to `path`
    /// when given.
    #[pyo3(signature = (view, output="mean", path=None))]
    fn to_onnx<'py>(
        &self,
        py: Python<'py>,
        view: usize,
        output: &str,
        path: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let output = mib::export::OnnxOutput::parse(output, "output").py()?;
        let bytes = {
            let m = self.lock(py);
            mib::export::encoder_onnx(&m, view, output).py()?
        };
        if let Some(p) = path {
            std::fs::write(&p, &bytes)
                .map_err(|e| Error::io("writing ONNX model", &p, e))
                .py()?;
        }
        Ok(PyBytes::new(py, &bytes))
    }

    /// Feature attributions of training view `view`'s encoder over the rows of `x`
    /// ([`mib::models::TrainedModel::feature_attribution`]): `method` is `grad-x-input` or
    /// `integrated-gradients` (`steps` steps). Returns `(importance, signed, loadings,
    /// completeness_gap)`: three `[n_features, z_dim]` arrays and a float (integrated gradients)
    /// or None.
    #[pyo3(signature = (view, x, method="grad-x-input", steps=32))]
    fn feature_attribution<'py>(
        &self,
        py: Python<'py>,
        view: usize,
        x: Bound<'py, PyArray2<f32>>,
        method: &str,
        steps: usize,
    ) -> PyResult<Attribution<'py>> {
        let method = mib::eval::AttributionMethod::parse(method, steps).py()?;
        let xm = shared_matrix(&x, "X")?;
        let a = py
            .detach(|| self.wait().feature_attribution(view, &xm, method))
            .py()?;
        Ok((
            matrix_to_numpy(py, a.importance)?,
            matrix_to_numpy(py, a.signed)?,
            matrix_to_numpy(py, a.loadings)?,
            a.completeness_gap,
        ))
    }

    /// The permutation test of the critic's `I(z1; z2)` on the held-out pairs of `views`
    /// ([`mib::eval::mi_permutation_test`]) with `n` re-pairings; returns it as JSON.
    #[pyo3(signature = (views, n, seed=0))]
    fn mi_permutation_test<'py>(
        &self,
        py: Python<'py>,
        views: Vec<Bound<'py, PyArray2<f32>>>,
        n: usize,
        seed: u64,
    ) -> PyResult<String> {
        let mats = views
            .iter()
            .enumerate()
            .map(|(i, v)| shared_matrix(v, &format!("views[{i}]")))
            .collect::<PyResult<Vec<_>>>()?;
        let t = py
            .detach(|| {
                let mut m = self.wait();
                let refs: Vec<&Matrix> = mats.iter().collect();
                mib::eval::mi_permutation_test(&mut m, &refs, n, seed)
            })
            .py()?;
        to_json_str(&t)
    }

    /// Computes on `threads` threads from now on (0 = all cores); results do not depend on it.
    fn set_threads(&self, py: Python<'_>, threads: usize) -> PyResult<()> {
        self.lock(py).set_threads(threads);
        Ok(())
    }

    /// The resolved config, as JSON.
    #[getter]
    fn config_json(&self, py: Python<'_>) -> PyResult<String> {
        to_json(self.lock(py).config())
    }

    /// Pickling: rebuilt from [`Model::to_bytes`].
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let ctor = py.get_type::<Model>().getattr("from_bytes")?;
        Ok((ctor, (self.to_bytes(py)?,)))
    }
    /// Width of each training view's input.
    #[getter]
    fn in_dims(&self, py: Python<'_>) -> PyResult<Vec<usize>> {
        Ok(self.lock(py).info().in_dims.clone())
    }
    /// Names of the training views.
    #[getter]
    fn view_names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(self.lock(py).info().view_names.clone())
    }
    /// Representation width.
    #[getter]
    fn z_dim(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py).z_dim())
    }
    /// Iterations trained.
    #[getter]
    fn iteration(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.lock(py).iteration())
    }
    /// Classes of the training labels (0 if unlabelled).
    #[getter]
    fn n_classes(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py).info().n_classes)
    }
    /// Threads of its compute pool.
    #[getter]
    fn threads(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py).pool().threads())
    }
}

/// The names of each named choice of a config, read from the library's own types (the Python
/// layer checks estimator parameters against them, so the two accept the same names):
/// `encoder_norm`, `critic`, `estimator`, `skl`, `objective`, `scaling` (the per-view kinds;
/// `"auto"` is the only other choice) and `beta`: for each schedule kind, its keys as
/// `{key: [type ("int" or "float"), required]}`; and `max_augment_views`.
#[pyfunction]
fn config_choices(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    use mib::data::ScalingKind;
    use mib::estimators::{CriticKind, EstimatorKind};
    use mib::objectives::{EncoderNorm, ObjectiveKind, SklKind};
    use mib::train::schedule::BetaSchedule;
    use serde_json::Value;
    fn names<T: serde::Serialize>(all: &[T]) -> PyResult<Vec<String>> {
        all.iter()
            .map(|v| match serde_json::to_value(v) {
                Ok(Value::String(s)) => Ok(s),
                other => Err(ConfigError::new_err(format!("not a name: {other:?}"))),
            })
            .collect()
    }
    // Every list names every variant: these matches stop compiling when one is added.
    let _ = |k: EncoderNorm| match k {
        EncoderNorm::None | EncoderNorm::Layer => (),
    };
    let _ = |k: CriticKind| match k {
        CriticKind::Mlp | CriticKind::Separable => (),
    };
    let _ = |k: EstimatorKind| match k {
        EstimatorKind::Jsd | EstimatorKind::Nwj | EstimatorKind::InfoNce => (),
    };
    let _ = |k: SklKind| match k {
        SklKind::MonteCarlo | SklKind::ClosedForm => (),
    };
    let _ = |k: ScalingKind| match k {
        ScalingKind::None | ScalingKind::Standardize | ScalingKind::Minmax => (),
    };
    let _ = |k: &BetaSchedule| match k {
        BetaSchedule::Constant { .. }
        | BetaSchedule::Linear { .. }
        | BetaSchedule::Exponential { .. } => (),
    };
    let d = PyDict::new(py);
    d.set_item(
        "encoder_norm",
        names(&[EncoderNorm::None, EncoderNorm::Layer])?,
    )?;
    d.set_item("critic", names(&[CriticKind::Mlp, CriticKind::Separable])?)?;
    d.set_item(
        "estimator",
        names(&[
            EstimatorKind::Jsd,
            EstimatorKind::Nwj,
            EstimatorKind::InfoNce,
        ])?,
    )?;
    d.set_item("skl", names(&[SklKind::MonteCarlo, SklKind::ClosedForm])?)?;
    d.set_item("representation", names(&mib::config::Representation::ALL)?)?;
    d.set_item(
        "objective",
        names(&[
            ObjectiveKind::Mib,
            ObjectiveKind::MvInfomax,
            ObjectiveKind::Infomax,
            ObjectiveKind::Vae,
            ObjectiveKind::Supervised,
        ])?,
    )?;
    d.set_item(
        "scaling",
        names(&[
            ScalingKind::None,
            ScalingKind::Standardize,
            ScalingKind::Minmax,
        ])?,
    )?;
    // The schedule kinds and their keys, as serde writes them; a key is optional when the
    // schedule reads without it.
    let beta = PyDict::new(py);
    for b in [
        BetaSchedule::Constant { value: 0.0 },
        BetaSchedule::Linear {
            start: 0.0,
            end: 0.0,
            start_iteration: 0,
            n_iterations: 1,
        },
        BetaSchedule::Exponential {
            start: 1.0,
            end: 1.0,
            start_iteration: 0,
            n_iterations: 1,
            base: 10.0,
        },
    ] {
        let Ok(Value::Object(obj)) = serde_json::to_value(&b) else {
            return Err(ConfigError::new_err("beta: a schedule is not a table"));
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let keys = PyDict::new(py);
        for (k, v) in obj.iter().filter(|(k, _)| k.as_str() != "kind") {
            let mut without = obj.clone();
            without.remove(k);
            let required = serde_json::from_value::<BetaSchedule>(Value::Object(without)).is_err();
            let ty = if v.is_u64() || v.is_i64() {
                "int"
            } else {
                "float"
            };
            keys.set_item(k, (ty, required))?;
        }
        beta.set_item(kind, keys)?;
    }
    d.set_item("beta", beta)?;
    d.set_item("max_augment_views", mib::data::MAX_AUGMENTED_VIEWS)?;
    Ok(d)
}

/// Checks augmentation steps (`{"steps": [...]}` as JSON, the config's `data.pairing.augment`);
/// the error names the step and key, with no position in the text.
#[pyfunction]
fn check_augment(steps_json: &str) -> PyResult<()> {
    let v: serde_json::Value = serde_json::from_str(steps_json)
        .map_err(|e| ConfigError::new_err(format!("not JSON: {e}")))?;
    let cfg: mib::augment::AugmentConfig =
        serde_json::from_value(v).map_err(|e| ConfigError::new_err(e.to_string()))?;
    cfg.validate().map_err(config_err)
}

/// The default config as JSON (what the estimators' defaults mirror).
#[pyfunction]
fn default_config() -> PyResult<String> {
    to_json(&TrainConfig::default())
}

/// Parses a TOML config (missing keys take their defaults) and returns it as JSON; `origin`
/// names the text in errors.
#[pyfunction]
#[pyo3(signature = (toml_text, origin="config"))]
fn config_from_toml(toml_text: &str, origin: &str) -> PyResult<String> {
    to_json(&parse_toml(toml_text, origin)?)
}

/// A JSON config (missing keys take their defaults) as TOML, the format of `config.toml`.
#[pyfunction]
fn config_to_toml(json: &str) -> PyResult<String> {
    parse_json(json)?.to_toml_string().map_err(config_err)
}

/// Completes a JSON config with defaults and validates it; returns it as JSON.
#[pyfunction]
fn resolve_config(json: &str) -> PyResult<String> {
    let cfg = parse_json(json)?;
    cfg.validate().map_err(config_err)?;
    to_json(&cfg)
}

/// The TOML text of a preset (`configs/NAME.toml`).
#[pyfunction]
fn preset(name: &str) -> PyResult<String> {
    mib::presets::preset(name)
        .map(str::to_string)
        .ok_or_else(|| {
            ConfigError::new_err(format!(
                "preset `{name}`: no such preset (presets: {})",
                mib::presets::PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The names of the presets.
#[pyfunction]
fn preset_names() -> Vec<&'static str> {
    mib::presets::PRESETS.iter().map(|(n, _)| *n).collect()
}

/// `mib doctor` on a run folder ([`mib::diagnose::diagnose_run`]): the diagnosis as JSON.
#[pyfunction]
#[pyo3(signature = (path, threads=0))]
fn diagnose_run(py: Python<'_>, path: PathBuf, threads: usize) -> PyResult<String> {
    let d = py
        .detach(|| mib::diagnose::diagnose_run(&path, threads))
        .py()?;
    to_json_str(&d)
}

/// The diagnosis of an in-memory fit ([`mib::diagnose::diagnose`]): its config (JSON), its
/// metrics history (JSON list of records), and optionally the posterior means and scales of
/// held-out rows; the diagnosis as JSON.
#[pyfunction]
#[pyo3(signature = (config_json, history_json, mean=None, scale=None, finished=None))]
fn diagnose(
    py: Python<'_>,
    config_json: &str,
    history_json: &str,
    mean: Option<Bound<'_, PyArray2<f32>>>,
    scale: Option<Bound<'_, PyArray2<f32>>>,
    finished: Option<bool>,
) -> PyResult<String> {
    let cfg = parse_json(config_json)?;
    let history: Vec<MetricsRecord> = serde_json::from_str(history_json)
        .map_err(|e| DataError::new_err(format!("history: not a list of metrics records: {e}")))?;
    let post = match (mean, scale) {
        (Some(m), Some(s)) => Some((shared_matrix(&m, "mean")?, shared_matrix(&s, "scale")?)),
        (None, None) => None,
        _ => return Err(ConfigError::new_err("give both mean and scale, or neither")),
    };
    let d = py.detach(|| {
        mib::diagnose::diagnose(&mib::diagnose::DiagnoseInputs {
            config: &cfg,
            metrics: &history,
            finished,
            posterior: post.as_ref().map(|(m, s)| (m, s)),
            eval: None,
            unreadable_checkpoints: &[],
        })
    });
    to_json_str(&d)
}

/// The beta path of a run folder ([`mib::eval::beta_path`], parameters as JSON, on the run's own
/// data): the report as JSON.
#[pyfunction]
#[pyo3(signature = (path, params_json, threads=0))]
fn beta_path(py: Python<'_>, path: PathBuf, params_json: &str, threads: usize) -> PyResult<String> {
    let params: mib::eval::BetaPathParams = serde_json::from_str(params_json)
        .map_err(|e| ConfigError::new_err(format!("beta path parameters: {e}")))?;
    let r = py
        .detach(|| -> mib::Result<_> {
            let cfg = RunFolder::new(&path).read_config()?;
            let data = mib::data::load_splits(&cfg)?;
            mib::eval::beta_path(&path, &data, &params, threads)
        })
        .py()?;
    to_json_str(&r)
}

/// A beta path's figure (`beta_path.json`'s report as JSON): `kind` `plane` (the information
/// plane) or `accuracy` (accuracy against beta).
#[pyfunction]
#[pyo3(signature = (report_json, kind="plane", format="png"))]
fn plot_beta_path<'py>(
    py: Python<'py>,
    report_json: &str,
    kind: &str,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let fmt = image_format(format)?;
    let r: mib::eval::BetaPathReport = serde_json::from_str(report_json)
        .map_err(|e| DataError::new_err(format!("not a beta-path report: {e}")))?;
    let f = match kind {
        "plane" => py.detach(|| mib::plot::beta_path_plane(&r, fmt)),
        "accuracy" => py.detach(|| mib::plot::accuracy_vs_beta(&r, fmt)),
        other => {
            return Err(ConfigError::new_err(format!(
                "kind={other:?}: expected 'plane' or 'accuracy'"
            )))
        }
    };
    figure_bytes(py, f)
}

/// A run folder's `metrics.jsonl` as a list of dicts.
#[pyfunction]
fn read_metrics<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Vec<Bound<'py, PyDict>>> {
    mib::train::read_metrics(&path)
        .py()?
        .iter()
        .map(|r| record_dict(py, r))
        .collect()
}

type Split<'py> = (
    Vec<Bound<'py, PyArray2<f32>>>,
    Option<Bound<'py, PyArray1<i64>>>,
);

/// The split's arrays, moved into NumPy (no copy of the views).
fn split_to_py(py: Python<'_>, ds: MultiViewDataset) -> PyResult<Split<'_>> {
    let y = ds.labels.as_ref().map(|l| {
        l.iter()
            .map(|&v| v as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py)
    });
    let views = ds
        .views
        .into_iter()
        .map(|m| matrix_to_numpy(py, m))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((views, y))
}

/// A named dataset's splits (`mfeat`: embedded; `fashion-mnist`, `mnist`: IDX files): a dict
/// with `train`, `test` (each `(views, labels)`), `view_names`, `n_classes`, `image_shape`.
#[pyfunction]
#[pyo3(signature = (name, views=None, data_dir=None))]
fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
    views: Option<Vec<String>>,
    data_dir: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let splits = py
        .detach(|| mib::data::load_named(name, data_dir.as_deref(), views.as_deref()))
        .py()?;
    let d = PyDict::new(py);
    d.set_item("view_names", splits.train.view_names.clone())?;
    d.set_item("n_classes", splits.train.n_classes)?;
    d.set_item("image_shape", splits.train.image_shape)?;
    let train = Arc::try_unwrap(splits.train).unwrap_or_else(|a| (*a).clone());
    d.set_item("train", split_to_py(py, train)?)?;
    d.set_item("test", split_to_py(py, splits.test)?)?;
    Ok(d)
}

fn class_labels(y: &PyReadonlyArray1<'_, i64>, name: &str) -> PyResult<Vec<u32>> {
    let s = y
        .as_slice()
        .map_err(|e| ShapeError::new_err(format!("{name}: {e}")))?;
    s.iter()
        .enumerate()
        .map(|(i, &v)| {
            u32::try_from(v)
                .ok()
                .filter(|&c| c < mib::data::MAX_CLASSES)
                .ok_or_else(|| {
                    DataError::new_err(format!(
                        "{name}: label {v} at row {i} is not a class index (0, 1, ..., {})",
                        mib::data::MAX_CLASSES - 1
                    ))
                })
        })
        .collect()
}

/// The evaluation protocol (`protocol_json`: [`mib::eval::EvalProtocol`] as JSON) on
/// representations; returns the report (`eval.json`'s content) as JSON.
#[pyfunction]
#[pyo3(signature = (z_train, y_train, z_test, y_test, protocol_json, z_test_view2=None, threads=0))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    z_train: Bound<'_, PyArray2<f32>>,
    y_train: PyReadonlyArray1<'_, i64>,
    z_test: Bound<'_, PyArray2<f32>>,
    y_test: PyReadonlyArray1<'_, i64>,
    protocol_json: &str,
    z_test_view2: Option<Bound<'_, PyArray2<f32>>>,
    threads: usize,
) -> PyResult<String> {
    let protocol = parse_protocol(protocol_json)?;
    let (tr, te) = (
        shared_matrix(&z_train, "z_train")?,
        shared_matrix(&z_test, "z_test")?,
    );
    let v2 = z_test_view2
        .map(|z| shared_matrix(&z, "z_test_view2"))
        .transpose()?;
    let (ytr, yte) = (
        class_labels(&y_train, "y_train")?,
        class_labels(&y_test, "y_test")?,
    );
    for (what, z, y) in [("train", &tr, &ytr), ("test", &te, &yte)] {
        if z.rows != y.len() {
            return Err(ShapeError::new_err(format!(
                "y_{what}: {} labels for {} rows of z_{what}",
                y.len(),
                z.rows
            )));
        }
    }
    if tr.cols != te.cols {
        return Err(ShapeError::new_err(format!(
            "z_test: {} columns, z_train has {}",
            te.cols, tr.cols
        )));
    }
    let n_classes = ytr.iter().chain(&yte).max().map_or(0, |&m| m as usize + 1);
    let report = on_pool(py, threads, || {
        protocol.evaluate(&mib::eval::EvalInputs {
            train: &tr,
            y_train: &ytr,
            test: &te,
            y_test: &yte,
            n_classes,
            test_view2: v2.as_ref(),
        })
    })?;
    to_json_str(&report)
}

fn parse_protocol(json: &str) -> PyResult<mib::eval::EvalProtocol> {
    serde_json::from_str(json).map_err(|e| ConfigError::new_err(format!("protocol: {e}")))
}

fn parse_probe(json: &str) -> PyResult<mib::eval::LinearProbeParams> {
    let p: mib::eval::LinearProbeParams =
        serde_json::from_str(json).map_err(|e| ConfigError::new_err(format!("probe: {e}")))?;
    p.check().py()?;
    Ok(p)
}

/// Runs `f` with the interpreter released, on a compute pool of `threads` threads (0 = all).
fn on_pool<T: Send>(
    py: Python<'_>,
    threads: usize,
    f: impl FnOnce() -> mib::Result<T> + Send,
) -> PyResult<T> {
    py.detach(|| mib::pool::ComputePool::new(threads).install(f))
        .py()?
        .py()
}

fn to_json_str(v: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| DataError::new_err(e.to_string()))
}

/// Representations and their class labels, checked against each other; `z`/`y` name them.
fn labelled(
    z: &Bound<'_, PyArray2<f32>>,
    y: &PyReadonlyArray1<'_, i64>,
    z_name: &str,
    y_name: &str,
) -> PyResult<(Matrix, Vec<u32>)> {
    let m = shared_matrix(z, z_name)?;
    let l = class_labels(y, y_name)?;
    if m.rows != l.len() {
        return Err(ShapeError::new_err(format!(
            "{y_name}: {} labels for {} rows of {z_name}",
            l.len(),
            m.rows
        )));
    }
    Ok((m, l))
}

fn n_classes_of(labels: &[&[u32]]) -> usize {
    labels
        .iter()
        .flat_map(|l| l.iter())
        .max()
        .map_or(0, |&m| m as usize + 1)
}

/// The kNN probe ([`mib::eval::knn_accuracy`]) fitted on all of `(z_train, y_train)`; returns
/// its report (`eval.json`'s `knn`) as JSON.
#[pyfunction]
#[pyo3(signature = (z_train, y_train, z_test, y_test, k=5, metric="euclidean", threads=0))]
#[allow(clippy::too_many_arguments)]
fn knn(
    py: Python<'_>,
    z_train: Bound<'_, PyArray2<f32>>,
    y_train: PyReadonlyArray1<'_, i64>,
    z_test: Bound<'_, PyArray2<f32>>,
    y_test: PyReadonlyArray1<'_, i64>,
    k: usize,
    metric: &str,
    threads: usize,
) -> PyResult<String> {
    let metric = match metric {
        "euclidean" => mib::eval::Distance::Euclidean,
        "cosine" => mib::eval::Distance::Cosine,
        other => {
            return Err(ConfigError::new_err(format!(
                "metric: `{other}` is not a distance (euclidean, cosine)"
            )))
        }
    };
    let (tr, ytr) = labelled(&z_train, &y_train, "z_train", "y_train")?;
    let (te, yte) = labelled(&z_test, &y_test, "z_test", "y_test")?;
    let n_classes = n_classes_of(&[&ytr, &yte]);
    let params = mib::eval::KnnParams { k, metric };
    let report = on_pool(py, threads, || {
        mib::eval::knn_accuracy(&params, &tr, &ytr, &te, &yte, n_classes)
    })?;
    to_json_str(&report)
}

/// The linear probe's permutation test ([`mib::eval::probe_permutation_test`]): test accuracy
/// of a probe (`probe_json`: [`mib::eval::LinearProbeParams`] as JSON) fitted on all of
/// `(z_train, y_train)` against `n` label permutations; returns it as JSON.
#[pyfunction]
#[pyo3(signature = (z_train, y_train, z_test, y_test, n, probe_json, seed=0, threads=0))]
#[allow(clippy::too_many_arguments)]
fn probe_permutation_test(
    py: Python<'_>,
    z_train: Bound<'_, PyArray2<f32>>,
    y_train: PyReadonlyArray1<'_, i64>,
    z_test: Bound<'_, PyArray2<f32>>,
    y_test: PyReadonlyArray1<'_, i64>,
    n: usize,
    probe_json: &str,
    seed: u64,
    threads: usize,
) -> PyResult<String> {
    let params = parse_probe(probe_json)?;
    let (tr, ytr) = labelled(&z_train, &y_train, "z_train", "y_train")?;
    let (te, yte) = labelled(&z_test, &y_test, "z_test", "y_test")?;
    if tr.cols != te.cols {
        return Err(ShapeError::new_err(format!(
            "z_test: {} columns, z_train has {}",
            te.cols, tr.cols
        )));
    }
    let n_classes = n_classes_of(&[&ytr, &yte]);
    let t = on_pool(py, threads, || {
        mib::eval::probe_permutation_test(&tr, &ytr, &te, &yte, n_classes, &params, n, seed)
    })?;
    to_json_str(&t)
}

/// Retrieval ([`mib::eval::retrieval`]): each query ranks the gallery by Euclidean distance; an
/// item is relevant when it has the query's label. Returns mAP@all and Precision@`k` as JSON.
#[pyfunction]
#[pyo3(signature = (queries, query_labels, gallery, gallery_labels, k=200, threads=0))]
fn retrieval(
    py: Python<'_>,
    queries: Bound<'_, PyArray2<f32>>,
    query_labels: PyReadonlyArray1<'_, i64>,
    gallery: Bound<'_, PyArray2<f32>>,
    gallery_labels: PyReadonlyArray1<'_, i64>,
    k: usize,
    threads: usize,
) -> PyResult<String> {
    let (q, ql) = labelled(&queries, &query_labels, "queries", "query_labels")?;
    let (g, gl) = labelled(&gallery, &gallery_labels, "gallery", "gallery_labels")?;
    let report = on_pool(py, threads, || mib::eval::retrieval(&q, &ql, &g, &gl, k))?;
    to_json_str(&report)
}

/// The label-limited multi-label probe ([`mib::eval::few_label_multilabel_probe`]): targets are
/// multi-hot (`> 0.5` is positive); returns one summary per count of `labelled` as JSON.
#[pyfunction]
#[pyo3(signature = (z_train, t_train, z_test, t_test, labelled, repetitions, probe_json, seed=0, threads=0))]
#[allow(clippy::too_many_arguments)]
fn multilabel_probe(
    py: Python<'_>,
    z_train: Bound<'_, PyArray2<f32>>,
    t_train: Bound<'_, PyArray2<f32>>,
    z_test: Bound<'_, PyArray2<f32>>,
    t_test: Bound<'_, PyArray2<f32>>,
    labelled: Vec<usize>,
    repetitions: usize,
    probe_json: &str,
    seed: u64,
    threads: usize,
) -> PyResult<String> {
    let params = parse_probe(probe_json)?;
    let (tr, ttr) = (
        shared_matrix(&z_train, "z_train")?,
        shared_matrix(&t_train, "t_train")?,
    );
    let (te, tte) = (
        shared_matrix(&z_test, "z_test")?,
        shared_matrix(&t_test, "t_test")?,
    );
    let r = on_pool(py, threads, || {
        mib::eval::few_label_multilabel_probe(
            &tr,
            &ttr,
            &te,
            &tte,
            &labelled,
            repetitions,
            &params,
            seed,
        )
    })?;
    to_json_str(&r)
}

/// Label-wise ("macro") mean average precision of multi-label `scores` against multi-hot
/// `targets` ([`mib::eval::mean_average_precision_multilabel`]).
#[pyfunction]
fn multilabel_map(
    scores: Bound<'_, PyArray2<f32>>,
    targets: Bound<'_, PyArray2<f32>>,
) -> PyResult<f64> {
    mib::eval::mean_average_precision_multilabel(
        &shared_matrix(&scores, "scores")?,
        &shared_matrix(&targets, "targets")?,
    )
    .py()
}

/// The `I(y; z) >= H(y) - CE_test` bound ([`mib::eval::label_information_lower_bound`]) and the
/// label entropy `H(y_test)`, in nats: `(i_yz, h_y)`.
#[pyfunction]
#[pyo3(signature = (z_train, y_train, z_test, y_test, probe_json, threads=0))]
fn label_information(
    py: Python<'_>,
    z_train: Bound<'_, PyArray2<f32>>,
    y_train: PyReadonlyArray1<'_, i64>,
    z_test: Bound<'_, PyArray2<f32>>,
    y_test: PyReadonlyArray1<'_, i64>,
    probe_json: &str,
    threads: usize,
) -> PyResult<(f64, f64)> {
    let params = parse_probe(probe_json)?;
    let (tr, ytr) = labelled(&z_train, &y_train, "z_train", "y_train")?;
    let (te, yte) = labelled(&z_test, &y_test, "z_test", "y_test")?;
    let n_classes = n_classes_of(&[&ytr, &yte]);
    let i_yz = on_pool(py, threads, || {
        mib::eval::label_information_lower_bound(&tr, &ytr, &te, &yte, n_classes, &params)
    })?;
    Ok((i_yz, mib::eval::label_entropy(&yte, n_classes)))
}

/// Bounds on `I(x; z)` of a Gaussian encoder from its posterior means and scales
/// ([`mib::eval::encoder_information_bounds_using`], one sample per item seeded by `seed`):
/// `(lower, upper, n)` in nats.
#[pyfunction]
#[pyo3(signature = (mean, scale, seed=0, threads=0))]
fn encoder_information_bounds(
    py: Python<'_>,
    mean: Bound<'_, PyArray2<f32>>,
    scale: Bound<'_, PyArray2<f32>>,
    seed: u64,
    threads: usize,
) -> PyResult<(f64, f64, usize)> {
    let (m, s) = (
        shared_matrix(&mean, "mean")?,
        shared_matrix(&scale, "scale")?,
    );
    let b = on_pool(py, threads, || {
        mib::eval::encoder_information_bounds_using(&m, &s, &mut MibRng::seed_from_u64(seed))
    })?;
    Ok((b.lower, b.upper, b.n))
}

/// Augmented copies of the single-channel `h x w` images in the rows of `images`
/// ([`mib::augment::AugmentConfig`] as JSON: the steps the training pairing applies), one draw per
/// row; row `i` draws from a generator seeded by `(seed, i)`, so the result does not depend on
/// `threads`.
#[pyfunction]
#[pyo3(signature = (images, h, w, steps_json, seed=0, threads=0))]
fn augment<'py>(
    py: Python<'py>,
    images: Bound<'py, PyArray2<f32>>,
    h: usize,
    w: usize,
    steps_json: &str,
    seed: u64,
    threads: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    use mib::augment::Augment as _;
    use rayon::prelude::*;
    let cfg: mib::augment::AugmentConfig = serde_json::from_str(steps_json)
        .map_err(|e| ConfigError::new_err(format!("augment: {e}")))?;
    let pipeline = cfg.build().py()?;
    let x = shared_matrix(&images, "images")?;
    if h * w != x.cols || x.cols == 0 {
        return Err(ShapeError::new_err(format!(
            "images: rows of {} values are not {h} x {w} images",
            x.cols
        )));
    }
    let mut out = vec![0f32; x.rows * x.cols];
    on_pool(py, threads, || {
        out.par_chunks_mut(x.cols).enumerate().for_each(|(i, dst)| {
            let mut rng = MibRng::seed_from_u64(mib::train::stream_seed(seed, i as u64));
            pipeline.apply_using(x.row(i), dst, h, w, &mut rng);
        });
        Ok(())
    })?;
    matrix_to_numpy(py, Matrix::new(x.rows, x.cols, out).py()?)
}

fn image_format(format: &str) -> PyResult<mib::plot::ImageFormat> {
    match format {
        "png" => Ok(mib::plot::ImageFormat::Png),
        "svg" => Ok(mib::plot::ImageFormat::Svg),
        other => Err(ConfigError::new_err(format!(
            "format: `{other}` is not an image format (png, svg)"
        ))),
    }
}

fn figure_bytes<'py>(
    py: Python<'py>,
    f: mib::Result<mib::plot::Figure>,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &f.py()?.bytes))
}

/// The accuracy-against-labels figure ([`mib::plot::accuracy_vs_labels`]): `runs` is a list of
/// `(name, probe summaries as JSON)`.
#[pyfunction]
#[pyo3(signature = (runs, format="png"))]
fn plot_accuracy_vs_labels<'py>(
    py: Python<'py>,
    runs: Vec<(String, String)>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let fmt = image_format(format)?;
    let runs = runs
        .into_iter()
        .map(|(name, json)| {
            let summaries = serde_json::from_str(&json)
                .map_err(|e| DataError::new_err(format!("results[{name:?}]: {e}")))?;
            Ok(mib::plot::ProbeRun { name, summaries })
        })
        .collect::<PyResult<Vec<_>>>()?;
    figure_bytes(py, py.detach(|| mib::plot::accuracy_vs_labels(&runs, fmt)))
}

/// The information plane ([`mib::plot::information_plane`]): points `(name, I(x;z), I(y;z))`,
/// the ceiling `H(y)` when given.
#[pyfunction]
#[pyo3(signature = (points, h_y=None, format="png"))]
fn plot_information_plane<'py>(
    py: Python<'py>,
    points: Vec<(String, f64, f64)>,
    h_y: Option<f64>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let fmt = image_format(format)?;
    let points: Vec<mib::plot::InfoPoint> = points
        .into_iter()
        .map(|(name, i_xz, i_yz)| mib::plot::InfoPoint { name, i_xz, i_yz })
        .collect();
    figure_bytes(
        py,
        py.detach(|| mib::plot::information_plane(&points, h_y, fmt)),
    )
}

/// Training curves ([`mib::plot::training_curves`]) of metrics lines (`metrics.jsonl`'s text).
#[pyfunction]
#[pyo3(signature = (jsonl, format="png"))]
fn plot_training_curves<'py>(
    py: Python<'py>,
    jsonl: &str,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let fmt = image_format(format)?;
    let records = mib::plot::parse_metrics_jsonl(jsonl)
        .map_err(|(line, msg)| DataError::new_err(format!("history[{}]: {msg}", line - 1)))?;
    figure_bytes(py, py.detach(|| mib::plot::training_curves(&records, fmt)))
}

/// The 2-D PCA scatter of `x` coloured by `labels` ([`mib::plot::pca_scatter`]).
#[pyfunction]
#[pyo3(signature = (x, labels, max_points=2000, format="png"))]
fn plot_pca_scatter<'py>(
    py: Python<'py>,
    x: Bound<'py, PyArray2<f32>>,
    labels: PyReadonlyArray1<'py, i64>,
    max_points: usize,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let fmt = image_format(format)?;
    let (m, l) = labelled(&x, &labels, "z", "y")?;
    figure_bytes(
        py,
        py.detach(|| mib::plot::pca_scatter(&m, &l, max_points, fmt)),
    )
}

/// The native part of the `mib` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(default_config, m)?)?;
    m.add_function(wrap_pyfunction!(config_choices, m)?)?;
    m.add_function(wrap_pyfunction!(check_augment, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_config, m)?)?;
    m.add_function(wrap_pyfunction!(config_from_toml, m)?)?;
    m.add_function(wrap_pyfunction!(config_to_toml, m)?)?;
    m.add_function(wrap_pyfunction!(preset, m)?)?;
    m.add_function(wrap_pyfunction!(preset_names, m)?)?;
    m.add_function(wrap_pyfunction!(read_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(diagnose_run, m)?)?;
    m.add_function(wrap_pyfunction!(diagnose, m)?)?;
    m.add_function(wrap_pyfunction!(beta_path, m)?)?;
    m.add_function(wrap_pyfunction!(plot_beta_path, m)?)?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    for f in [
        wrap_pyfunction!(knn, m)?,
        wrap_pyfunction!(retrieval, m)?,
        wrap_pyfunction!(probe_permutation_test, m)?,
        wrap_pyfunction!(multilabel_probe, m)?,
        wrap_pyfunction!(multilabel_map, m)?,
        wrap_pyfunction!(label_information, m)?,
        wrap_pyfunction!(encoder_information_bounds, m)?,
        wrap_pyfunction!(augment, m)?,
        wrap_pyfunction!(plot_accuracy_vs_labels, m)?,
        wrap_pyfunction!(plot_information_plane, m)?,
        wrap_pyfunction!(plot_training_curves, m)?,
        wrap_pyfunction!(plot_pca_scatter, m)?,
    ] {
        m.add_function(f)?;
    }
    m.add("MibError", py.get_type::<MibError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add("TrainingError", py.get_type::<TrainingError>())?;
    m.add("FileError", py.get_type::<FileError>())?;
    m.add("I_YZ_PROBE_BOUND", mib::eval::I_YZ_PROBE_BOUND)?;
    m.add("I_XZ_ENCODER_BOUNDS", mib::eval::I_XZ_ENCODER_BOUNDS)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
