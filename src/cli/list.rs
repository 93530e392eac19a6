use anyhow::Result;

use crate::presets::{PRESETS, resolve};

/// `names`: one preset name per line, for shell loops.
pub fn run(names: bool) -> Result<()> {
    let width = PRESETS.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, _) in PRESETS {
        if names {
            outln!("{name}");
            continue;
        }
        let (_, cfg) = resolve(name)?;
        outln!("{name:width$}  {}", cfg.lesson);
    }
    Ok(())
}
