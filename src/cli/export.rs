use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ExportArgs {}

pub fn run(_args: ExportArgs) -> Result<()> {
    anyhow::bail!("not implemented yet")
}
