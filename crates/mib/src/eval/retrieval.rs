//! Retrieval metrics: mAP@all and Precision@K for single-label retrieval (e.g. cross-view: queries
//! are view-1 representations, the gallery view-2 representations), and the label-wise mean average
//! precision of multi-label scores.
//!
//! Conventions (all tested on hand-worked cases in `tests/eval_retrieval.rs`):
//! - the gallery is ranked by increasing Euclidean distance to the query; **ties keep gallery order**
//!   (lower index first), so the ranking is deterministic;
//! - a gallery item is *relevant* when it has the query's label;
//! - average precision of a query with `R >= 1` relevant items is
//!   `AP = (1/R) sum_{r: item at rank r relevant} (relevant items in ranks 1..=r) / r`;
//!   mAP@all is its mean over queries;
//! - Precision@K is `(relevant items in the top min(K, N)) / min(K, N)` for a gallery of `N`;
//! - a query with **no relevant item** in the gallery has no AP: it is left out of both means and
//!   counted in [`RetrievalReport::queries_without_relevant`].

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::knn::{distance_block, row_sq_norms, Distance, QUERY_BLOCK};
use super::linear_probe::check_xy;
use crate::{Error, Matrix, Result};

/// Retrieval quality of a set of queries against a gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    /// Mean average precision over the whole ranking (mAP@all), over queries with a relevant item.
    pub map_at_all: f64,
    /// Mean Precision@K over the same queries.
    pub precision_at_k: f64,
    /// The `K` of Precision@K.
    pub k: usize,
    /// Queries evaluated (those with at least one relevant gallery item).
    pub queries: usize,
    /// Queries left out because no gallery item shares their label.
    pub queries_without_relevant: usize,
}

/// Per-query ranking metrics `(AP, Precision@K)`, `None` when nothing is relevant.
/// `relevant[j]` says whether gallery item `j` is relevant; `dist[j]` is its distance.
pub fn query_metrics(dist: &[f32], relevant: &[bool], k: usize) -> Option<(f64, f64)> {
    let n_rel = relevant.iter().filter(|&&r| r).count();
    if n_rel == 0 {
        return None;
    }
    // Sort keys: the distance's order-preserving integer image, then the gallery index.
    let key = |v: f32| {
        let b = v.to_bits();
        if b >> 31 == 1 {
            !b
        } else {
            b | (1 << 31)
        }
    };
    let mut order: Vec<u64> = dist
        .iter()
        .enumerate()
        .map(|(j, &v)| ((key(v) as u64) << 32) | j as u64)
        .collect();
    order.sort_unstable();
    let mut hits = 0usize;
    let mut ap = 0.0;
    let kk = k.min(dist.len()).max(1);
    let mut hits_at_k = 0usize;
    for (r, &o) in order.iter().enumerate() {
        let j = (o & 0xFFFF_FFFF) as usize;
        if relevant[j] {
            hits += 1;
            ap += hits as f64 / (r + 1) as f64;
        }
        if r + 1 == kk {
            hits_at_k = hits;
        }
    }
    Some((ap / n_rel as f64, hits_at_k as f64 / kk as f64))
}

/// mAP@all and Precision@K of Euclidean retrieval, relevant = same label (see the module docs for
/// ties and queries without relevant items). Queries are processed in parallel.
pub fn retrieval(
    queries: &Matrix,
    q_labels: &[u32],
    gallery: &Matrix,
    g_labels: &[u32],
    k: usize,
) -> Result<RetrievalReport> {
    check_xy(queries, q_labels.len(), "retrieval queries")?;
    check_xy(gallery, g_labels.len(), "retrieval gallery")?;
    if queries.cols != gallery.cols {
        return Err(Error::shape(
            "retrieval gallery features",
            queries.cols,
            gallery.cols,
        ));
    }
    if k == 0 {
        return Err(Error::config("eval.retrieval_k", 0, "must be at least 1"));
    }
    let g_sq = row_sq_norms(gallery);
    let d = queries.cols;
    let per_query: Vec<Option<(f64, f64)>> = queries
        .data
        .par_chunks(QUERY_BLOCK * d)
        .enumerate()
        .flat_map_iter(|(b, block)| {
            let mut dist = Vec::new();
            distance_block(Distance::Euclidean, block, gallery, &g_sq, &mut dist);
            let m = block.len() / d;
            (0..m)
                .map(|r| {
                    let i = b * QUERY_BLOCK + r;
                    let rel: Vec<bool> = g_labels.iter().map(|&l| l == q_labels[i]).collect();
                    query_metrics(&dist[r * gallery.rows..(r + 1) * gallery.rows], &rel, k)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let done: Vec<(f64, f64)> = per_query.iter().flatten().copied().collect();
    let n = done.len();
    let mean = |f: fn(&(f64, f64)) -> f64| {
        if n == 0 {
            f64::NAN
        } else {
            done.iter().map(f).sum::<f64>() / n as f64
        }
    };
    Ok(RetrievalReport {
        map_at_all: mean(|p| p.0),
        precision_at_k: mean(|p| p.1),
        k,
        queries: n,
        queries_without_relevant: queries.rows - n,
    })
}

/// Average precision of one ranking by `scores` (higher = more relevant), scikit-learn's
/// `average_precision_score` definition: `AP = sum_t (R_t - R_{t-1}) P_t` over the distinct score
/// thresholds `t` in decreasing order, so **tied scores form one threshold** (their order does
/// not matter). `None` when there is no positive.
pub fn average_precision(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut ap, mut prev_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            tp += positive[order[i]] as usize;
            seen += 1;
            i += 1;
        }
        let recall = tp as f64 / n_pos as f64;
        ap += (recall - prev_recall) * tp as f64 / seen as f64;
        prev_recall = recall;
    }
    Some(ap)
}

/// Mean over labels of the [`average_precision`] of each label's column: `scores` and `targets` are
/// `n_items x n_labels`, a target entry above 0.5 is positive. Labels with no positive item are left
/// out of the mean (NaN when no label has one). This is the "macro" mAP used for MIR-Flickr.
pub fn mean_average_precision_multilabel(scores: &Matrix, targets: &Matrix) -> Result<f64> {
    if scores.rows != targets.rows || scores.cols != targets.cols {
        return Err(Error::shape(
            "multi-label targets",
            format!("{} x {}", scores.rows, scores.cols),
            format!("{} x {}", targets.rows, targets.cols),
        ));
    }
    let aps: Vec<f64> = (0..scores.cols)
        .into_par_iter()
        .filter_map(|l| {
            let s: Vec<f32> = (0..scores.rows)
                .map(|i| scores.data[i * scores.cols + l])
                .collect();
            let p: Vec<bool> = (0..targets.rows)
                .map(|i| targets.data[i * targets.cols + l] > 0.5)
                .collect();
            average_precision(&s, &p)
        })
        .collect();
    Ok(if aps.is_empty() {
        f64::NAN
    } else {
        aps.iter().sum::<f64>() / aps.len() as f64
    })
}
