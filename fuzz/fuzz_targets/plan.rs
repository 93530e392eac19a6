//! Fuzz `Plan::parse`, what `sweep run`, `sweep collect`, `sweep slurm` and `lecture` read a
//! sweep's plan.json with: any text is accepted or refused, never a panic; an accepted plan
//! keeps every path inside the sweep folder, writes back and reads back equal, and holding each
//! entry against a config (`Plan::agrees`) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::config::ExperimentConfig;
use mnist_lab_formats::plan::{CONFIGS, Plan, RUNS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(plan) = Plan::parse(text, "fuzz") else { return };
    for e in &plan.runs {
        assert_eq!(e.config, format!("{CONFIGS}/{}.toml", e.id));
        assert_eq!(e.run, format!("{RUNS}/{}", e.id));
        assert!(e.id.bytes().all(|b| b.is_ascii_hexdigit()) && e.id.len() == 12);
    }
    let written = serde_json::to_string(&plan).expect("a plan serialises");
    assert_eq!(Plan::parse(&written, "fuzz (written back)").expect("reads back"), plan);
    let cfg = ExperimentConfig::from_toml(include_str!("../../configs/overfit.toml"), "overfit").unwrap();
    for e in plan.runs.iter().take(64) {
        let _ = plan.agrees(e, &cfg);
        let _ = plan.label(e);
    }
});
