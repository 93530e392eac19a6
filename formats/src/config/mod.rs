//! The experiment configuration: one TOML file per lecture preset.
//!
//! Every section rejects unknown keys (serde's `deny_unknown_fields`) so a misspelled key is an
//! error naming it, and [`ExperimentConfig::validate`] checks ranges, naming the key at fault.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error;

mod callbacks;
pub mod dotted;
mod optimizer;

pub use callbacks::{
    EarlyStoppingConfig, ExponentialDecayConfig, Monitor, ReduceOnPlateauConfig, ScheduleConfig, StepDecayConfig,
};
pub use optimizer::{
    AdadeltaConfig, AdagradConfig, AdamConfig, KERAS_EPSILON, OptimizerConfig, RmspropConfig, SgdConfig,
};

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

/// Random warps, drawn per image and per epoch: affine ones (Keras' ImageDataGenerator ranges)
/// and Simard et al.'s elastic distortion (2003), applied together as one resampling.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentationConfig {
    /// Rotation drawn from ±degrees.
    pub rotation: f64,
    /// Horizontal and vertical shift, each drawn from ±pixels.
    pub shift: f64,
    /// Scale drawn from 1 ± zoom.
    pub zoom: f64,
    /// Horizontal shear drawn from ±degrees (how far a vertical stroke leans; + leans right).
    /// This and the elastic keys are left out of the TOML at their defaults, so a config without
    /// them serialises (and hashes, for a sweep plan's ids) as it did before they existed.
    #[serde(skip_serializing_if = "is_zero")]
    pub shear: f64,
    /// α: the elastic displacement field's scale in pixels (0: no elastic distortion).
    #[serde(skip_serializing_if = "is_zero")]
    pub elastic_alpha: f64,
    /// σ: the width in pixels of the Gaussian that smooths the field.
    #[serde(skip_serializing_if = "is_default_sigma")]
    pub elastic_sigma: f64,
}

/// Exactly 0, the default of `shear` and `elastic_alpha` (−0.0 is written out).
fn is_zero(v: &f64) -> bool {
    v.to_bits() == 0f64.to_bits()
}

fn is_default_sigma(v: &f64) -> bool {
    v.to_bits() == AugmentationConfig::default().elastic_sigma.to_bits()
}

impl Default for AugmentationConfig {
    /// No warp at all; σ = 4, Simard et al.'s, for when only α is given.
    fn default() -> Self {
        Self { rotation: 0.0, shift: 0.0, zoom: 0.0, shear: 0.0, elastic_alpha: 0.0, elastic_sigma: 4.0 }
    }
}

impl AugmentationConfig {
    fn validate(&self) -> Check {
        for (key, v, min, max) in [
            ("augmentation.rotation", self.rotation, 0.0, 180.0),
            ("augmentation.shift", self.shift, 0.0, 14.0),
            ("augmentation.zoom", self.zoom, 0.0, 0.9),
            ("augmentation.shear", self.shear, 0.0, 60.0),
            ("augmentation.elastic_alpha", self.elastic_alpha, 0.0, 300.0),
            ("augmentation.elastic_sigma", self.elastic_sigma, 0.1, 28.0),
        ] {
            if !(min..=max).contains(&v) {
                return check::bad(key, format!("must be in [{min}, {max}], got {v}"));
            }
        }
        Ok(())
    }
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// N(0, init_std²): the lecture's "too large" N(0, 1).
    Normal,
    /// N(0, 1/n_in).
    ScaledNormal,
    /// Keras' default.
    #[default]
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
    /// Max-norm constraint: after every step, each unit's incoming weight vector is scaled back
    /// to Euclidean norm ≤ this (Srivastava et al. 2014). None: unconstrained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_norm: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Hidden layers, input side first. The input (784) and output (10) sizes are fixed by MNIST.
    pub hidden: Vec<LayerConfig>,
    pub output: Output,
    #[serde(default)]
    pub init: Init,
    /// Standard deviation for `init = "normal"`.
    #[serde(default = "ModelConfig::default_init_std")]
    pub init_std: f64,
}

