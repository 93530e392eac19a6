//! `keras.callbacks.TensorBoard` for mnist-lab: after every epoch the losses, accuracies and
//! learning rate as scalars, and each layer's weights and gradients as histograms (the
//! vanishing-gradient lesson is a histogram picture); the test-set confusion matrix at the end.
//!
//! Training goes to `RUN/tensorboard/`, validation to `RUN/tensorboard/validation/` under the same
//! tags, so TensorBoard overlays the two curves as it does for Keras' `train/` and `validation/`.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Tensor;

use super::EpochMetrics;
use crate::model::Mlp;
use crate::tensorboard::EventWriter;

/// The folder of a run's event files.
pub const DIR: &str = "tensorboard";

pub struct TensorBoard {
    train: EventWriter,
    validation: Option<EventWriter>,
}

impl TensorBoard {
    /// New event files under `dir` (a resumed run adds files; TensorBoard reads them together).
    pub fn create(dir: &Path, validation: bool) -> Result<Self> {
        let validation = validation.then(|| EventWriter::create(&dir.join("validation"))).transpose()?;
        Ok(Self { train: EventWriter::create(dir)?, validation })
    }

    /// One epoch: scalars, then per layer the weights and the gradients of the epoch's last batch.
    pub fn on_epoch_end(&mut self, m: &EpochMetrics, model: &Mlp, gradients: &[Tensor<2>]) -> Result<()> {
        let step = m.epoch as i64;
        self.train.scalar("epoch_loss", step, m.train_loss)?;
        self.train.scalar("epoch_accuracy", step, m.train_accuracy)?;
        self.train.scalar("epoch_learning_rate", step, m.learning_rate)?;
        if let (Some(writer), Some(loss), Some(accuracy)) = (self.validation.as_mut(), m.val_loss, m.val_accuracy) {
            writer.scalar("epoch_loss", step, loss)?;
            writer.scalar("epoch_accuracy", step, accuracy)?;
            writer.flush()?;
        }
        for (i, layer) in model.layers.iter().enumerate() {
            self.train.histogram(&format!("layer{i}/weights"), step, &host(layer.weight.val().inner())?)?;
            if let Some(g) = gradients.get(i) {
                self.train.histogram(&format!("layer{i}/gradients"), step, &host(g.clone())?)?;
            }
        }
        self.train.flush()
    }

    /// The confusion matrix picture `png` (written by `report::plot`) as an image at `epoch`.
    pub fn confusion_matrix(dir: &Path, epoch: usize, png: &Path) -> Result<()> {
        let bytes = std::fs::read(png).with_context(|| format!("cannot read {}", png.display()))?;
        let (width, height) = image::image_dimensions(png).with_context(|| format!("cannot read {}", png.display()))?;
        let mut writer = EventWriter::create(dir)?;
        writer.image("confusion_matrix", epoch as i64, &bytes, width, height)?;
        writer.flush()
    }
}

/// A tensor's values on the host (a histogram's input).
fn host(t: Tensor<2>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| crate::error::runtime(format!("cannot read weights back: {e:?}")))
}
