//! Learning-rate schedules: step decay, exponential decay, reduce-on-plateau (Keras' callback).

use serde::{Deserialize, Serialize};

use crate::config::{ScheduleConfig, ScheduleKind};

use super::monitor::Tracker;

pub struct Schedule {
    cfg: Option<ScheduleConfig>,
    initial: f64,
    pub state: ScheduleState,
}

/// What a checkpoint must keep for the schedule to carry on where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub lr: f64,
    pub plateau: Tracker,
}

impl Schedule {
    pub fn new(cfg: Option<ScheduleConfig>, initial: f64) -> Self {
        let plateau = cfg.as_ref().map_or(Tracker::default(), |c| Tracker::new(c.monitor, c.min_delta));
        Self { cfg, initial, state: ScheduleState { lr: initial, plateau } }
    }

    /// The learning rate for `epoch` (1-based), before it runs.
    pub fn lr(&mut self, epoch: usize) -> f64 {
        if let Some(c) = &self.cfg {
            let k = (epoch - 1) as i32;
            match c.name {
                ScheduleKind::Step => self.state.lr = self.initial * c.factor.powi(k / c.every as i32),
                ScheduleKind::Exponential => self.state.lr = self.initial * c.factor.powi(k),
                ScheduleKind::ReduceOnPlateau => {}
            }
        }
        self.state.lr
    }

    /// Tell the schedule how an epoch ended (reduce-on-plateau watches the validation metric).
    pub fn epoch_end(&mut self, val_loss: Option<f64>, val_accuracy: Option<f64>) {
        let Some(c) = &self.cfg else { return };
        if c.name != ScheduleKind::ReduceOnPlateau {
            return;
        }
        self.state.plateau.update(val_loss, val_accuracy);
        if self.state.plateau.wait >= c.patience {
            self.state.lr = (self.state.lr * c.factor).max(c.min_lr);
            self.state.plateau.wait = 0;
        }
    }
}
