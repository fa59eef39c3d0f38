//! `mib export`: one view's encoder of a run as a file other runtimes read (ONNX).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mib::export::{resolve_view, write_encoder_onnx, OnnxOutput};
use mib::train::RunFolder;

/// The file format of `mib export`.
#[derive(Clone, Copy, Debug, ValueEnum, Default)]
pub(crate) enum ExportFormat {
    /// ONNX (opset 17): ONNX Runtime, TensorRT, onnx2torch, onnxruntime-web, ...
    #[default]
    Onnx,
}

/// What the exported model outputs.
#[derive(Clone, Copy, Debug, ValueEnum, Default)]
pub(crate) enum ExportOutput {
    /// The posterior means `mean` [batch, z_dim] (what `mib embed` writes).
    #[default]
    Mean,
    /// `mean` and `scale` [batch, z_dim] each: the Gaussian posterior (scale = softplus + 1e-7).
    MeanScale,
}

/// Flags of `mib export`.
#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// Run folder (holds config.toml and model.safetensors or checkpoints/).
    run: PathBuf,
    /// Which training view's encoder: an index (0, 1, ...; 0..K for a model trained on K views)
    /// or a view name (e.g. pix).
    #[arg(long, default_value = "0")]
    view: String,
    /// File format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Onnx)]
    format: ExportFormat,
    /// Output file (default: RUN/encoder_view<V>.onnx).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// What the model outputs: the posterior mean, or its mean and scale.
    #[arg(long, value_enum, default_value_t = ExportOutput::Mean)]
    output: ExportOutput,
}

pub(crate) fn export(a: ExportArgs) -> Result<()> {
    let run = RunFolder::new(&a.run);
    let cfg = run.read_config()?;
    let model = run.open_model(cfg.train.threads)?;
    let view = resolve_view(&model, &a.view).context("--view")?;
    let output = match a.output {
        ExportOutput::Mean => OnnxOutput::Mean,
        ExportOutput::MeanScale => OnnxOutput::MeanScale,
    };
    let ExportFormat::Onnx = a.format;
    let out = a
        .out
        .unwrap_or_else(|| a.run.join(format!("encoder_view{view}.onnx")));
    write_encoder_onnx(&model, view, output, &out)?;
    eprintln!(
        "wrote {} (view {view} `{}`: x [batch, {}] -> {} [batch, {}])",
        out.display(),
        model.info().view_names[view],
        model.info().in_dims[view],
        match output {
            OnnxOutput::Mean => "mean",
            OnnxOutput::MeanScale => "mean, scale",
        },
        model.z_dim()
    );
    Ok(())
}
