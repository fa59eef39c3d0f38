//! Evaluating a [`TrainedModel`] the way the paper does, and the raw-feature baseline.

use rand::SeedableRng;

use super::{encoder_information_bounds_using, Embeddings, EvalInputs, EvalProtocol, EvalReport};
use crate::data::{DatasetSplits, MultiViewDataset};
use crate::models::{training_views, TrainedModel};
use crate::pool::ComputePool;
use crate::train::stream_seed;
use crate::{Error, Matrix, MibRng, Result};

fn labels(ds: &MultiViewDataset, which: &str) -> Result<Vec<u32>> {
    ds.labels.clone().ok_or_else(|| {
        Error::Data(format!(
            "the {which} split has no labels: nothing to evaluate against"
        ))
    })
}

/// The view whose test items are the retrieval gallery for queries of training view `view`.
fn other_view(view: usize) -> usize {
    if view == 1 {
        0
    } else {
        1
    }
}

/// Class labels, or none (empty) when the items carry multi-hot targets instead.
fn labels_or_targets(ds: &MultiViewDataset, which: &str) -> Result<Vec<u32>> {
    match (&ds.labels, &ds.targets) {
        (Some(l), _) => Ok(l.clone()),
        (None, Some(_)) => Ok(Vec::new()),
        (None, None) => labels(ds, which),
    }
}

/// Posterior means of the train and test splits under `model` (first training view; for
/// multi-view objectives on distinct views, the second view's test items too, for cross-view
/// retrieval), with labels (empty when the data has multi-hot targets and no class labels).
pub fn embed_splits(model: &mut TrainedModel, data: &DatasetSplits) -> Result<Embeddings> {
    embed_splits_of_view(model, data, 0)
}

/// [`embed_splits`] through the encoder of training view `view` (`0..model.n_views()`), in the
/// model's [`TrainedModel::representation`]; the retrieval gallery is view 1's test items (view
/// 0's when `view` is 1), embedded here for posterior means only (two encoders' hidden layers
/// share no space).
pub fn embed_splits_of_view(
    model: &mut TrainedModel,
    data: &DatasetSplits,
    view: usize,
) -> Result<Embeddings> {
    let views = training_views(model.config(), data.train.views.len())?;
    crate::models::slot_view(&views, view)?;
    let other = other_view(view);
    // Retrieval compares two encoders' outputs: only their posterior means share a space (for
    // the other representations, evaluate_model_view scores it on the means); items lacking
    // views have no cross-view pair to retrieve: no retrieval then.
    let test_view2 = if views[view] != views[other]
        && model.config().model.objective.is_multi_view()
        && model.representation() == crate::config::Representation::Mean
        && !data.test.has_missing()
    {
        Some(model.embed_dataset(&data.test, other)?)
    } else {
        None
    };
    Ok(Embeddings {
        train: model.embed_dataset(&data.train, view)?,
        y_train: labels_or_targets(&data.train, "train")?,
        test: model.embed_dataset(&data.test, view)?,
        y_test: labels_or_targets(&data.test, "test")?,
        test_view2,
    })
}

/// Evaluates `model` the way the paper does: posterior means of the train and test splits (first
/// training view), the few-label linear probe, kNN, the `I(y;z)` bound, `I(x;z)` bounds from the
/// encoder's density, and for multi-view data cross-view retrieval (test items of view 1 as queries
/// against view 2). Also returns the representations it evaluated (to save or plot).
pub fn evaluate_model(
    model: &mut TrainedModel,
    data: &DatasetSplits,
    protocol: &EvalProtocol,
) -> Result<(EvalReport, Embeddings)> {
    evaluate_model_view(model, data, protocol, 0)
}