impl ModelConfig {
    fn default_init_std() -> f64 {
        1.0
    }

    /// Weights and biases of the network.
    pub fn parameters(&self) -> usize {
        let mut sizes = vec![784];
        sizes.extend(self.hidden.iter().map(|l| l.units));
        sizes.push(10);
        sizes.windows(2).map(|w| w[0].saturating_mul(w[1]).saturating_add(w[1])).fold(0, usize::saturating_add)
    }

    fn validate(&self) -> Check {
        if self.hidden.is_empty() {
            return check::bad("model.hidden", "must list at least one hidden layer");
        }
        if self.hidden.len() > MAX_HIDDEN_LAYERS {
            return check::bad(
                "model.hidden",
                format!("has {} layers; at most {MAX_HIDDEN_LAYERS}", self.hidden.len()),
            );
        }
        for (i, layer) in self.hidden.iter().enumerate() {
            let key = format!("model.hidden[{i}].units");
            check::at_least_one(&key, layer.units)?;
            if layer.units > MAX_UNITS {
                return check::bad(&key, format!("is {}; at most {MAX_UNITS}", layer.units));
            }
            check::fraction(&format!("model.hidden[{i}].dropout"), layer.dropout)?;
            if let Some(c) = layer.max_norm {
                check::positive(&format!("model.hidden[{i}].max_norm"), c)?;
            }
        }
        let n = self.parameters();
        if n > MAX_PARAMETERS {
            return check::bad(
                "model.hidden",
                format!("makes {n} weights; at most {MAX_PARAMETERS} fit in memory alongside their gradients"),
            );
        }
        check::positive("model.init_std", self.init_std)?;
        if self.init_std > MAX_INIT_STD {
            return check::bad(
                "model.init_std",
                format!(
                    "is {}; at most {MAX_INIT_STD} (wider weights overflow f32 in the first products)",
                    self.init_std
                ),
            );
        }
        Ok(())
    }
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
    #[serde(default = "TrainConfig::default_seed")]
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

impl TrainConfig {
    fn default_seed() -> u64 {
        42
    }
}

impl ExperimentConfig {
    /// Parse a config from TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let config: Self =
            toml::from_str(text).map_err(|e| error::config(format!("{origin}: {}", toml_error(&e, text))))?;
        config.validate().with_context(|| format!("invalid config {origin}"))?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::read::read_to_string(path, crate::read::CONFIG)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a validated config always serialises")
    }

