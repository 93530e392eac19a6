//! The lecture's presets: the files of `configs/`, embedded at build time (see build.rs).

use std::path::Path;

use anyhow::Result;
use formats::config::ExperimentConfig;
use formats::error;

include!(concat!(env!("OUT_DIR"), "/presets.rs"));

/// A preset name or a path to a TOML file → (name, config).
pub fn resolve(arg: &str) -> Result<(String, ExperimentConfig)> {
    let path = Path::new(arg);
    if arg.ends_with(".toml") || arg.contains(std::path::MAIN_SEPARATOR) || path.is_file() {
        let mut cfg = ExperimentConfig::from_file(path)?;
        // A run's config.toml remembers its preset; any other file is named by its stem.
        if cfg.preset.is_empty() {
            cfg.preset = path.file_stem().map_or("custom".into(), |s| s.to_string_lossy().into_owned());
        }
        return Ok((cfg.preset.clone(), cfg));
    }
    if arg.chars().any(char::is_control) {
        // No preset name holds one; a near miss would only hide where the name came from.
        return Err(error::config(format!(
            "no preset named {:?}: the name holds a control character (`mnist-lab list` shows the presets)",
            arg
        )));
    }
    match PRESETS.iter().find(|(name, _)| *name == arg) {
        Some((name, text)) => {
            let mut cfg = ExperimentConfig::from_toml(text, &format!("preset {name}"))?;
            cfg.preset = name.to_string();
            Ok((name.to_string(), cfg))
        }
        None => {
            let closest =
                PRESETS.iter().map(|(name, _)| (strsim::levenshtein(arg, name), *name)).min().filter(|(d, _)| *d <= 3);
            let hint = match closest {
                Some((_, name)) => format!("did you mean `{name}`? "),
                None => String::new(),
            };
            Err(error::config(format!(
                "no preset named `{arg}`; {hint}(`mnist-lab list` shows them all, or pass a path to a .toml file)"
            )))
        }
    }
}
