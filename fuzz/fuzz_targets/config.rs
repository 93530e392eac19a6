//! Fuzz `ExperimentConfig::from_toml`: any UTF-8 text is accepted or rejected, never a panic;
//! an accepted config survives `to_toml` and reads back equal (what run dirs rely on).
//!
//! The modules come from the main crate by path, so this crate never builds Burn.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/config/mod.rs"]
mod config;
#[allow(dead_code)]
#[path = "../../src/error.rs"]
mod error;

use config::ExperimentConfig;
use libfuzzer_sys::fuzz_target;

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
