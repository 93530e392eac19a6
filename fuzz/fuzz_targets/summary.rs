//! Fuzz `Summary::parse`, what `report`, `export --format web` and `sweep collect` read
//! summary.json with: any text is accepted or rejected, never a panic; an accepted summary is
//! written back (`to_json`, as training does) and reads back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::summary::Summary;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(s) = Summary::parse(text, "fuzz") else { return };
    let written = match s.to_json() {
        Ok(json) => json,
        Err(e) => panic!("an accepted summary cannot be written: {e:#}\n--- input ---\n{text}"),
    };
    match Summary::parse(&written, "fuzz (written back)") {
        Ok(back) => assert_eq!(back, s, "--- written ---\n{written}"),
        Err(e) => panic!("a summary written back does not read again: {e:#}\n--- written ---\n{written}"),
    }
});
