use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};
use formats::config::Dataset;
use formats::error;

use super::BackendArg;
use crate::backend;
use crate::export::onnx::{ONNX_FILE, onnx_bytes};
use crate::export::{SAFETENSORS_FILE, WEB_FILE, safetensors_bytes, web_page};
use crate::files::{replaceable, write_atomic};
use crate::keras::KERAS_FILE;
use crate::keras::export::keras_bytes;
use crate::model::Mlp;
use crate::run::{MODEL_FILE, RunDir, SUMMARY_FILE, check_destination};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A run directory written by `train`.
    pub run_dir: PathBuf,
    /// safetensors: PyTorch layout (`layers.{i}.weight` [out, in]); burnpack: Burn's own file;
    /// onnx: a graph for onnxruntime and other runtimes (input `pixels` [N, 784] in 0..1, outputs
    /// `probabilities` and `logits` [N, 10]); web: one self-contained HTML page to draw digits on;
    /// keras: a Keras 3 `.keras` model, compiled, for `keras.saving.load_model`.
    #[arg(long, value_enum, default_value = "safetensors")]
    pub format: Format,
    /// Destination file, or a directory to write into (default: inside RUN_DIR).
    #[arg(long, value_name = "FILE")]
    pub to: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArg,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Safetensors,
    Burnpack,
    Onnx,
    Web,
    Keras,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let run = RunDir::open(&args.run_dir)?;
    let cfg = run.config()?;
    let device = backend::select(args.backend.backend)?.device;
    let default_name = match args.format {
        Format::Safetensors => SAFETENSORS_FILE,
        Format::Burnpack => MODEL_FILE,
        Format::Onnx => ONNX_FILE,
        Format::Web => WEB_FILE,
        Format::Keras => KERAS_FILE,
    };
    let dest = match args.to {
        Some(to) if to.is_dir() => to.join(default_name),
        Some(to) => to,
        // Into the run, which may have come from someone else: never through a link placed there.
        None => run.writable(default_name)?,
    };
    // Never over a FIFO or device, nor into another run; a link is judged by what it points to.
    check_destination(&dest, Some(&run.path))?;
    let target = replaceable(&dest)?;
    let src = run.file(MODEL_FILE);
    let onto_model = same_file(&src, &target);
    // Safetensors or ONNX onto model.bpk, or any export onto config.toml, a checkpoint…
    if let Some(own) = run_file(&run.path, &target, default_name) {
        return Err(error::config(format!(
            "--to {} is the run's own {own}; exporting there would replace it (pick another path)",
            dest.display()
        )));
    }
    if args.format == Format::Web && cfg.data.dataset != Dataset::Mnist {
        return Err(error::config(format!(
            "--format web makes a page for drawing digits; this run was trained on {}",
            cfg.data.dataset.name()
        )));
    }
    let model_bpk = Mlp::read_file(&src, &cfg)?;
    // Loading first checks model.bpk matches config.toml, for burnpack too: never export junk.
    let model = Mlp::from_bytes(model_bpk.clone(), &src, &cfg, &device)?;
    let bytes = match args.format {
        Format::Safetensors => safetensors_bytes(&model, &cfg)?,
        Format::Onnx => onnx_bytes(&model, &cfg)?,
        Format::Web => web_page(&model, &cfg.preset, test_accuracy(&run))?.into_bytes(),
        Format::Keras => {
            let (bytes, left_out) = keras_bytes(&model, &cfg, &run.path)?;
            if let Some(what) = left_out {
                errln!("warning: {what}");
            }
            bytes
        }
        // Onto itself: nothing to rewrite.
        Format::Burnpack if onto_model => {
            outln!("{}", dest.display());
            return Ok(());
        }
        // A byte-for-byte copy: the file `train` wrote is already Burn's format.
        Format::Burnpack => model_bpk,
    };
    write_atomic(&dest, &bytes)?;
    outln!("{}", dest.display());
    Ok(())
}

/// summary.json's test accuracy, when the run got that far.
fn test_accuracy(run: &RunDir) -> Option<f64> {
    if !run.file(SUMMARY_FILE).exists() {
        return None;
    }
    match run.summary() {
        Ok(summary) => Some(summary.test_accuracy),
        Err(e) => {
            errln!("warning: {e:#}; the page shows no test accuracy");
            None
        }
    }
}

/// Copying model.bpk onto itself would be a pointless rewrite of the run's only model.
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// The name of the run's own file that `dest` would replace: anything in the run's folders
/// (`checkpoints/`…), or an existing file at its top (config, history, pictures…) except an
/// earlier export of the same format (`export_name`, or another name with its extension; for
/// burnpack that includes model.bpk itself, which is then left as it is). `dest` need not exist.
fn run_file(run: &Path, dest: &Path, export_name: &str) -> Option<String> {
    let run = run.canonicalize().ok()?;
    let parent = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dest = parent.canonicalize().ok()?.join(dest.file_name()?);
    let inside = dest.strip_prefix(&run).ok()?;
    let top_level = inside.parent() == Some(Path::new(""));
    let same_format = Path::new(export_name).extension() == dest.extension();
    if top_level && (!dest.exists() || same_format) {
        return None;
    }
    Some(inside.display().to_string())
}
