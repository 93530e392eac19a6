use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::BackendArg;
use crate::artifacts::{CONFIG_FILE, HISTORY_FILE, MODEL_FILE, RunDir, SUMMARY_FILE, load_model_bytes, write_atomic};
use crate::config::Dataset;
use crate::export::{SAFETENSORS_FILE, WEB_FILE, safetensors_bytes, web_page};
use crate::train::checkpoint;
use crate::{backend, error};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A run directory written by `train`.
    pub run_dir: PathBuf,
    /// safetensors: PyTorch layout (`layers.{i}.weight` [out, in]); burnpack: Burn's own file;
    /// web: one self-contained HTML page to draw digits on (default RUN_DIR/digit.html).
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
    Web,
}

/// What `train` writes into a run directory: a page written over one of these would destroy it.
const RUN_FILES: &[&str] = &[
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    SUMMARY_FILE,
    SAFETENSORS_FILE,
    "curves.svg",
    "curves.png",
    "confusion.csv",
    "confusion.svg",
    "confusion.png",
];

pub fn run(args: ExportArgs) -> Result<()> {
    let run = RunDir::open(&args.run_dir)?;
    let cfg = run.config()?;
    let device = backend::select(args.backend.backend)?.device;
    let default_name = match args.format {
        Format::Safetensors => SAFETENSORS_FILE,
        Format::Burnpack => MODEL_FILE,
        Format::Web => WEB_FILE,
    };
    let dest = match args.to {
        Some(to) if to.is_dir() => to.join(default_name),
        Some(to) => to,
        None => run.file(default_name),
    };
    let src = run.file(MODEL_FILE);
    let onto_model = same_file(&src, &dest);
    if onto_model && args.format == Format::Safetensors {
        return Err(error::config(format!(
            "--to {} is the run's own model.bpk; exporting there would replace it (pick another path)",
            dest.display()
        )));
    }
    if args.format == Format::Web {
        if cfg.data.dataset != Dataset::Mnist {
            return Err(error::config(format!(
                "--format web makes a page for drawing digits; this run was trained on {}",
                cfg.data.dataset.name()
            )));
        }
        if let Some(own) = run_file(&run, &dest) {
            return Err(error::config(format!(
                "--to {} is the run's own {own}; the page would replace it (pick another path)",
                dest.display()
            )));
        }
    }
    let model_bpk = std::fs::read(&src).map_err(|e| error::data(format!("cannot read {}: {e}", src.display())))?;
    // Loading first checks model.bpk matches config.toml, for burnpack too: never export junk.
    let model = load_model_bytes(model_bpk.clone(), &src, &cfg, &device)?;
    let bytes = match args.format {
        Format::Safetensors => safetensors_bytes(&model, &cfg)?,
        // Onto itself: nothing to rewrite.
        Format::Burnpack if onto_model => {
            println!("{}", dest.display());
            return Ok(());
        }
        // A byte-for-byte copy: the file `train` wrote is already Burn's format.
        Format::Burnpack => model_bpk,
        Format::Web => web_page(&model, &cfg.preset, test_accuracy(&run))?.into_bytes(),
    };
    write_atomic(&dest, &bytes)?;
    println!("{}", dest.display());
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
            eprintln!("warning: {e:#}; the page shows no test accuracy");
            None
        }
    }
}

/// The name of the run's own file (or `checkpoints/…`) that `dest` is, if it is one; `dest` need
/// not exist yet.
fn run_file(run: &RunDir, dest: &Path) -> Option<String> {
    let canonical = |p: &Path| -> Option<PathBuf> {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    let dest = canonical(dest)?;
    if let Some(name) = RUN_FILES.iter().find(|name| canonical(&run.file(name)).as_ref() == Some(&dest)) {
        return Some(name.to_string());
    }
    let checkpoints = run.file(checkpoint::DIR).canonicalize().ok()?;
    dest.starts_with(&checkpoints).then(|| format!("{}/", checkpoint::DIR))
}

/// Copying model.bpk onto itself would be a pointless rewrite of the run's only model.
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
