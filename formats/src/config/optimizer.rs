//! `[optimizer]`: one variant per optimizer, selected by `name`, each with only its own keys and
//! Keras' defaults (`keras.optimizers.*`), so a key of another optimizer is an error naming it.
//! The update rules live in `train::optim`, one file each.

use serde::{Deserialize, Serialize};

use super::{Check, check};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum OptimizerConfig {
    Sgd(SgdConfig),
    Adagrad(AdagradConfig),
    Rmsprop(RmspropConfig),
    Adam(AdamConfig),
    Adadelta(AdadeltaConfig),
}

/// Keras' ε for every optimizer (Burn's and PyTorch's default is larger).
pub const KERAS_EPSILON: f64 = 1e-7;

/// `keras.optimizers.SGD`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SgdConfig {
    pub learning_rate: f64,
    /// 0 = plain SGD.
    pub momentum: f64,
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self { learning_rate: 0.01, momentum: 0.0, nesterov: false }
    }
}

/// `keras.optimizers.Adagrad`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdagradConfig {
    pub learning_rate: f64,
    /// Where the sum of squared gradients starts.
    pub initial_accumulator_value: f64,
    pub epsilon: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        Self { learning_rate: 0.001, initial_accumulator_value: 0.1, epsilon: KERAS_EPSILON }
    }
}

/// `keras.optimizers.RMSprop`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RmspropConfig {
    pub learning_rate: f64,
    /// Decay of the squared-gradient average.
    pub rho: f64,
    pub momentum: f64,
    pub epsilon: f64,
    /// Divide by the gradient's estimated variance instead of its raw second moment.
    pub centered: bool,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        Self { learning_rate: 0.001, rho: 0.9, momentum: 0.0, epsilon: KERAS_EPSILON, centered: false }
    }
}

/// `keras.optimizers.Adam`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    pub learning_rate: f64,
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
    /// Divide by the largest second moment seen so far (Reddi et al. 2018).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: KERAS_EPSILON, amsgrad: false }
    }
}

/// `keras.optimizers.Adadelta`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdadeltaConfig {
    pub learning_rate: f64,
    /// Decay of both running averages.
    pub rho: f64,
    pub epsilon: f64,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        Self { learning_rate: 0.001, rho: 0.95, epsilon: KERAS_EPSILON }
    }
}

impl OptimizerConfig {
    /// The name `[optimizer] name` selects it by.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgd(_) => "sgd",
            Self::Adagrad(_) => "adagrad",
            Self::Rmsprop(_) => "rmsprop",
            Self::Adam(_) => "adam",
            Self::Adadelta(_) => "adadelta",
        }
    }

    /// The initial learning rate (schedules change it from there).
    pub fn learning_rate(&self) -> f64 {
        match self {
            Self::Sgd(c) => c.learning_rate,
            Self::Adagrad(c) => c.learning_rate,
            Self::Rmsprop(c) => c.learning_rate,
            Self::Adam(c) => c.learning_rate,
            Self::Adadelta(c) => c.learning_rate,
        }
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        match self {
            Self::Sgd(c) => c.learning_rate = lr,
            Self::Adagrad(c) => c.learning_rate = lr,
            Self::Rmsprop(c) => c.learning_rate = lr,
            Self::Adam(c) => c.learning_rate = lr,
            Self::Adadelta(c) => c.learning_rate = lr,
        }
    }

    /// Range checks; each error names the key.
    pub(super) fn validate(&self) -> Check {
        check::positive("optimizer.learning_rate", self.learning_rate())?;
        match self {
            Self::Sgd(c) => check::fraction("optimizer.momentum", c.momentum),
            Self::Adagrad(c) => {
                check::non_negative("optimizer.initial_accumulator_value", c.initial_accumulator_value)?;
                check::positive("optimizer.epsilon", c.epsilon)
            }
            Self::Rmsprop(c) => {
                check::fraction("optimizer.rho", c.rho)?;
                check::fraction("optimizer.momentum", c.momentum)?;
                check::positive("optimizer.epsilon", c.epsilon)
            }
            Self::Adam(c) => {
                check::fraction("optimizer.beta_1", c.beta_1)?;
                check::fraction("optimizer.beta_2", c.beta_2)?;
                check::positive("optimizer.epsilon", c.epsilon)
            }
            Self::Adadelta(c) => {
                check::fraction("optimizer.rho", c.rho)?;
                check::positive("optimizer.epsilon", c.epsilon)
            }
        }
    }
}
