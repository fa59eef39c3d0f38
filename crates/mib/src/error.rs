//! The library's error type.

use std::path::PathBuf;

/// Errors raised by `mib`. Each variant carries the offending file, field or value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error: what was attempted, on which file, and why, in one line
    /// (`creating run folder runs/x: not a directory`).
    #[error("{op} {}: {}", path.display(), io_reason(error))]
    Io {
        /// What was attempted (`reading`, `creating run folder`, ...).
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error. Its text is part of this error's message, so it is deliberately
        /// not exposed as `source()` (a report that prints the chain would say it twice).
        error: std::io::Error,
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
    /// A safetensors file that could not be read or written (the inner error's text is the
    /// message; not chained as `source()`, for the same reason as [`Error::Io`]).
    #[error("safetensors: {0}")]
    SafeTensors(safetensors::SafeTensorError),
    /// A JSON (de)serialisation error (message as for [`Error::SafeTensors`]).
    #[error("json: {0}")]
    Json(serde_json::Error),
    /// Training diverged (non-finite loss or gradients too many times in a row).
    #[error("{0}")]
    Diverged(String),
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<safetensors::SafeTensorError> for Error {
    fn from(e: safetensors::SafeTensorError) -> Self {
        Error::SafeTensors(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

/// Why an I/O operation failed, as the end of a sentence: the OS's message without its
/// `(os error N)` suffix, first letter lowercased (`No such file or directory (os error 2)` ->
/// `no such file or directory`).
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(i)) if text.ends_with(')') => &text[..i],
        _ => &text[..],
    };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        // Lowercase a capitalised word ("Permission"), not an acronym ("EOF").
        (Some(a), Some(b)) if a.is_uppercase() && !b.is_uppercase() => a
            .to_lowercase()
            .chain(text[a.len_utf8()..].chars())
            .collect(),
        _ => text.to_string(),
    }
}

impl Error {
    /// An I/O error: `op` is what was attempted on `path` (`"reading"`, `"creating run folder"`),
    /// so that the message reads `{op} {path}: {reason}`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            error,
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
