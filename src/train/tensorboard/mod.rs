//! `keras.callbacks.TensorBoard` for mnist-lab: after every epoch the losses, accuracies and
//! learning rate as scalars, and each layer's weights and gradients as histograms (the
//! vanishing-gradient lesson is a histogram picture); the test-set confusion matrix at the end.
//!
//! Training goes to `RUN/tensorboard/`, validation to `RUN/tensorboard/validation/` under the same
//! tags, so TensorBoard overlays the two curves as it does for Keras' `train/` and `validation/`.

pub mod event_file;

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Tensor;
use event_file::EventWriter;
use formats::history::EpochMetrics;

use crate::model::Mlp;

/// The folder of a run's event files.
pub const DIR: &str = "tensorboard";

pub struct TensorBoard {
    train: Log,
    validation: Option<Log>,
}

/// An events file, and what earlier sessions of the run logged beside it. A run killed after an
/// epoch's events are flushed and before its checkpoint is saved trains that epoch again when
/// resumed: what it already logged is left out, so TensorBoard sees every step once.
struct Log {
    writer: EventWriter,
    logged: HashSet<(String, i64)>,
}

impl Log {
    fn create(dir: &Path) -> Result<Self> {
        inside_run(dir)?;
        let logged = event_file::logged(dir)?;
        Ok(Self { writer: EventWriter::create(dir)?, logged })
    }

    fn new_step(&self, tag: &str, step: i64) -> bool {
        !self.logged.contains(&(tag.to_string(), step))
    }

    fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<()> {
        match self.new_step(tag, step) {
            true => self.writer.scalar(tag, step, value),
            false => Ok(()),
        }
    }

    /// `values` is only computed for a step not logged yet (it reads a tensor back).
    fn histogram(&mut self, tag: &str, step: i64, values: impl FnOnce() -> Result<Vec<f32>>) -> Result<()> {
        match self.new_step(tag, step) {
            true => self.writer.histogram(tag, step, &values()?),
            false => Ok(()),
        }
    }
}

impl TensorBoard {
    /// New event files under `dir` (a resumed run adds files; TensorBoard reads them together).
    pub fn create(dir: &Path, validation: bool) -> Result<Self> {
        let validation = validation.then(|| Log::create(&dir.join("validation"))).transpose()?;
        Ok(Self { train: Log::create(dir)?, validation })
    }

    /// One epoch: scalars, then per layer the weights and the gradients of the epoch's last batch.
    pub fn on_epoch_end(&mut self, m: &EpochMetrics, model: &Mlp, gradients: &[Tensor<2>]) -> Result<()> {
        let step = m.epoch as i64;
        self.train.scalar("epoch_loss", step, m.train_loss)?;
        self.train.scalar("epoch_accuracy", step, m.train_accuracy)?;
        self.train.scalar("epoch_learning_rate", step, m.learning_rate)?;
        if let (Some(log), Some(loss), Some(accuracy)) = (self.validation.as_mut(), m.val_loss, m.val_accuracy) {
            log.scalar("epoch_loss", step, loss)?;
            log.scalar("epoch_accuracy", step, accuracy)?;
            log.writer.flush()?;
        }
        for (i, layer) in model.layers.iter().enumerate() {
            self.train.histogram(&format!("layer{i}/weights"), step, || host(layer.weight.val().inner()))?;
            if let Some(g) = gradients.get(i) {
                self.train.histogram(&format!("layer{i}/gradients"), step, || host(g.clone()))?;
            }
        }
        self.train.writer.flush()
    }

    /// The confusion matrix picture `png` (written by `plot`) as an image at `epoch`,
    /// unless a session of the run killed before its summary already logged it.
    pub fn confusion_matrix(dir: &Path, epoch: usize, png: &Path) -> Result<()> {
        const TAG: &str = "confusion_matrix";
        if event_file::logged(dir)?.contains(&(TAG.to_string(), epoch as i64)) {
            return Ok(());
        }
        let bytes = std::fs::read(png).with_context(|| format!("cannot read {}", png.display()))?;
        let (width, height) = image::image_dimensions(png).with_context(|| format!("cannot read {}", png.display()))?;
        inside_run(dir)?;
        let mut writer = EventWriter::create(dir)?;
        writer.image(TAG, epoch as i64, &bytes, width, height)?;
        writer.flush()
    }
}

/// That the event folder `dir` (`RUN/tensorboard`, or its `validation/`) is reached from the run
/// without a symbolic link, so a received run's links never take the event files elsewhere.
fn inside_run(dir: &Path) -> Result<()> {
    let run = dir.ancestors().find(|a| a.file_name().is_some_and(|n| n == DIR)).and_then(Path::parent);
    match run {
        Some(run) => crate::files::check_inside(run, dir),
        None => Ok(()),
    }
}

/// A tensor's values on the host (a histogram's input).
fn host(t: Tensor<2>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| formats::error::runtime(format!("cannot read weights back: {e:?}")))
}
