//! The experiment configuration: one TOML file per lecture preset.
//!
//! Every section rejects unknown keys (serde's `deny_unknown_fields`) so a misspelled key is an
//! error naming it, and [`ExperimentConfig::validate`] checks ranges, naming the key at fault.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The preset a run came from (filled in by `train`; empty in the preset files).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preset: String,
    /// One line: what this preset shows (printed by `mnist-lab list`).
    #[serde(default)]
    pub lesson: String,
    #[serde(default)]
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule (none: constant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Random warps of the training images (never validation or test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmentation: Option<AugmentationConfig>,
}

/// A validation metric to watch (early stopping, reduce-on-plateau), in Keras' names.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    ValLoss,
    ValAccuracy,
}

impl Monitor {
    /// Loss should fall, accuracy rise.
    pub fn higher_is_better(self) -> bool {
        self == Monitor::ValAccuracy
    }
}

/// Keras' `EarlyStopping` callback.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    #[serde(default = "val_loss")]
    pub monitor: Monitor,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// Put back the weights of the best epoch when stopping (or at the end).
    #[serde(default = "yes")]
    pub restore_best_weights: bool,
}

fn val_loss() -> Monitor {
    Monitor::ValLoss
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// lr·factor^⌊(epoch−1)/every⌋
    Step,
    /// lr·factor^(epoch−1)
    Exponential,
    /// lr·factor after `patience` epochs without improvement of `monitor`, not below `min_lr`.
    ReduceOnPlateau,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: ScheduleKind,
    #[serde(default = "half")]
    pub factor: f64,
    /// Step decay: epochs between drops.
    #[serde(default = "ten")]
    pub every: usize,
    /// Reduce-on-plateau: epochs without improvement before a drop.
    #[serde(default = "ten")]
    pub patience: usize,
    #[serde(default = "val_loss")]
    pub monitor: Monitor,
    #[serde(default)]
    pub min_delta: f64,
    #[serde(default)]
    pub min_lr: f64,
}

fn half() -> f64 {
    0.5
}
fn ten() -> usize {
    10
}

/// Random affine warps, drawn per image and per epoch (Keras' ImageDataGenerator ranges).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentationConfig {
    /// Rotation drawn from ±degrees.
    pub rotation: f64,
    /// Horizontal and vertical shift, each drawn from ±pixels.
    pub shift: f64,
    /// Scale drawn from 1 ± zoom.
    pub zoom: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    Mnist,
    FashionMnist,
}

impl Dataset {
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub dataset: Dataset,
    /// Images held out of the 60 000 training images for validation (0 allowed).
    pub validation: usize,
    /// Train on only the first N of the remaining training images (the overfitting lesson).
    pub train_limit: Option<usize>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { dataset: Dataset::Mnist, validation: 10_000, train_limit: None }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    Sigmoid,
    Tanh,
    Relu,
}

/// What the last layer's outputs mean. The network always returns logits; this is applied on top.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    Sigmoid,
    Softmax,
}

/// Weight initialisers by their Keras names; biases always start at zero, as in Keras.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// N(0, init_std²): the lecture's "too large" N(0, 1).
    Normal,
    /// N(0, 1/n_in).
    ScaledNormal,
    GlorotUniform,
    GlorotNormal,
    HeNormal,
    HeUniform,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    pub units: usize,
    pub activation: Activation,
    /// Dropout rate applied to this layer's output during training.
    #[serde(default)]
    pub dropout: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Hidden layers, input side first. The input (784) and output (10) sizes are fixed by MNIST.
    pub hidden: Vec<LayerConfig>,
    pub output: Output,
    #[serde(default = "default_init")]
    pub init: Init,
    /// Standard deviation for `init = "normal"`.
    #[serde(default = "one")]
    pub init_std: f64,
}

fn default_init() -> Init {
    Init::GlorotUniform
}
fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    Mse,
    BinaryCrossentropy,
    CategoricalCrossentropy,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub loss: Loss,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// λ of the L2 penalty λΣw² (weights only, not biases).
    #[serde(default)]
    pub l2: f64,
    /// λ of the L1 penalty λΣ|w|.
    #[serde(default)]
    pub l1: f64,
    /// Record mean |∂L/∂W| per layer per epoch (the vanishing-gradient lesson).
    #[serde(default)]
    pub log_gradients: bool,
}

fn default_seed() -> u64 {
    42
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    Sgd,
    Adagrad,
    Rmsprop,
    Adam,
    Adadelta,
}

/// Keras' names. Fields left out take Keras' defaults for the chosen optimizer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    pub name: OptimizerKind,
    pub learning_rate: f64,
    /// SGD momentum (0 = plain SGD).
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub nesterov: bool,
    /// Decay of the squared-gradient average (RMSprop, Adadelta).
    pub rho: Option<f64>,
    pub beta_1: Option<f64>,
    pub beta_2: Option<f64>,
    pub epsilon: Option<f64>,
}

