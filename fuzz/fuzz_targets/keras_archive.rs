//! Fuzz `formats::keras::read`, what `mnist-lab import` reads a `.keras` file with, from bytes
//! to layers and weights (zip, config.json, HDF5): any bytes are accepted or refused, never a
//! panic or an allocation past the members' caps; an accepted archive's config validates and
//! holds one finite kernel and bias per layer, of the config's shapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_lab_formats::keras;

fuzz_target!(|data: &[u8]| {
    let Ok(archive) = keras::read(std::io::Cursor::new(data), "fuzz") else { return };
    archive.config.validate().expect("an imported config validates");
    let model = &archive.config.model;
    assert_eq!(archive.weights.len(), model.hidden.len() + 1, "a kernel and bias per layer");
    let mut n_in = 784;
    let widths = model.hidden.iter().map(|l| l.units).chain([10]);
    for ((kernel, bias), units) in archive.weights.iter().zip(widths) {
        assert_eq!((kernel.len(), bias.len()), (n_in * units, units));
        assert!(kernel.iter().chain(bias).all(|v| v.is_finite()));
        n_in = units;
    }
});
