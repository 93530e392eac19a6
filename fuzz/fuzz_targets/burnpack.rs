//! Fuzz `formats::weights::check`, what every load of a model's burnpack (`eval`, `predict`,
//! `export`, `train --resume`, the lecture's probes) passes before Burn reads it: any bytes are
//! accepted or refused, never a panic; an accepted file holds every tensor of the network,
//! each range inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::config::ModelConfig;
use mnist_lab_formats::weights;

fuzz_target!(|data: &[u8]| {
    // The network of the seeds: 784-4-10 (see run.sh).
    let model: ModelConfig =
        toml::from_str("hidden = [{ units = 4, activation = \"sigmoid\" }]\noutput = \"softmax\"\n").unwrap();
    let want = weights::expected(&model);
    if weights::check(data, &want).is_ok() {
        let floats: u64 = want.values().map(|s| s.iter().product::<u64>()).sum();
        assert!(data.len() as u64 >= 10 + floats * 4, "{} bytes hold {floats} floats", data.len());
    }
});
