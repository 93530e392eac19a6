//! Train / validation / test splits as tensors resident on the device: one host→device copy per
//! run, after which every batch is gathered on the device from a shuffled index tensor.
//!
//! Pixels are kept as f32 where that fits in one of the device's buffers. Where it does not
//! (50 000 f32 images are 157 MB; many adapters take at most 128 MiB per buffer), four 8-bit
//! pixels are packed into each 32-bit integer, a quarter of the memory, and each batch is
//! unpacked to f32 on the device.

use std::sync::Arc;

use anyhow::Result;
use burn::tensor::{Device, Int, Tensor, TensorData};
use formats::config::DataConfig;
use formats::error;
use formats::idx::{CLASSES, PIXELS, RawMnist};

use crate::backend;

/// Packed pixels per 32-bit integer.
const PACK: usize = 4;

/// A batch of images with their one-hot targets and integer labels.
#[derive(Clone)]
pub struct Batch {
    /// Pixels scaled to [0, 1], `[n, 784]`.
    pub images: Tensor<2>,
    /// One-hot, `[n, 10]`.
    pub targets: Tensor<2>,
    pub labels: Tensor<1, Int>,
}

/// How a split's pixels live on the device.
#[derive(Clone)]
enum Pixels {
    /// f32 in [0, 1], `[n, 784]`.
    Float(Tensor<2>),
    /// Pixel `4j + k` of an image in byte k of column j, `[n, 196]`.
    Packed(Tensor<2, Int>),
}

/// One split: images, integer labels and one-hot targets.
#[derive(Clone)]
pub struct Split {
    pixels: Pixels,
    labels: Tensor<1, Int>,
    targets: Tensor<2>,
    pub len: usize,
}

impl Split {
    /// Upload `images` (u8, 784 per image) and `labels`, in the form `device` can hold.
    pub fn from_raw(images: &[u8], labels: &[u8], device: &Device) -> Result<Self> {
        let float_bytes = (images.len() * size_of::<f32>()) as u64;
        match backend::max_allocation(device) {
            Some(max) if float_bytes > max => {
                let packed_bytes = float_bytes / PACK as u64;
                if packed_bytes > max {
                    return Err(error::runtime(format!(
                        "the device's largest buffer ({} MiB) cannot hold {} images even packed \
                         ({} MiB); use `data.train_limit` or another backend",
                        max >> 20,
                        labels.len(),
                        packed_bytes.div_ceil(1 << 20)
                    )));
                }
                Ok(Self::packed(images, labels, device))
            }
            _ => Ok(Self::float(images, labels, device)),
        }
    }

    /// Pixels as f32 on the device.
    pub fn float(images: &[u8], labels: &[u8], device: &Device) -> Self {
        let pixels: Vec<f32> = images.iter().map(|&p| p as f32 / 255.0).collect();
        let tensor = Tensor::from_data(TensorData::new(pixels, [labels.len(), PIXELS]), device);
        Self::with_pixels(Pixels::Float(tensor), labels, device)
    }

    /// Pixels packed four to an integer on the device, unpacked per batch.
    pub fn packed(images: &[u8], labels: &[u8], device: &Device) -> Self {
        let words: Vec<i32> = images.chunks_exact(PACK).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let tensor = Tensor::from_data(TensorData::new(words, [labels.len(), PIXELS / PACK]), device);
        Self::with_pixels(Pixels::Packed(tensor), labels, device)
    }

    fn with_pixels(pixels: Pixels, labels: &[u8], device: &Device) -> Self {
        let len = labels.len();
        let mut one_hot = vec![0f32; len * CLASSES];
        for (i, &l) in labels.iter().enumerate() {
            one_hot[i * CLASSES + l as usize] = 1.0;
        }
        let ints: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        Self {
            pixels,
            labels: Tensor::from_data(TensorData::new(ints, [len]), device),
            targets: Tensor::from_data(TensorData::new(one_hot, [len, CLASSES]), device),
            len,
        }
    }

    /// Whether the pixels are packed (the device could not hold them as f32).
    pub fn is_packed(&self) -> bool {
        matches!(self.pixels, Pixels::Packed(_))
    }

    /// The rows `indices` (a slice of a shuffled permutation), gathered on the device.
    pub fn gather(&self, indices: Tensor<1, Int>) -> Batch {
        let images = match &self.pixels {
            Pixels::Float(t) => t.clone().select(0, indices.clone()),
            Pixels::Packed(t) => unpack(t.clone().select(0, indices.clone())),
        };
        Batch {
            images,
            targets: self.targets.clone().select(0, indices.clone()),
            labels: self.labels.clone().select(0, indices),
        }
    }

    /// Consecutive rows `start..end` (evaluation needs no shuffling).
    pub fn rows(&self, start: usize, end: usize) -> Batch {
        let images = match &self.pixels {
            Pixels::Float(t) => t.clone().slice(start..end),
            Pixels::Packed(t) => unpack(t.clone().slice(start..end)),
        };
        Batch { images, targets: self.targets.clone().slice(start..end), labels: self.labels.clone().slice(start..end) }
    }

    /// The integer labels of the whole split.
    pub fn labels(&self) -> Tensor<1, Int> {
        self.labels.clone()
    }
}

/// `[n, 196]` packed words → `[n, 784]` f32 pixels in [0, 1], on the device.
fn unpack(words: Tensor<2, Int>) -> Tensor<2> {
    let [n, cols] = words.dims();
    // Byte k of each word: an arithmetic shift, then the low 8 bits (also for negative words).
    let bytes = (0..PACK)
        .map(|k| words.clone().bitwise_right_shift_scalar(8 * k as i64).bitwise_and_scalar(0xFF).unsqueeze_dim::<3>(2))
        .collect();
    Tensor::cat(bytes, 2).reshape([n, cols * PACK]).float().div_scalar(255.0)
}

pub struct MnistData {
    pub train: Split,
    /// The training pixels kept on the host, for augmentation (which warps on the host, on
    /// the thread pool: shared with its jobs).
    pub train_host: Option<Arc<[u8]>>,
    /// Held out of the end of the training images, as Keras' `validation_split` does.
    pub valid: Option<Split>,
    pub test: Split,
}

impl MnistData {
    pub fn new(raw: &RawMnist, cfg: &DataConfig, keep_host: bool, device: &Device) -> Result<Self> {
        let total = raw.train_labels.len();
        let cut = total - cfg.validation;
        let train_len = cfg.train_limit.map_or(cut, |n| n.min(cut));
        let train = Split::from_raw(&raw.train_images[..train_len * PIXELS], &raw.train_labels[..train_len], device)?;
        let valid = (cfg.validation > 0)
            .then(|| Split::from_raw(&raw.train_images[cut * PIXELS..], &raw.train_labels[cut..], device))
            .transpose()?;
        let test = Split::from_raw(&raw.test_images, &raw.test_labels, device)?;
        let train_host = keep_host.then(|| Arc::from(&raw.train_images[..train_len * PIXELS]));
        Ok(Self { train, train_host, valid, test })
    }
}
