//! Fuzz `dotted::set`, what `train --set KEY=VALUE` and a sweep grid's `[set]` and `[grid]`
//! apply a dotted key with: any lines of KEY=VALUE are applied or refused, never a panic; an
//! accepted config validates and reads back from its TOML equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::config::{ExperimentConfig, dotted};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let settings: Vec<(String, toml::Value)> = text
        .lines()
        .take(16)
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), dotted::parse_value(v.trim())))
        .collect();
    let base = ExperimentConfig::from_toml(include_str!("../../configs/monster.toml"), "monster").unwrap();
    let Ok(cfg) = dotted::set(&base, &settings) else { return };
    cfg.validate().expect("a config --set accepts validates");
    let toml = cfg.to_toml();
    assert_eq!(ExperimentConfig::from_toml(&toml, "fuzz").expect("reads back"), cfg, "{toml}");
});