impl ExperimentConfig {
    /// Parse a config from TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        // toml's message names the key and shows the offending line.
        let config: Self =
            toml::from_str(text).map_err(|e| error::config(format!("{origin}: {}", e.to_string().trim_end())))?;
        config.validate().with_context(|| format!("invalid config {origin}"))?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| error::config(format!("cannot read config {}: {e}", path.display())))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a validated config always serialises")
    }

    /// Range checks that serde cannot express. Each error names the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(error::config(format!("`{key}` {why}")));
        // NaN or ∞ in these would poison the loss, or make every epoch "no improvement".
        let non_negative = |key: &str, v: f64| {
            if v >= 0.0 && v.is_finite() { Ok(()) } else { bad(key, format!("must be zero or positive, got {v}")) }
        };
        let m = &self.model;
        if m.hidden.is_empty() {
            return bad("model.hidden", "must list at least one hidden layer".into());
        }
        for (i, layer) in m.hidden.iter().enumerate() {
            if layer.units == 0 {
                return bad(&format!("model.hidden[{i}].units"), "must be at least 1".into());
            }
            if !(0.0..1.0).contains(&layer.dropout) {
                return bad(&format!("model.hidden[{i}].dropout"), format!("must be in [0, 1), got {}", layer.dropout));
            }
        }
        if !(m.init_std > 0.0 && m.init_std.is_finite()) {
            return bad("model.init_std", format!("must be a positive number, got {}", m.init_std));
        }
        let t = &self.train;
        if t.epochs == 0 {
            return bad("train.epochs", "must be at least 1".into());
        }
        if t.batch_size == 0 {
            return bad("train.batch_size", "must be at least 1".into());
        }
        non_negative("train.l2", t.l2)?;
        non_negative("train.l1", t.l1)?;
        match (t.loss, m.output) {
            (Loss::CategoricalCrossentropy, Output::Sigmoid) => {
                return bad("train.loss", "categorical-crossentropy needs `model.output = \"softmax\"`".into());
            }
            (Loss::BinaryCrossentropy, Output::Softmax) => {
                return bad("train.loss", "binary-crossentropy needs `model.output = \"sigmoid\"`".into());
            }
            _ => {}
        }
        let o = &self.optimizer;
        if !(o.learning_rate > 0.0 && o.learning_rate.is_finite()) {
            return bad("optimizer.learning_rate", format!("must be a positive number, got {}", o.learning_rate));
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return bad("optimizer.momentum", format!("must be in [0, 1), got {}", o.momentum));
        }
        for (key, v) in [("optimizer.rho", o.rho), ("optimizer.beta_1", o.beta_1), ("optimizer.beta_2", o.beta_2)] {
            if let Some(v) = v
                && !(0.0..1.0).contains(&v)
            {
                return bad(key, format!("must be in [0, 1), got {v}"));
            }
        }
        if let Some(eps) = o.epsilon
            && !(eps > 0.0 && eps.is_finite())
        {
            return bad("optimizer.epsilon", format!("must be a positive number, got {eps}"));
        }
        if self.data.validation >= 60_000 {
            return bad("data.validation", format!("must be below 60000, got {}", self.data.validation));
        }
        if self.data.train_limit == Some(0) {
            return bad("data.train_limit", "must be at least 1".into());
        }
        if self.early_stopping.is_some() && self.data.validation == 0 {
            return bad("early_stopping", "needs a validation split (`data.validation` > 0)".into());
        }
        if let Some(es) = &self.early_stopping {
            non_negative("early_stopping.min_delta", es.min_delta)?;
        }
        if let Some(s) = &self.schedule {
            non_negative("schedule.min_delta", s.min_delta)?;
            non_negative("schedule.min_lr", s.min_lr)?;
            if !(s.factor > 0.0 && s.factor <= 1.0) {
                return bad("schedule.factor", format!("must be in (0, 1], got {}", s.factor));
            }
            if s.every == 0 {
                return bad("schedule.every", "must be at least 1".into());
            }
            if s.name == ScheduleKind::ReduceOnPlateau && self.data.validation == 0 {
                return bad("schedule", "reduce-on-plateau needs a validation split".into());
            }
        }
        if let Some(a) = &self.augmentation {
            for (key, v, max) in [
                ("augmentation.rotation", a.rotation, 180.0),
                ("augmentation.shift", a.shift, 14.0),
                ("augmentation.zoom", a.zoom, 0.9),
            ] {
                if !(0.0..=max).contains(&v) {
                    return bad(key, format!("must be in [0, {max}], got {v}"));
                }
            }
        }
        let train_size = self.train_size();
        if t.batch_size > train_size {
            return bad(
                "train.batch_size",
                format!("is {} but only {train_size} training images are used", t.batch_size),
            );
        }
        Ok(())
    }

    /// How many images one training epoch sees.
    pub fn train_size(&self) -> usize {
        let available = 60_000 - self.data.validation;
        self.data.train_limit.map_or(available, |n| n.min(available))
    }
}
