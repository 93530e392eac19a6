use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{BackendArg, DataArgs};
use crate::run::RunDir;
use crate::{backend, data, train};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory written by `train`.
    pub run_dir: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub backend: BackendArg,
    /// One JSON object (`test_accuracy`, `test_loss`, `backend`) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let run = RunDir::open(&args.run_dir)?;
    let mut cfg = run.config()?;
    if let Some(dataset) = args.data.dataset {
        if dataset != cfg.data.dataset {
            errln!(
                "warning: {} was trained on {}; its accuracy on {} measures a task it never learned",
                args.run_dir.display(),
                cfg.data.dataset.name(),
                dataset.name()
            );
        }
        cfg.data.dataset = dataset;
    }
    let backend = backend::select(args.backend.backend)?;
    let device = backend.device;
    let dir = data::data_dir(args.data.data_dir.as_deref(), cfg.data.dataset);
    let raw = data::load_raw(cfg.data.dataset, &dir, args.data.offline)?;
    let test = data::Split::from_raw(&raw.test_images, &raw.test_labels, &device)?;
    let model = run.load_model(&cfg, &device)?;
    let (loss, accuracy) = train::evaluate(&model, &test, &cfg);
    if !loss.is_finite() {
        return Err(formats::error::runtime(format!(
            "the test loss is {loss}: the network's outputs overflow on some test images"
        )));
    }
    if args.json {
        let line =
            serde_json::json!({ "test_accuracy": accuracy, "test_loss": loss, "backend": backend.name.as_str() });
        outln!("{line}");
    } else {
        outln!("test accuracy: {:.2} % ({accuracy:.4})  test loss: {loss:.6}", accuracy * 100.0);
    }
    Ok(())
}
