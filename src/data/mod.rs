//! Data: fetch → verify → parse → tensors on the device.

pub mod augment;
pub mod dataset;
pub mod fetch;
pub mod idx;
pub mod image_input;

use std::path::Path;

use anyhow::Result;

pub use dataset::{MnistData, Split};
pub use fetch::data_dir;

use crate::config::Dataset;

/// Make sure the dataset is in `dir` (downloading unless `offline`), then parse it.
pub fn load_raw(dataset: Dataset, dir: &Path, offline: bool) -> Result<idx::RawMnist> {
    // Each file is read once: the bytes whose SHA-256 matched are the bytes parsed.
    let bytes = fetch::ensure(dataset, dir, offline)?;
    let files = dataset.files();
    idx::parse(bytes, [files[0].name, files[1].name, files[2].name, files[3].name])
}
