//! Incomplete multi-view data: which items each view has.
//!
//! Missingness is always explicit. A view's item is missing when its mask says so (a boolean or
//! 0/1 array of length `n` per view: `present=` in Python, `data.present` / `--present` files in
//! the CLI) or, only where [`MissingRows::NanRows`] is turned on, when its row is entirely NaN.
//! Every other NaN stays an error naming the view, row and column.
//!
//! The rows of missing items are set to zero, so that nothing downstream ever reads a NaN; the
//! batch producer, the training step and the fused representations read the mask
//! ([`super::MultiViewDataset::present`]) and never use those rows.

use super::MultiViewDataset;
use crate::{Error, Matrix, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Whether a row that is entirely NaN means "this item lacks this view" (`data.missing`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingRows {
    /// No: every NaN is an error (default).
    #[default]
    None,
    /// Yes: an all-NaN row is a missing item; any other NaN is still an error.
    NanRows,
}

impl MissingRows {
    /// Whether this is the default ([`MissingRows::None`]).
    pub fn is_none(&self) -> bool {
        *self == MissingRows::None
    }
}

/// Marks the missing items of each view and zeroes their rows.
///
/// `masks[v]` (when given, and when `masks` is not empty) is view `v`'s presence mask, `n` long;
/// `nan_rows` adds every all-NaN row as missing. Returns `None` when every view has every item
/// (the complete case), else one mask per view. Errors name the view (`names[v]`) of a mask of the
/// wrong length, and of a NaN inside a present row (row and column).
pub fn mark_missing(
    views: &mut [Matrix],
    names: &[String],
    nan_rows: MissingRows,
    masks: &[Option<Vec<bool>>],
) -> Result<Option<Vec<Vec<bool>>>> {
    let name = |v: usize| names.get(v).cloned().unwrap_or_else(|| format!("view{v}"));
    if !masks.is_empty() && masks.len() != views.len() {
        return Err(Error::shape(
            "presence masks (one per view)",
            views.len(),
            masks.len(),
        ));
    }
    let mut out = Vec::with_capacity(views.len());
    for (v, m) in views.iter_mut().enumerate() {
        let mut present = match masks.get(v).and_then(Option::as_ref) {
            Some(mask) => {
                if mask.len() != m.rows {
                    return Err(Error::Data(format!(
                        "view `{}`: its presence mask has {} entries, but the view has {} rows",
                        name(v),
                        mask.len(),
                        m.rows
                    )));
                }
                mask.clone()
            }
            None => vec![true; m.rows],
        };
        let d = m.cols;
        if nan_rows == MissingRows::NanRows && d > 0 {
            for (i, p) in present.iter_mut().enumerate() {
                if *p && m.row(i).iter().all(|x| x.is_nan()) {
                    *p = false;
                }
            }
        }
        if present.iter().any(|p| !p) {
            for (i, &p) in present.iter().enumerate() {
                if !p {
                    m.data[i * d..(i + 1) * d].fill(0.0);
                }
            }
        }
        out.push(present);
    }
    if out.iter().all(|p| p.iter().all(|&x| x)) {
        return Ok(None);
    }
    Ok(Some(out))
}

/// Reads a presence mask: a `.npy` (or `archive.npz:array`) of `n` booleans or integers 0/1
/// (`1`: the view has the item). Errors name the file and the first other value.
pub fn read_mask(path: &Path) -> Result<Vec<bool>> {
    let a = super::npz::read_array(path)?;
    if a.shape.len() != 1 && !(a.shape.len() == 2 && a.shape[1] == 1) {
        return Err(Error::format(
            path,
            format!(
                "a presence mask is one entry per item (shape (n,)), shape is {:?}",
                a.shape
            ),
        ));
    }
    (0..a.data.len())
        .map(|i| match a.data.get_f64(i) {
            1.0 => Ok(true),
            0.0 => Ok(false),
            x => Err(Error::format(
                path,
                format!("presence mask value {x} at item {i} is not 0/1 (or a boolean)"),
            )),
        })
        .collect()
}

/// The presence mask files of the views `paths` (`data.present`: one per view, an empty path for
/// a complete view; none at all: every view complete), read with [`read_mask`].
pub fn read_masks(paths: &[PathBuf], present: &[PathBuf]) -> Result<Vec<Option<Vec<bool>>>> {
    if !present.is_empty() && present.len() != paths.len() {
        return Err(Error::config(
            "data.present",
            present.len(),
            format!(
                "give one mask file per view ({} views; an empty entry for a complete view)",
                paths.len()
            ),
        ));
    }
    present
        .iter()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Ok(None)
            } else {
                read_mask(p).map(Some)
            }
        })
        .collect()
}

