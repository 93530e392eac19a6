//! Data: fetch → verify → parse → tensors on the device.

pub mod augment;
pub mod dataset;
pub mod fetch;
pub mod image_input;
pub mod prefetch;
pub mod stroke;

use std::path::Path;

use anyhow::Result;
use formats::config::Dataset;
use formats::idx;

pub use dataset::{Batch, MnistData, Split};
pub use fetch::data_dir;

/// Make sure the dataset is in `dir` (downloading unless `offline`), then parse it.
pub fn load_raw(dataset: Dataset, dir: &Path, offline: bool) -> Result<idx::RawMnist> {
    // Each file is read once: the bytes whose SHA-256 matched are the bytes parsed.
    let [train_images, train_labels, test_images, test_labels] = fetch::ensure(dataset, dir, offline)?;
    let [a, b, c, d] = fetch::files(dataset);
    let payload = |bytes, spec: &fetch::FileSpec| {
        let (kind, count) = spec.layout();
        idx::payload(bytes, kind, count, spec.name)
    };
    Ok(idx::RawMnist {
        train_images: payload(train_images, a)?,
        train_labels: payload(train_labels, b)?,
        test_images: payload(test_images, c)?,
        test_labels: payload(test_labels, d)?,
    })
}
