use anyhow::Result;

use crate::presets::{PRESETS, resolve};

pub fn run() -> Result<()> {
    let width = PRESETS.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, _) in PRESETS {
        let (_, cfg) = resolve(name)?;
        println!("{name:width$}  {}", cfg.lesson);
    }
    Ok(())
}
