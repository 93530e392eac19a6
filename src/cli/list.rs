use anyhow::Result;

use crate::lecture::presets_by_section;
use crate::presets::{PRESETS, resolve};

/// The presets in the lecture's order, grouped by its sections; `names`: only the names, one per
/// line, for shell loops.
pub fn run(names: bool) -> Result<()> {
    let width = PRESETS.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (i, (section, presets)) in presets_by_section().into_iter().enumerate() {
        if !names {
            outln!("{}{section}", if i > 0 { "\n" } else { "" });
        }
        for name in presets {
            if names {
                outln!("{name}");
                continue;
            }
            let (_, cfg) = resolve(name)?;
            outln!("{name:width$}  {}", cfg.lesson);
        }
    }
    Ok(())
}
