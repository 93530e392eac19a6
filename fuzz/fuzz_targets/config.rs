//! Fuzz `ExperimentConfig::from_toml`: any UTF-8 text is accepted or rejected, never a panic;
//! an accepted config survives `to_toml` and reads back equal (what run dirs rely on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::config::ExperimentConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(cfg) = ExperimentConfig::from_toml(text, "fuzz") else { return };
    let written = cfg.to_toml();
    let back = match ExperimentConfig::from_toml(&written, "fuzz (round trip)") {
        Ok(back) => back,
        Err(e) => panic!("accepted config does not read back: {e:#}\n--- written ---\n{written}"),
    };
    assert_eq!(back, cfg, "round trip changed the config\n--- written ---\n{written}");
});
