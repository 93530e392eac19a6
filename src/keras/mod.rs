//! Keras 3's `.keras` archive, both ways: a zip (stored, as Keras writes it) of `config.json`
//! (the model and its compile config as Keras serialises them), `metadata.json` and
//! `model.weights.h5` (HDF5: `layers/<name>/vars/0` = kernel [in, out], `/1` = bias, and
//! `optimizer/vars/<i>`). `export.rs` writes one from a run, `import.rs` makes a run's network of what
//! `formats::keras` reads from one.

pub mod export;
pub mod import;

/// The archive's default name inside a run directory.
pub const KERAS_FILE: &str = "model.keras";
use formats::keras::{CONFIG_JSON, METADATA_JSON, WEIGHTS_H5};
/// The Keras release whose layout this follows (written into metadata.json).
const KERAS_VERSION: &str = "3.15.1";
