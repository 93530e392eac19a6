//! Learning-rate schedules: step decay, exponential decay, reduce-on-plateau (Keras' callback).

use crate::config::{ScheduleConfig, ScheduleKind};

use super::monitor::Tracker;

pub struct Schedule {
    cfg: Option<ScheduleConfig>,
    initial: f64,
    lr: f64,
    plateau: Tracker,
}

impl Schedule {
    pub fn new(cfg: Option<ScheduleConfig>, initial: f64) -> Self {
        let plateau = cfg.as_ref().map_or(Tracker::default(), |c| Tracker::new(c.monitor, c.min_delta));
        Self { cfg, initial, lr: initial, plateau }
    }

    /// The learning rate for `epoch` (1-based), before it runs.
    pub fn lr(&mut self, epoch: usize) -> f64 {
        if let Some(c) = &self.cfg {
            let k = (epoch - 1) as i32;
            match c.name {
                ScheduleKind::Step => self.lr = self.initial * c.factor.powi(k / c.every as i32),
                ScheduleKind::Exponential => self.lr = self.initial * c.factor.powi(k),
                ScheduleKind::ReduceOnPlateau => {}
            }
        }
        self.lr
    }

    /// Tell the schedule how an epoch ended (reduce-on-plateau watches the validation metric).
    pub fn epoch_end(&mut self, val_loss: Option<f64>, val_accuracy: Option<f64>) {
        let Some(c) = &self.cfg else { return };
        if c.name != ScheduleKind::ReduceOnPlateau {
            return;
        }
        self.plateau.update(val_loss, val_accuracy);
        if self.plateau.wait >= c.patience {
            self.lr = (self.lr * c.factor).max(c.min_lr);
            self.plateau.wait = 0;
        }
    }
}
