use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct PredictArgs {}

pub fn run(_args: PredictArgs) -> Result<()> {
    anyhow::bail!("not implemented yet")
}