    /// Range checks that serde cannot express, on the values as training uses them (f32 where
    /// the network computes in f32). Each error names the key.
    pub fn validate(&self) -> Result<()> {
        let (m, t) = (&self.model, &self.train);
        m.validate()?;
        check::at_least_one("train.epochs", t.epochs)?;
        if t.epochs > MAX_EPOCHS {
            return check::bad("train.epochs", format!("is {}; at most {MAX_EPOCHS}", t.epochs));
        }
        check::at_least_one("train.batch_size", t.batch_size)?;
        // TOML integers are signed 64-bit: a larger seed could not be written to config.toml.
        if i64::try_from(t.seed).is_err() {
            return check::bad("train.seed", format!("is {}; at most {}", t.seed, i64::MAX));
        }
        check::at_most("train.l2", t.l2, MAX_PENALTY)?;
        check::at_most("train.l1", t.l1, MAX_PENALTY)?;
        match (t.loss, m.output) {
            (Loss::CategoricalCrossentropy, Output::Sigmoid) => {
                return check::bad("train.loss", "categorical-crossentropy needs `model.output = \"softmax\"`");
            }
            (Loss::BinaryCrossentropy, Output::Softmax) => {
                return check::bad("train.loss", "binary-crossentropy needs `model.output = \"sigmoid\"`");
            }
            _ => {}
        }
        self.optimizer.validate()?;
        if self.data.validation >= 60_000 {
            return check::bad("data.validation", format!("must be below 60000, got {}", self.data.validation));
        }
        if self.data.train_limit == Some(0) {
            return check::bad("data.train_limit", "must be at least 1");
        }
        if let Some(es) = &self.early_stopping {
            if self.data.validation == 0 {
                return check::bad("early_stopping", "needs a validation split (`data.validation` > 0)");
            }
            check::non_negative("early_stopping.min_delta", es.min_delta)?;
        }
        if let Some(s) = &self.schedule {
            s.validate(self.optimizer.learning_rate())?;
            if s.monitor().is_some() && self.data.validation == 0 {
                return check::bad("schedule", "reduce-on-plateau needs a validation split (`data.validation` > 0)");
            }
        }
        if let Some(a) = &self.augmentation {
            a.validate()?;
        }
        let train_size = self.train_size();
        if t.batch_size > train_size {
            return check::bad(
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

/// toml's error on one line, `line N: message (`the line`)`: its own rendering spans four
/// lines and echoes the offending line whole, however long.
pub fn toml_error(e: &toml::de::Error, text: &str) -> String {
    let msg = cut(&e.message().trim().replace('\n', " "), 300);
    let Some(span) = e.span() else { return msg };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let number = text[..start].matches('\n').count() + 1;
    match line.is_empty() {
        true => format!("line {number}: {msg}"),
        false => format!("line {number}: {msg} (`{}`)", cut(line, 80)),
    }
}

/// `s` cut to `max` characters, with `…` where it was cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Bounds that keep a typo (`units = 10000000`) an error instead of an allocation failure.
const MAX_UNITS: usize = 1 << 16;
const MAX_HIDDEN_LAYERS: usize = 64;
const MAX_PARAMETERS: usize = 1 << 28;
const MAX_EPOCHS: usize = 1_000_000;
/// λ of L1/L2: the lecture uses 5e-4; past this the penalty's gradient throws the weights
/// further than the loss can pull them back, and f32 overflows within a few steps.
const MAX_PENALTY: f64 = 1000.0;
const MAX_INIT_STD: f64 = 1000.0;

type Check = Result<()>;

/// Range checks shared by every section; each error is a config error naming the key.
mod check {
    use super::Check;
    use crate::error;

    pub fn bad(key: &str, why: impl std::fmt::Display) -> Check {
        Err(error::config(format!("`{key}` {why}")))
    }

    /// Finite and > 0, also once rounded to f32 (1e-50 would be 0 there).
    pub fn positive(key: &str, v: f64) -> Check {
        if v > 0.0 && v.is_finite() && (v as f32) > 0.0 && (v as f32).is_finite() {
            Ok(())
        } else {
            bad(key, format!("must be a positive number that f32 can hold, got {v}"))
        }
    }

    /// Finite and ≥ 0 (NaN or ∞ would poison the loss, or make every epoch "no improvement").
    pub fn non_negative(key: &str, v: f64) -> Check {
        if v >= 0.0 && v.is_finite() { Ok(()) } else { bad(key, format!("must be zero or positive, got {v}")) }
    }

    /// Zero or positive and at most `max`: NaN, ∞ and values past f32's range say so by name.
    pub fn at_most(key: &str, v: f64, max: f64) -> Check {
        non_negative(key, v)?;
        if v > max {
            return bad(key, format!("is {v}; at most {max} (a larger penalty makes training diverge)"));
        }
        Ok(())
    }

    /// In [0, 1), also once rounded to f32 (0.99999999999 would be 1 there).
    pub fn fraction(key: &str, v: f64) -> Check {
        if (0.0..1.0).contains(&v) && (v as f32) < 1.0 {
            Ok(())
        } else {
            bad(key, format!("must be in [0, 1) (and below 1 in f32), got {v}"))
        }
    }

    /// In (0, 1]: a factor that lowers the learning rate or keeps it.
    pub fn decay_factor(key: &str, v: f64) -> Check {
        if v > 0.0 && v <= 1.0 && (v as f32) > 0.0 { Ok(()) } else { bad(key, format!("must be in (0, 1], got {v}")) }
    }

    pub fn at_least_one(key: &str, v: usize) -> Check {
        if v >= 1 { Ok(()) } else { bad(key, "must be at least 1") }
    }
}
