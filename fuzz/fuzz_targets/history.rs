//! Fuzz `parse_history_csv`, what `report` and `sweep collect` read history.csv with: any text
//! is accepted or rejected, never a panic; an accepted history is in range, and what it writes
//! back (`to_csv`, as training does) is accepted again, epoch for epoch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::history::parse_history_csv;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(history) = parse_history_csv(text, "fuzz") else { return };
    if let Err(why) = history.check(true) {
        panic!("accepted a history out of range: {why}\n--- input ---\n{text}");
    }
    let written = history.to_csv();
    match parse_history_csv(&written, "fuzz (written back)") {
        Ok(back) => assert_eq!(back.epochs.len(), history.epochs.len(), "--- written ---\n{written}"),
        Err(e) => panic!("a history read back does not read again: {e:#}\n--- written ---\n{written}"),
    }
});