/// Aligns views that come with their own item ids (`ids[v]` names the rows of view `v`, as
/// MOFA2 and MuData do): the items are the union of the ids, in order of first appearance (the
/// first view's ids in its order, then each later view's new ids in its order). Returns the item
/// ids and, per view, the item of each of its rows. Refuses, naming the view (`names[v]`): an id
/// that appears twice in one view, and (with two views or more) a view that shares no item with
/// any other view. Python's `fit(views, ids=...)` aligns the same way.
pub fn align_ids<T>(ids: &[Vec<T>], names: &[String]) -> Result<(Vec<T>, Vec<Vec<usize>>)>
where
    T: Clone + Eq + std::hash::Hash + std::fmt::Display,
{
    use std::collections::HashMap;
    let mut index: HashMap<&T, usize> = HashMap::new();
    let mut items: Vec<T> = Vec::new();
    let mut rows = Vec::with_capacity(ids.len());
    for (v, iv) in ids.iter().enumerate() {
        let mut seen: HashMap<&T, usize> = HashMap::with_capacity(iv.len());
        let mut r = Vec::with_capacity(iv.len());
        for (row, id) in iv.iter().enumerate() {
            if let Some(first) = seen.insert(id, row) {
                return Err(Error::Data(format!(
                    "view `{}`: item id `{id}` appears twice (rows {first} and {row}); an item \
                     has one row per view",
                    names[v]
                )));
            }
            let next = items.len();
            let i = *index.entry(id).or_insert(next);
            if i == next {
                items.push(id.clone());
            }
            r.push(i);
        }
        rows.push(r);
    }
    if ids.len() >= 2 {
        let mut count = vec![0u32; items.len()];
        for r in &rows {
            for &i in r {
                count[i] += 1;
            }
        }
        if let Some(v) = rows.iter().position(|r| r.iter().all(|&i| count[i] == 1)) {
            return Err(Error::Data(format!(
                "view `{}` has no item in common with the other views ({} ids, none of them in \
                 another view's ids); check that the views' ids name the same items",
                names[v],
                ids[v].len()
            )));
        }
    }
    Ok((items, rows))
}

