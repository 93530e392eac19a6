use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::DataArgs;
use crate::artifacts::RunDir;
use crate::{backend, data, train};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory written by `train`.
    pub run_dir: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// flex, ndarray or wgpu (default: BURN_DEVICE, else the first compiled in).
    #[arg(long)]
    pub backend: Option<String>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let run = RunDir::open(&args.run_dir)?;
    let mut cfg = run.config()?;
    if let Some(dataset) = args.data.dataset {
        cfg.data.dataset = dataset;
    }
    let (device, _) = backend::select(args.backend.as_deref())?;
    let dir = data::data_dir(args.data.data_dir.as_deref(), cfg.data.dataset);
    let raw = data::load_raw(cfg.data.dataset, &dir, args.data.offline)?;
    let test = data::Split::from_raw(&raw.test_images, &raw.test_labels, &device);
    let model = run.load_model(&cfg, &device)?;
    let (loss, accuracy) = train::evaluate(&model, &test, cfg.train.loss, cfg.model.output);
    println!("test accuracy: {:.2} % ({accuracy:.4})  test loss: {loss:.6}", accuracy * 100.0);
    Ok(())
}
