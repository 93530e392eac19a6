//! `[schedule]` and `[early_stopping]`: what watches the epochs and acts on them, with the
//! defaults of Keras' callbacks where Keras has one of that name.

use serde::{Deserialize, Serialize};

use super::{Check, check};

/// A validation metric to watch, in Keras' names.
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

/// Learning-rate schedules, one variant each, selected by `name`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum ScheduleConfig {
    /// lr·factor^⌊(epoch−1)/every⌋
    Step(StepDecayConfig),
    /// lr·factor^(epoch−1)
    Exponential(ExponentialDecayConfig),
    /// `keras.callbacks.ReduceLROnPlateau`: lr·factor after `patience` epochs without
    /// improvement of `monitor`, never below `min_lr`.
    ReduceOnPlateau(ReduceOnPlateauConfig),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StepDecayConfig {
    pub factor: f64,
    /// Epochs between drops.
    pub every: usize,
}

impl Default for StepDecayConfig {
    fn default() -> Self {
        Self { factor: 0.5, every: 10 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExponentialDecayConfig {
    pub factor: f64,
}

impl Default for ExponentialDecayConfig {
    fn default() -> Self {
        Self { factor: 0.5 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReduceOnPlateauConfig {
    pub monitor: Monitor,
    pub factor: f64,
    /// Epochs without improvement before a drop.
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    pub min_delta: f64,
    pub min_lr: f64,
}

impl Default for ReduceOnPlateauConfig {
    fn default() -> Self {
        Self { monitor: Monitor::ValLoss, factor: 0.1, patience: 10, min_delta: 1e-4, min_lr: 0.0 }
    }
}

/// `keras.callbacks.EarlyStopping`, except that the best weights are restored unless told not to
/// (the lesson is the best epoch's network).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    #[serde(default = "EarlyStoppingConfig::default_monitor")]
    pub monitor: Monitor,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// Put back the weights of the best epoch when stopping (or at the end).
    #[serde(default = "EarlyStoppingConfig::default_restore")]
    pub restore_best_weights: bool,
}

impl EarlyStoppingConfig {
    fn default_monitor() -> Monitor {
        Monitor::ValLoss
    }

    fn default_restore() -> bool {
        true
    }
}

impl ScheduleConfig {
    pub(super) fn validate(&self, learning_rate: f64) -> Check {
        match self {
            Self::Step(s) => {
                check::decay_factor("schedule.factor", s.factor)?;
                check::at_least_one("schedule.every", s.every)
            }
            Self::Exponential(s) => check::decay_factor("schedule.factor", s.factor),
            Self::ReduceOnPlateau(s) => {
                check::decay_factor("schedule.factor", s.factor)?;
                check::non_negative("schedule.min_delta", s.min_delta)?;
                check::non_negative("schedule.min_lr", s.min_lr)?;
                if s.min_lr > learning_rate {
                    return check::bad(
                        "schedule.min_lr",
                        format!("({}) is above the learning rate ({learning_rate}); it would never lower it", s.min_lr),
                    );
                }
                Ok(())
            }
        }
    }

    /// The metric this schedule watches, if any.
    pub fn monitor(&self) -> Option<Monitor> {
        match self {
            Self::ReduceOnPlateau(s) => Some(s.monitor),
            _ => None,
        }
    }
}