/// Reads an item-ids file: an `.npy` (or `archive.npz:array`) of integers, one per row, or a
/// text file with one id per line (surrounding spaces and a last empty line ignored; a `\r\n`
/// line end is one). Errors name the file.
pub fn read_ids(path: &Path) -> Result<Vec<String>> {
    let s = path.to_string_lossy();
    if s.ends_with(".npy") || s.contains(".npz:") {
        let a = super::npz::read_array(path)?;
        if a.shape.len() != 1 {
            return Err(Error::format(
                path,
                format!(
                    "item ids are one per row (shape (n,)), shape is {:?}",
                    a.shape
                ),
            ));
        }
        return (0..a.data.len())
            .map(|i| {
                let x = a.data.get_f64(i);
                if x.fract() != 0.0 || !x.is_finite() {
                    return Err(Error::format(
                        path,
                        format!("item id {x} at row {i} is not an integer (ids in an .npy are integers; write strings to a text file, one per line)"),
                    ));
                }
                Ok(format!("{}", x as i64))
            })
            .collect();
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let mut ids: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if ids.last().is_some_and(String::is_empty) {
        ids.pop();
    }
    if let Some(i) = ids.iter().position(String::is_empty) {
        return Err(Error::format(
            path,
            format!("line {} is empty: one item id per line", i + 1),
        ));
    }
    Ok(ids)
}

/// Views with their own rows, aligned by item ids ([`align_ids`]): every view becomes one row
/// per item (zeros where it lacks the item) with its presence mask. `ids[v]` must have one id per
/// row of `views[v]` (else the error names the view and both counts). Returns the item ids.
pub fn align_views_by_ids(
    views: &mut [Matrix],
    ids: &[Vec<String>],
    names: &[String],
) -> Result<(Vec<String>, Vec<Vec<bool>>)> {
    for (v, (m, iv)) in views.iter().zip(ids).enumerate() {
        if iv.len() != m.rows {
            return Err(Error::Data(format!(
                "view `{}`: {} item ids, but the view has {} rows",
                names[v],
                iv.len(),
                m.rows
            )));
        }
    }
    let (items, rows) = align_ids(ids, names)?;
    let n = items.len();
    let mut present = Vec::with_capacity(views.len());
    for (m, r) in views.iter_mut().zip(&rows) {
        let d = m.cols;
        let mut full = Matrix::zeros(n, d);
        let mut p = vec![false; n];
        for (row, &i) in r.iter().enumerate() {
            full.row_mut(i).copy_from_slice(m.row(row));
            p[i] = true;
        }
        *m = full;
        present.push(p);
    }
    Ok((items, present))
}

/// Refuses, naming the view or item, presence masks that are not one per view of `n` entries,
/// a view with no present item and an item with no view (`names[v]` names view `v`).
pub fn check_presence(present: &[Vec<bool>], names: &[String], n: usize) -> Result<()> {
    if present.len() != names.len() {
        return Err(Error::shape(
            "presence masks (one per view)",
            names.len(),
            present.len(),
        ));
    }
    for (v, m) in present.iter().enumerate() {
        if m.len() != n {
            return Err(Error::Data(format!(
                "view `{}`: its presence mask has {} entries, but the view has {n} rows",
                names[v],
                m.len()
            )));
        }
        if !m.iter().any(|&x| x) {
            return Err(Error::Data(format!(
                "view `{}` has no present item (every entry of its mask is missing)",
                names[v]
            )));
        }
    }
    if let Some(i) = (0..n).find(|&i| !present.iter().any(|m| m[i])) {
        return Err(Error::Data(format!(
            "item {i} has no view (every view marks it missing); drop it from the data"
        )));
    }
    Ok(())
}

/// [`mark_missing`] for memory-mapped views: which rows of each mapped file are present, from
/// the masks (`masks[v]`, when given) and, with [`MissingRows::NanRows`], a streaming pass over
/// the file that finds its all-NaN rows (one row in memory at a time: the pages read stay in the
/// page cache). Nothing is zeroed: a mapped view gives zeros for its missing rows as it reads
/// them. Returns `None` for complete data; refuses what [`check_presence`] refuses.
pub fn mapped_presence(
    arrays: &[std::sync::Arc<super::mapped::MappedArray>],
    names: &[String],
    nan_rows: MissingRows,
    masks: &[Option<Vec<bool>>],
) -> Result<Option<Vec<Vec<bool>>>> {
    if !masks.is_empty() && masks.len() != arrays.len() {
        return Err(Error::shape(
            "presence masks (one per view)",
            arrays.len(),
            masks.len(),
        ));
    }
    let n = arrays.first().map_or(0, |a| a.rows());
    let mut out = Vec::with_capacity(arrays.len());
    for (v, a) in arrays.iter().enumerate() {
        let mut present = match masks.get(v).and_then(Option::as_ref) {
            Some(mask) => {
                if mask.len() != a.rows() {
                    return Err(Error::Data(format!(
                        "view `{}`: its presence mask has {} entries, but the view has {} rows",
                        names[v],
                        mask.len(),
                        a.rows()
                    )));
                }
                mask.clone()
            }
            None => vec![true; a.rows()],
        };
        if nan_rows == MissingRows::NanRows {
            a.mark_nan_rows(&mut present);
        }
        out.push(present);
    }
    if out.iter().all(|p| p.iter().all(|&x| x)) {
        return Ok(None);
    }
    check_presence(&out, names, n)?;
    Ok(Some(out))
}

impl MultiViewDataset {
    /// Sets which items each view has (`None`: all; see [`mark_missing`], which also zeroes the
    /// rows of missing items). Refuses, naming the view or item, a mask of the wrong length, an
    /// item with no view and a view with no item.
    pub fn with_present(mut self, present: Option<Vec<Vec<bool>>>) -> Result<Self> {
        if let Some(p) = &present {
            check_presence(p, &self.view_names, self.len())?;
        }
        if let Some(p) = &present {
            // nothing downstream reads a missing item's row; zeros keep NaN out of every product
            for (m, mask) in self.views.iter_mut().zip(p) {
                let d = m.cols;
                for (i, _) in mask.iter().enumerate().filter(|(_, &x)| !x) {
                    if m.row(i).iter().any(|&x| x != 0.0) {
                        m.data[i * d..(i + 1) * d].fill(0.0);
                    }
                }
            }
        }
        self.present = present;
        Ok(self)
    }

    /// Whether view `v` has item `i`.
    pub fn is_present(&self, v: usize, i: usize) -> bool {
        self.present.as_ref().is_none_or(|p| p[v][i])
    }

    /// Whether some view lacks some item.
    pub fn has_missing(&self) -> bool {
        self.present.is_some()
    }

    /// The items view `v` has, in order.
    pub fn present_items(&self, v: usize) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.is_present(v, i)).collect()
    }

    /// The rows of view `v` that it has (all of them for complete data).
    pub fn present_rows(&self, v: usize) -> Matrix {
        match &self.present {
            None => self.views[v].clone(),
            Some(_) => self.views[v].select_rows(&self.present_items(v)),
        }
    }

    /// Refuses a pair of the views `views` whose items share fewer than 2 items (a view pair's
    /// term needs at least two items with both views: one positive, one negative), naming them.
    pub fn check_shared_items(&self, views: &[usize]) -> Result<()> {
        let Some(p) = &self.present else {
            return Ok(());
        };
        for (a, &i) in views.iter().enumerate() {
            for &j in &views[a + 1..] {
                if i == j {
                    continue;
                }
                let shared = (0..self.len()).filter(|&k| p[i][k] && p[j][k]).count();
                if shared < 2 {
                    return Err(Error::Data(format!(
                        "views `{}` and `{}` share {shared} item(s); a pair of views needs at least 2 \
                         items that have both",
                        self.view_names[i], self.view_names[j]
                    )));
                }
            }
        }
        Ok(())
    }
}
