//! `mnist-lab import MODEL.keras`: a Keras MLP becomes a run directory like any other.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use formats::error;
use formats::summary::Summary;

use super::{BackendArg, DataArgs};
use crate::keras::import::import;
use crate::run::{CONFIG_FILE, RunDir};
use crate::{backend, data, train};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A Keras 3 `.keras` file: a Sequential (or functional chain) of Dense, Dropout,
    /// Activation, Flatten/Reshape and Rescaling(1/255) layers on a 784 or 28×28 input.
    pub model: PathBuf,
    /// Run directory (default: artifacts/keras-<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub backend: BackendArg,
}

pub fn run(args: ImportArgs) -> Result<()> {
    let origin = args.model.display().to_string();
    let archive = std::io::BufReader::new(formats::read::file(&args.model, formats::read::KERAS)?);
    let backend = backend::select(args.backend.backend)?;
    let device = backend.device;
    let imported = import(archive, &origin, &device)?;
    let mut cfg = imported.config;
    if let Some(dataset) = args.data.dataset {
        cfg.data.dataset = dataset;
    }
    // Evaluated before anything is written: a failure leaves no half-made run behind.
    let dir = data::data_dir(args.data.data_dir.as_deref(), cfg.data.dataset);
    let raw = data::load_raw(cfg.data.dataset, &dir, args.data.offline)?;
    let test = data::Split::from_raw(&raw.test_images, &raw.test_labels, &device)?;
    let (loss, accuracy) = train::evaluate(&imported.model, &test, &cfg);
    if !loss.is_finite() {
        return Err(error::data(format!("{origin}: the test loss is {loss}: the network's outputs overflow")));
    }
    if let Some(warning) = imported.warning {
        errln!("warning: {warning}");
    }
    let summary = Summary {
        preset: cfg.preset.clone(),
        dataset: cfg.data.dataset.name().to_string(),
        backend: backend.name.as_str().to_string(),
        // Trained elsewhere: one "epoch", the one the weights came from.
        epochs_run: 1,
        best_epoch: 1,
        stopped_early: false,
        test_accuracy: accuracy,
        test_loss: loss,
        train_seconds: 0.0,
        seconds_per_epoch: 0.0,
    };
    let run = RunDir::create(args.out.as_deref(), &cfg.preset)?;
    run.write(CONFIG_FILE, cfg.to_toml().as_bytes())?;
    run.save_model(&imported.model)?;
    run.write_summary(&summary)?;
    outln!("test accuracy: {:.2} % ({accuracy:.4})  test loss: {loss:.6}", accuracy * 100.0);
    outln!("run directory: {}", run.path.display());
    Ok(())
}
