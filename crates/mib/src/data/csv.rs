//! Delimited text (CSV): one item per line, numeric columns, an optional header and an optional
//! label column.

use super::array::{maybe_gunzip_limited, MAX_CSV_DECOMPRESSED_BYTES};
use crate::{Error, Matrix, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Whether the first line of a CSV file is a header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CsvHeader {
    /// A header when any field of the first line is not a number (the default). A header made of
    /// numbers only (e.g. column indices, as in the UCI mfeat files) is read as data: say `Yes`.
    #[default]
    Auto,
    /// The first line is a header.
    Yes,
    /// There is no header.
    No,
}

/// Which column of a CSV file holds the class label.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelColumn {
    /// No label column: every column is a feature (the default).
    #[default]
    None,
    /// The last column.
    Last,
    /// The column at this 0-based index.
    Index(usize),
    /// The column with this header name (needs a header).
    Name(String),
}

/// How to read a CSV file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvOptions {
    /// The field separator (default `,`).
    pub delimiter: char,
    /// Whether the first line is a header.
    pub header: CsvHeader,
    /// The label column, if any.
    pub label: LabelColumn,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ',',
            header: CsvHeader::Auto,
            label: LabelColumn::None,
        }
    }
}

/// A CSV file read as features and optional labels.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvTable {
    /// The header fields of the feature columns, when the file has a header.
    pub header: Option<Vec<String>>,
    /// The feature columns, one row per data line.
    pub features: Matrix,
    /// The labels, when a label column was selected.
    pub labels: Option<Vec<u32>>,
}

/// Reads a CSV file (gzip-compressed when it starts with `1f 8b`; at most
/// [`MAX_CSV_DECOMPRESSED_BYTES`](super::array::MAX_CSV_DECOMPRESSED_BYTES) of text).
pub fn read_csv(path: &Path, opts: &CsvOptions) -> Result<CsvTable> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    parse_csv(bytes, path, opts)
}

/// Parses CSV bytes (gzip-compressed or not); `path` only names the source in errors, which give
/// the 1-based line and column of the first bad field.
pub fn parse_csv(bytes: Vec<u8>, path: &Path, opts: &CsvOptions) -> Result<CsvTable> {
    let bytes = maybe_gunzip_limited(bytes, path, MAX_CSV_DECOMPRESSED_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::format(
            path,
            format!(
                "not UTF-8 text (byte offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let split = |l: &str| -> Vec<String> {
        l.split(opts.delimiter)
            .map(|f| f.trim().trim_matches('"').to_string())
            .collect()
    };
    let first = lines
        .peek()
        .map(|(_, l)| split(l))
        .ok_or_else(|| Error::format(path, "empty CSV file: no data lines"))?;
    let has_header = match opts.header {
        CsvHeader::Yes => true,
        CsvHeader::No => false,
        CsvHeader::Auto => first.iter().any(|f| f.parse::<f64>().is_err()),
    };
    let header = if has_header {
        lines.next();
        Some(first.clone())
    } else {
        None
    };
    let ncols = first.len();
    let label_col = match &opts.label {
        LabelColumn::None => None,
        LabelColumn::Last => Some(ncols - 1),
        LabelColumn::Index(i) => Some(*i),
        LabelColumn::Name(name) => {
            let h = header.as_ref().ok_or_else(|| {
                Error::format(path, format!("label column '{name}' needs a header line"))
            })?;
            Some(h.iter().position(|f| f == name).ok_or_else(|| {
                Error::format(path, format!("no column named '{name}' in the header"))
            })?)
        }
    };
    if let Some(c) = label_col {
        if c >= ncols {
            return Err(Error::format(
                path,
                format!("label column {c} is out of range: lines have {ncols} fields"),
            ));
        }
    }
    let nfeat = ncols - label_col.is_some() as usize;
    let mut data = Vec::new();
    let mut labels = label_col.map(|_| Vec::new());
    let mut rows = 0;
    for (lineno, line) in lines {
        let mut count = 0;
        for (c, field) in line.split(opts.delimiter).enumerate() {
            count += 1;
            if count > ncols {
                break;
            }
            let field = field.trim().trim_matches('"');
            if Some(c) == label_col {
                let v: f64 = field.parse().map_err(|_| {
                    Error::format(
                        path,
                        format!(
                            "line {lineno}, column {}: label '{field}' is not a number",
                            c + 1
                        ),
                    )
                })?;
                if !(v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64) {
                    return Err(Error::format(
                        path,
                        format!(
                            "line {lineno}, column {}: label {field} is not a non-negative integer",
                            c + 1
                        ),
                    ));
                }
                labels.as_mut().unwrap().push(v as u32);
            } else {
                let v: f32 = field.parse().map_err(|_| {
                    Error::format(
                        path,
                        format!("line {lineno}, column {}: '{field}' is not a number", c + 1),
                    )
                })?;
                if !v.is_finite() {
                    return Err(Error::format(
                        path,
                        format!("line {lineno}, column {}: non-finite value {field}", c + 1),
                    ));
                }
                data.push(v);
            }
        }
        if count != ncols {
            return Err(Error::format(
                path,
                format!(
                    "line {lineno}: {} fields, expected {ncols} like the first line",
                    if count > ncols {
                        line.split(opts.delimiter).count()
                    } else {
                        count
                    }
                ),
            ));
        }
        rows += 1;
    }
    let header = header.map(|h| {
        h.into_iter()
            .enumerate()
            .filter(|(c, _)| Some(*c) != label_col)
            .map(|(_, f)| f)
            .collect()
    });
    Ok(CsvTable {
        header,
        features: Matrix::new(rows, nfeat, data)?,
        labels,
    })
}

/// Writes features (and labels as the last column when given) as CSV, with an optional header.
pub fn write_csv(
    path: &Path,
    features: &Matrix,
    labels: Option<&[u32]>,
    header: Option<&[String]>,
) -> Result<()> {
    let mut s = String::new();
    if let Some(h) = header {
        s.push_str(&h.join(","));
        s.push('\n');
    }
    for r in 0..features.rows {
        let row: Vec<String> = features.row(r).iter().map(|v| v.to_string()).collect();
        s.push_str(&row.join(","));
        if let Some(l) = labels {
            s.push_str(&format!(",{}", l[r]));
        }
        s.push('\n');
    }
    std::fs::write(path, s).map_err(|e| Error::io("writing", path, e))
}
