//! Fuzz `ResumeState::parse`, what `train --resume` reads a checkpoint's state.json with: any text
//! is accepted or rejected, never a panic; an accepted state is written back as a checkpoint
//! writes it and reads back equal, and checking it against a config never panics.
//!
//! The modules come from the main crate by path, so this crate never builds Burn.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/config/mod.rs"]
mod config;
#[allow(dead_code)]
#[path = "../../src/error.rs"]
mod error;
// At the crate root, where their `super::` paths (written for src/train/) find each other.
#[allow(dead_code)]
#[path = "../../src/train/history.rs"]
mod history;
#[allow(dead_code)]
#[path = "../../src/train/monitor.rs"]
mod monitor;
#[allow(dead_code)]
#[path = "../../src/train/resume_state.rs"]
mod resume_state;

use std::sync::OnceLock;

use config::ExperimentConfig;
use history::EpochMetrics;
use libfuzzer_sys::fuzz_target;
use resume_state::ResumeState;

/// A config whose schedule keeps state (the presets have none).
const PLATEAU: &str = r#"
[model]
hidden = [{ units = 8, activation = "relu" }]
output = "softmax"
[train]
epochs = 5
batch_size = 32
loss = "categorical-crossentropy"
[optimizer]
name = "adam"
learning_rate = 0.001
[schedule]
name = "reduce-on-plateau"
monitor = "val_accuracy"
patience = 1
"#;

/// Presets with each kind of callback state a checkpoint holds.
fn configs() -> &'static [ExperimentConfig] {
    static CONFIGS: OnceLock<Vec<ExperimentConfig>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        [include_str!("../../configs/baseline.toml"), include_str!("../../configs/early-stopping.toml"), PLATEAU]
            .iter()
            .map(|text| ExperimentConfig::from_toml(text, "preset").expect("presets are valid"))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(p) = ResumeState::parse(text, "fuzz") else { return };
    let written = serde_json::to_string_pretty(&p).expect("a checked state serialises");
    match ResumeState::parse(&written, "fuzz (written back)") {
        Ok(back) => assert_eq!(back, p, "--- written ---\n{written}"),
        Err(e) => panic!("a state written back does not read again: {e:#}\n--- written ---\n{written}"),
    }
    for cfg in configs() {
        let _ = p.check_against(cfg);
    }
});
