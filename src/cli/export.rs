use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::BackendArg;
use crate::artifacts::{MODEL_FILE, RunDir, load_model_bytes, write_atomic};
use crate::export::{SAFETENSORS_FILE, safetensors_bytes};
use crate::{backend, error};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A run directory written by `train`.
    pub run_dir: PathBuf,
    /// safetensors: PyTorch layout (`layers.{i}.weight` [out, in]); burnpack: Burn's own file.
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
}

pub fn run(args: ExportArgs) -> Result<()> {
    let run = RunDir::open(&args.run_dir)?;
    let cfg = run.config()?;
    let device = backend::select(args.backend.backend)?.device;
    let default_name = match args.format {
        Format::Safetensors => SAFETENSORS_FILE,
        Format::Burnpack => MODEL_FILE,
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
    };
    write_atomic(&dest, &bytes)?;
    println!("{}", dest.display());
    Ok(())
}

/// Copying model.bpk onto itself would be a pointless rewrite of the run's only model.
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
