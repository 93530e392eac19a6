use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ReportArgs {}

pub fn run(_args: ReportArgs) -> Result<()> {
    anyhow::bail!("not implemented yet")
}
