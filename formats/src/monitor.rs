//! Watching a validation metric for improvement, as Keras' callbacks do (shared by early
//! stopping and reduce-on-plateau).

use serde::{Deserialize, Serialize};

use crate::config::Monitor;
use crate::history::EpochMetrics;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub monitor: Monitor,
    pub min_delta: f64,
    /// Best value so far and the epoch (1-based) it came from.
    pub best: Option<(f64, usize)>,
    /// Epochs since the last improvement.
    pub wait: usize,
    pub epochs_seen: usize,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new(Monitor::ValLoss, 0.0)
    }
}

impl Tracker {
    pub fn new(monitor: Monitor, min_delta: f64) -> Self {
        Self { monitor, min_delta, best: None, wait: 0, epochs_seen: 0 }
    }

    /// Record one epoch; returns true when it improved on the best by more than `min_delta`.
    pub fn update(&mut self, m: &EpochMetrics) -> bool {
        self.epochs_seen += 1;
        let value = match self.monitor {
            Monitor::ValLoss => m.val_loss,
            Monitor::ValAccuracy => m.val_accuracy,
        };
        let Some(value) = value.filter(|v| v.is_finite()) else {
            self.wait += 1;
            return false;
        };
        let improved = match self.best {
            None => true,
            Some((best, _)) if self.monitor.higher_is_better() => value > best + self.min_delta,
            Some((best, _)) => value < best - self.min_delta,
        };
        if improved {
            self.best = Some((value, self.epochs_seen));
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        improved
    }
}
