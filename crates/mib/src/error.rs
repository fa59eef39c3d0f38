//! The library's error type.

use std::path::PathBuf;

/// Errors raised by `mib`. Each variant carries the offending file, field or value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file whose content is not what its format requires.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the row or byte offset where it applies.
        msg: String,
    },
    /// A configuration value that is out of range or inconsistent.
    #[error("invalid config value `{field}` = {value}: {msg}")]
    Config {
        /// The configuration key (dotted path, e.g. `objective.beta.start`).
        field: String,
        /// The offending value, as written.
        value: String,
        /// Why it is rejected.
        msg: String,
    },
    /// Two shapes that should agree do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// Which tensor or view.
        what: String,
        /// The expected shape or size.
        expected: String,
        /// The shape or size found.
        got: String,
    },
    /// Data that is not usable (NaN, infinite values, labels out of range, ...).
    #[error("{0}")]
    Data(String),
    /// A safetensors file that could not be read or written.
    #[error("safetensors: {0}")]
    SafeTensors(#[from] safetensors::SafeTensorError),
    /// A JSON (de)serialisation error.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Training diverged (non-finite loss or gradients too many times in a row).
    #[error("{0}")]
    Diverged(String),
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    /// A format error in `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
    /// An invalid configuration value.
    pub fn config(field: impl Into<String>, value: impl ToString, msg: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            value: value.to_string(),
            msg: msg.into(),
        }
    }
    /// A shape mismatch.
    pub fn shape(what: impl Into<String>, expected: impl ToString, got: impl ToString) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}
