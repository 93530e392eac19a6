//! Fuzz `formats::keras::read_config`, config.json of a `.keras` file read into a run's config:
//! any text is accepted or refused, never a panic (input shapes that would wrap round to 784
//! included); an accepted config validates and reads back from its TOML equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::config::ExperimentConfig;
use mnist_lab_formats::keras;

fuzz_target!(|data: &[u8]| {
    let Ok((cfg, _notes)) = keras::read_config(data, "fuzz") else { return };
    cfg.validate().expect("an imported config validates");
    let toml = cfg.to_toml();
    let back = ExperimentConfig::from_toml(&toml, "fuzz (written back)").expect("its TOML reads back");
    assert_eq!(back, cfg, "--- toml ---\n{toml}");
});
