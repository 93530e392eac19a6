//! Learning-rate schedules (lecture step 5): step decay, exponential decay, and Keras'
//! `ReduceLROnPlateau`.

use formats::config::ScheduleConfig;
use formats::history::EpochMetrics;
use formats::monitor::Tracker;

pub use formats::resume_state::ScheduleState;

pub struct Schedule {
    cfg: Option<ScheduleConfig>,
    initial: f64,
    pub state: ScheduleState,
}

impl Schedule {
    pub fn new(cfg: Option<ScheduleConfig>, initial: f64) -> Self {
        let plateau = match &cfg {
            Some(ScheduleConfig::ReduceOnPlateau(c)) => Tracker::new(c.monitor, c.min_delta),
            _ => Tracker::default(),
        };
        Self { cfg, initial, state: ScheduleState { lr: initial, plateau } }
    }

    /// The learning rate for `epoch` (1-based), before it runs.
    pub fn lr(&mut self, epoch: usize) -> f64 {
        let k = (epoch - 1) as f64;
        match &self.cfg {
            Some(ScheduleConfig::Step(c)) => {
                self.state.lr = self.initial * c.factor.powf(((epoch - 1) / c.every) as f64)
            }
            Some(ScheduleConfig::Exponential(c)) => self.state.lr = self.initial * c.factor.powf(k),
            _ => {}
        }
        self.state.lr
    }

    /// Tell the schedule how an epoch ended (reduce-on-plateau watches the validation metric).
    pub fn epoch_end(&mut self, metrics: &EpochMetrics) {
        let Some(ScheduleConfig::ReduceOnPlateau(c)) = &self.cfg else { return };
        // Keras' rule: only epochs without improvement count, and the rate never rises.
        if !self.state.plateau.update(metrics) && self.state.plateau.wait >= c.patience {
            if self.state.lr > c.min_lr {
                self.state.lr = (self.state.lr * c.factor).max(c.min_lr);
            }
            self.state.plateau.wait = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::config::{ExponentialDecayConfig, Monitor, ReduceOnPlateauConfig, StepDecayConfig};

    fn epoch(val_loss: f64) -> EpochMetrics {
        EpochMetrics { val_loss: Some(val_loss), val_accuracy: Some(0.5), ..EpochMetrics::default() }
    }

    #[test]
    fn step_and_exponential_decay() {
        let mut step = Schedule::new(Some(ScheduleConfig::Step(StepDecayConfig { factor: 0.5, every: 2 })), 1.0);
        assert_eq!((1..=5).map(|e| step.lr(e)).collect::<Vec<_>>(), [1.0, 1.0, 0.5, 0.5, 0.25]);
        let mut exp = Schedule::new(Some(ScheduleConfig::Exponential(ExponentialDecayConfig { factor: 0.5 })), 1.0);
        assert_eq!((1..=3).map(|e| exp.lr(e)).collect::<Vec<_>>(), [1.0, 0.5, 0.25]);
        // An interval longer than any run never drops, and never overflows.
        let huge = StepDecayConfig { factor: 0.5, every: usize::MAX };
        let mut never = Schedule::new(Some(ScheduleConfig::Step(huge)), 1.0);
        assert_eq!((1..=4).map(|e| never.lr(e)).collect::<Vec<_>>(), [1.0; 4]);
    }

    #[test]
    fn plateau_drops_after_patience_epochs_without_improvement_only() {
        let cfg = ReduceOnPlateauConfig {
            monitor: Monitor::ValLoss,
            factor: 0.1,
            patience: 0,
            min_delta: 0.0,
            min_lr: 0.001,
        };
        let mut s = Schedule::new(Some(ScheduleConfig::ReduceOnPlateau(cfg)), 1.0);
        // patience 0: improving epochs keep the rate, each worse one drops it, down to min_lr.
        let mut rates = Vec::new();
        for loss in [1.0, 0.9, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85] {
            s.epoch_end(&epoch(loss));
            rates.push(s.state.lr);
        }
        let want = [1.0, 1.0, 0.1, 0.1, 0.01, 0.001, 0.001, 0.001];
        assert!(rates.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{rates:?}");
    }
}
