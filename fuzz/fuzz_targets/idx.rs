//! Fuzz `idx::validate_bytes`: whatever the bytes, it returns Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::idx::{self, IdxKind, validate_bytes};

fuzz_target!(|data: &[u8]| {
    // The count the header claims (bytes 4..8), so the fuzzer gets past the count check and
    // reaches the size arithmetic; a fixed small count and the real MNIST counts as well.
    let claimed = data.get(4..8).map(|b| u32::from_be_bytes(b.try_into().unwrap()) as usize);
    for kind in [IdxKind::Images, IdxKind::Labels] {
        for count in claimed.into_iter().chain([0, 3, idx::TEST_LEN, idx::TRAIN_LEN]) {
            if let Ok(()) = validate_bytes(data, kind, count, "fuzz") {
                // Accepted means exactly what the `mnist` crate will then assume.
                let (header, item) = match kind {
                    IdxKind::Images => (16, idx::PIXELS),
                    IdxKind::Labels => (8, 1),
                };
                assert_eq!(data.len(), header + count * item, "accepted a file of the wrong size");
                if kind == IdxKind::Labels {
                    assert!(data[header..].iter().all(|&l| (l as usize) < idx::CLASSES));
                }
            }
        }
    }
    // Any count at all, including ones no header could claim on this platform.
    let odd = data.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    for count in odd.into_iter().chain([usize::MAX, usize::MAX / 784 + 1]) {
        let _ = validate_bytes(data, IdxKind::Images, count, "fuzz");
        let _ = validate_bytes(data, IdxKind::Labels, count, "fuzz");
    }
});
