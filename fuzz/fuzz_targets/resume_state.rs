//! Fuzz `ResumeState::parse`, what `train --resume` reads a checkpoint's state.json with: any text
//! is accepted or rejected, never a panic; an accepted state is written back as a checkpoint
//! writes it and reads back equal, and checking it against a config never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::config::ExperimentConfig;
use mnist_lab_formats::resume_state::ResumeState;

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