/// [`evaluate_model`] on the representations of training view `view` (`0..model.n_views()`;
/// [`embed_splits_of_view`]).
pub fn evaluate_model_view(
    model: &mut TrainedModel,
    data: &DatasetSplits,
    protocol: &EvalProtocol,
    view: usize,
) -> Result<(EvalReport, Embeddings)> {
    model.check_dataset(&data.train)?;
    let views = training_views(model.config(), data.train.views.len())?;
    // Missing views: the items that have this view (the fused representation covers them all:
    // evaluate_model_fused).
    let sub;
    let data = if data.train.has_missing() || data.test.has_missing() {
        let v = crate::models::slot_view(&views, view)?;
        sub = DatasetSplits {
            train: std::sync::Arc::new(data.train.subset(&data.train.present_items(v))),
            test: data.test.subset(&data.test.present_items(v)),
            train_rows: None,
            test_rows: None,
        };
        &sub
    } else {
        data
    };
    let emb = embed_splits_of_view(model, data, view)?;
    let mut report = probe_embeddings(model, data, protocol, &emb)?;
    // I(x; z) of the view's encoder, bounded with its own density on (up to) 2,000 test items.
    let x = data.test.views[views[view]].head(2000);
    let (mean, scale) = model.posterior(view, &x)?;
    let mut rng = MibRng::seed_from_u64(stream_seed(protocol.seed, 6));
    let b = model
        .pool()
        .install(|| encoder_information_bounds_using(&mean, &scale, &mut rng))??;
    let ip = report
        .information_plane
        .get_or_insert_with(Default::default);
    ip.i_xz = Some(b.upper);
    ip.i_xz_lower = Some(b.lower);
    ip.i_xz_estimator = format!("{} (n = {})", super::I_XZ_ENCODER_BOUNDS, b.n);
    report.semi_supervised =
        semi_supervised_report(model, data, protocol, &emb, views[view], view)?;
    let repr = model.representation();
    report.representation = Some(repr.name().to_string());
    if repr != crate::config::Representation::Mean
        && !data.test.has_missing()
        && views[view] != views[other_view(view)]
        && model.config().model.objective.is_multi_view()
        && data.train.labels.is_some()
    {
        // Retrieval compares two encoders' outputs: only their posterior means share a space.
        let q = model.embed(view, &data.test.views[views[view]])?;
        let other = other_view(view);
        let g = model.embed(other, &data.test.views[views[other]])?;
        let y = &emb.y_test;
        report.retrieval = Some(
            model
                .pool()
                .install(|| super::retrieval(&q, y, &g, y, protocol.retrieval_k))??,
        );
    }
    Ok((report, emb))
}

/// The semi-supervised row (`model.label_weight > 0` with `[data.labelled]`, class labels, no
/// missing views): the model's classifier, the frozen probe on `emb` and the probe on the raw view
/// `data_view`, all from the labelled items the model trained with. `None` for other models.
fn semi_supervised_report(
    model: &mut TrainedModel,
    data: &DatasetSplits,
    protocol: &EvalProtocol,
    emb: &Embeddings,
    data_view: usize,
    view: usize,
) -> Result<Option<super::SemiSupervisedReport>> {
    let cfg = model.config().clone();
    let (Some(l), Some(_)) = (&cfg.data.labelled, &data.train.labels) else {
        return Ok(None);
    };
    if cfg.model.label_weight <= 0.0 || data.train.has_missing() || data.train_rows.is_some() {
        return Ok(None);
    }
    let idx: Vec<usize> = crate::train::labelled_items(&data.train, l)?
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let y: Vec<u32> = idx.iter().map(|&i| emb.y_train[i]).collect();
    let nc = data.train.n_classes;
    let (xt_raw, yt) = (&data.test.views[data_view], &emb.y_test);
    let predicted = model.classify(view, xt_raw)?;
    let classifier_accuracy =
        predicted.iter().zip(yt).filter(|(p, y)| p == y).count() as f64 / yt.len().max(1) as f64;
    let probe = &protocol.probe;
    let (probe_accuracy, raw_accuracy) = model.pool().install(|| -> Result<(f64, f64)> {
        let fitted = probe.fit(&emb.train.select_rows(&idx), &y, nc)?;
        let on_repr = fitted.accuracy(&emb.test, yt);
        let raw = &data.train.views[data_view];
        let fitted = probe.fit(&raw.select_rows(&idx), &y, nc)?;
        Ok((on_repr, fitted.accuracy(xt_raw, yt)))
    })??;
    Ok(Some(super::SemiSupervisedReport {
        labels_per_class: l.labels_per_class,
        draw: l.draw,
        classifier_accuracy,
        probe_accuracy,
        raw_accuracy,
    }))
}

