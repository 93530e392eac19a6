//! Train / validation / test splits as tensors resident on the device: one host→device copy per
//! run, after which every batch is gathered on the device from a shuffled index tensor.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::idx::{CLASSES, PIXELS, RawMnist};
use crate::config::DataConfig;

/// One split: images scaled to [0, 1], integer labels and one-hot targets.
#[derive(Clone)]
pub struct Split {
    pub images: Tensor<2>,
    pub labels: Tensor<1, Int>,
    pub targets: Tensor<2>,
    pub len: usize,
}

impl Split {
    pub fn from_raw(images: &[u8], labels: &[u8], device: &Device) -> Self {
        let len = labels.len();
        debug_assert_eq!(images.len(), len * PIXELS);
        let pixels: Vec<f32> = images.iter().map(|&p| p as f32 / 255.0).collect();
        let mut one_hot = vec![0f32; len * CLASSES];
        for (i, &l) in labels.iter().enumerate() {
            one_hot[i * CLASSES + l as usize] = 1.0;
        }
        let ints: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        Self {
            images: Tensor::from_data(TensorData::new(pixels, [len, PIXELS]), device),
            labels: Tensor::from_data(TensorData::new(ints, [len]), device),
            targets: Tensor::from_data(TensorData::new(one_hot, [len, CLASSES]), device),
            len,
        }
    }

    /// The rows `indices` (a slice of a shuffled permutation), gathered on the device.
    pub fn gather(&self, indices: Tensor<1, Int>) -> (Tensor<2>, Tensor<2>, Tensor<1, Int>) {
        (
            self.images.clone().select(0, indices.clone()),
            self.targets.clone().select(0, indices.clone()),
            self.labels.clone().select(0, indices),
        )
    }

    /// Consecutive rows `start..end` (evaluation needs no shuffling).
    pub fn rows(&self, start: usize, end: usize) -> (Tensor<2>, Tensor<2>, Tensor<1, Int>) {
        (
            self.images.clone().slice(start..end),
            self.targets.clone().slice(start..end),
            self.labels.clone().slice(start..end),
        )
    }
}

pub struct MnistData {
    pub train: Split,
    /// The training pixels kept on the host, for augmentation (which warps on the host).
    pub train_host: Option<Vec<u8>>,
    /// Held out of the end of the training images, as Keras' `validation_split` does.
    pub valid: Option<Split>,
    pub test: Split,
}

impl MnistData {
    pub fn new(raw: &RawMnist, cfg: &DataConfig, keep_host: bool, device: &Device) -> Self {
        let total = raw.train_labels.len();
        let cut = total - cfg.validation;
        let train_len = cfg.train_limit.map_or(cut, |n| n.min(cut));
        let train = Split::from_raw(&raw.train_images[..train_len * PIXELS], &raw.train_labels[..train_len], device);
        let valid = (cfg.validation > 0)
            .then(|| Split::from_raw(&raw.train_images[cut * PIXELS..], &raw.train_labels[cut..], device));
        let test = Split::from_raw(&raw.test_images, &raw.test_labels, device);
        let train_host = keep_host.then(|| raw.train_images[..train_len * PIXELS].to_vec());
        Self { train, train_host, valid, test }
    }
}
