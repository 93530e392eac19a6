use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use crate::config::Dataset;
use crate::data;

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download and verify a dataset (idempotent: verified files are kept).
    Fetch {
        #[arg(long, value_enum, default_value = "mnist")]
        dataset: Dataset,
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Fetch { dataset, data_dir } => {
            let dir = data::data_dir(data_dir.as_deref(), dataset);
            let raw = data::load_raw(dataset, &dir, false)?;
            println!(
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
