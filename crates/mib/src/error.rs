//! The library's error type.

use std::path::PathBuf;

/// Errors raised by `mib`. Each variant carries the offending file, field or value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error: what was attempted, on which file, and why (one line; the OS error is not
    /// repeated as a source).
    #[error("{op} {path}: {reason}")]
    Io {
        /// What was attempted ("reading", "creating folder", ...).
        op: String,
        /// The file being read or written.
        path: PathBuf,
        /// Why it failed: the OS's message, without its "(os error N)" suffix.
        reason: String,
        /// The kind of the underlying error.
        kind: std::io::ErrorKind,
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
    /// An I/O error of operation `op` (a verb phrase: "reading", "creating folder") on `path`.
    pub fn io(op: &str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let text = source.to_string();
        let text = match text.rfind(" (os error ") {
            Some(i) if text.ends_with(')') => text[..i].to_string(),
            _ => text,
        };
        let mut reason = text.chars();
        let reason = match reason.next() {
            Some(c) => c.to_lowercase().chain(reason).collect(),
            None => String::new(),
        };
        Error::Io {
            op: op.to_string(),
            path: path.into(),
            reason,
            kind: source.kind(),
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
