use anyhow::Result;
use clap::Subcommand;
use formats::config::Dataset;

use super::DataArgs;
use crate::data;

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download and verify a dataset, mnist unless `--dataset` says otherwise (idempotent:
    /// verified files are kept; with `--offline`, only verify).
    Fetch(DataArgs),
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Fetch(args) => {
            let dataset = args.dataset.unwrap_or(Dataset::Mnist);
            let dir = data::data_dir(args.data_dir.as_deref(), dataset);
            let raw = data::load_raw(dataset, &dir, args.offline)?;
            outln!(
                "{}: {} training and {} test images verified in {}",
                dataset.name(),
                raw.train_labels.len(),
                raw.test_labels.len(),
                dir.display()
            );
            Ok(())
        }
    }
}