/// [`evaluate_model`] on one representation per item fused from the views it has
/// ([`crate::models::Fuse`]: the product of the views' posteriors, or the mean of their means):
/// every item of both splits, also those lacking views. No cross-view retrieval and no `I(x; z)`
/// bounds (they are per view).
pub fn evaluate_model_fused(
    model: &mut TrainedModel,
    data: &DatasetSplits,
    protocol: &EvalProtocol,
    fuse: crate::models::Fuse,
) -> Result<(EvalReport, Embeddings)> {
    model.check_dataset(&data.train)?;
    if data.train_rows.is_some() {
        return Err(Error::config(
            "fuse",
            format!("{fuse:?}").to_lowercase(),
            "fused representations of memory-mapped views are not supported yet",
        ));
    }
    let emb = Embeddings {
        train: model.embed_dataset_fused(&data.train, fuse)?,
        y_train: labels_or_targets(&data.train, "train")?,
        test: model.embed_dataset_fused(&data.test, fuse)?,
        y_test: labels_or_targets(&data.test, "test")?,
        test_view2: None,
    };
    let report = probe_embeddings(model, data, protocol, &emb)?;
    Ok((report, emb))
}

/// The protocol on `emb` (the representations of `data`'s splits): the probes with class labels,
/// the multi-label probe with multi-hot targets, the sizes alone without either.
fn probe_embeddings(
    model: &TrainedModel,
    data: &DatasetSplits,
    protocol: &EvalProtocol,
    emb: &Embeddings,
) -> Result<EvalReport> {
    let inputs = EvalInputs {
        n_classes: data.train.n_classes,
        ..emb.inputs()
    };
    let mut report = if data.train.labels.is_some() {
        model.pool().install(|| protocol.evaluate(&inputs))??
    } else {
        EvalReport {
            representation_dim: Some(emb.train.cols),
            n_train: Some(emb.train.rows),
            n_test: Some(emb.test.rows),
            seed: Some(protocol.seed),
            ..EvalReport::default()
        }
    };
    if let (Some(ttr), Some(tte)) = (&data.train.targets, &data.test.targets) {
        report.multilabel = Some(
            model
                .pool()
                .install(|| protocol.evaluate_multilabel(&emb.train, ttr, &emb.test, tte))??,
        );
    }
    Ok(report)
}

/// Evaluates the raw input features of view `view` with the same protocol (the baseline a
/// representation must beat), on `pool`.
pub fn evaluate_raw(
    data: &DatasetSplits,
    view: usize,
    protocol: &EvalProtocol,
    pool: &ComputePool,
) -> Result<EvalReport> {
    let (tr, te) = (&data.train, &data.test);
    if let (None, Some(ttr), Some(tte)) = (&tr.labels, &tr.targets, &te.targets) {
        let (x, xt) = (get(tr, view)?, get(te, view)?);
        return Ok(EvalReport {
            multilabel: Some(pool.install(|| protocol.evaluate_multilabel(x, ttr, xt, tte))??),
            representation_dim: Some(x.cols),
            n_train: Some(x.rows),
            n_test: Some(xt.rows),
            seed: Some(protocol.seed),
            ..EvalReport::default()
        });
    }
    fn get(ds: &MultiViewDataset, view: usize) -> Result<&Matrix> {
        ds.views.get(view).ok_or_else(|| {
            Error::config(
                "view",
                view,
                format!("the data has {} views", ds.views.len()),
            )
        })
    }
    let (y_train, y_test) = (labels(tr, "train")?, labels(te, "test")?);
    let inputs = EvalInputs {
        train: get(tr, view)?,
        y_train: &y_train,
        test: get(te, view)?,
        y_test: &y_test,
        n_classes: tr.n_classes,
        test_view2: None,
    };
    pool.install(|| protocol.evaluate(&inputs))?
}
