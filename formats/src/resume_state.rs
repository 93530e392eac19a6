//! A checkpoint's `state.json`: everything but tensors that training needs to carry on, and the
//! checks a resumed run applies to it before trusting it (a hand-edited or foreign file is an
//! error naming the value, never a run that silently trains on nonsense).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, ScheduleConfig};
use crate::error;
use crate::history::History;
use crate::monitor::Tracker;

pub const FORMAT: &str = "mnist-lab-checkpoint-1";

/// What a checkpoint must keep for the schedule to carry on where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub lr: f64,
    pub plateau: Tracker,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    pub format: String,
    /// Epochs completed.
    pub epoch: usize,
    pub history: History,
    pub schedule: ScheduleState,
    pub early_stopping: Option<Tracker>,
    pub stopped_early: bool,
}

impl ResumeState {
    pub fn new(
        epoch: usize,
        history: History,
        schedule: ScheduleState,
        early_stopping: Option<Tracker>,
        stopped_early: bool,
    ) -> Self {
        Self { format: FORMAT.into(), epoch, history, schedule, early_stopping, stopped_early }
    }

    /// Parse state.json's text and run [`ResumeState::check`]; `origin` names the file (data errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let progress: Self = serde_json::from_str(text)
            .map_err(|e| error::data(format!("{origin} is not a mnist-lab checkpoint: {e}")))?;
        if progress.format != FORMAT {
            return Err(error::data(format!("{origin}: unknown checkpoint format `{}`", progress.format)));
        }
        progress.check().map_err(|why| error::data(format!("{origin}: {why}")))?;
        Ok(progress)
    }

    /// What training writes: one history row per completed epoch, numbered from 1, every value
    /// finite and in range; a learning rate ≥ 0 that f32 can hold (a decaying schedule may reach
    /// 0, in f32 or even in f64, and trains on at 0 as Keras does); trackers that saw no more
    /// epochs than were run.
    pub fn check(&self) -> Result<(), String> {
        let n = self.history.epochs.len();
        if self.epoch != n {
            return Err(format!("says {} epochs are complete but its history has {n}", self.epoch));
        }
        self.history.check(false).map_err(|why| format!("history: {why}"))?;
        let lr = self.schedule.lr;
        if !(lr >= 0.0 && lr.is_finite() && (lr as f32).is_finite()) {
            return Err(format!("schedule.lr is {lr:?}; a learning rate is a number ≥ 0 that f32 can hold"));
        }
        check_tracker(&self.schedule.plateau, n).map_err(|why| format!("schedule.plateau: {why}"))?;
        if let Some(t) = &self.early_stopping {
            check_tracker(t, n).map_err(|why| format!("early_stopping: {why}"))?;
        }
        if self.stopped_early && self.early_stopping.is_none() {
            return Err("stopped_early is true without early-stopping state".into());
        }
        Ok(())
    }

    /// Agreement with the run's config: a schedule only ever lowers the learning rate, and the
    /// callbacks watch the metrics the config names.
    pub fn check_against(&self, cfg: &ExperimentConfig) -> Result<(), String> {
        let initial = cfg.optimizer.learning_rate();
        if self.schedule.lr > initial * (1.0 + 1e-9) {
            return Err(format!(
                "schedule.lr is {:?}, above config.toml's optimizer.learning_rate {initial:?} (a schedule only lowers it)",
                self.schedule.lr
            ));
        }
        if let Some(ScheduleConfig::ReduceOnPlateau(c)) = &cfg.schedule
            && self.schedule.plateau.monitor != c.monitor
        {
            return Err(format!(
                "schedule.plateau watches {:?}, config.toml says {:?}",
                self.schedule.plateau.monitor, c.monitor
            ));
        }
        match (&cfg.early_stopping, &self.early_stopping) {
            (Some(es), Some(t)) if t.monitor != es.monitor => {
                Err(format!("early_stopping watches {:?}, config.toml says {:?}", t.monitor, es.monitor))
            }
            (None, _) if self.stopped_early => {
                Err("stopped_early is true but config.toml has no early stopping".into())
            }
            _ => Ok(()),
        }
    }
}

/// A tracker after `epochs` epochs: it saw at most that many, its best is one of them with a
/// finite value, and it has waited no longer than since its best.
fn check_tracker(t: &Tracker, epochs: usize) -> Result<(), String> {
    if !(t.min_delta >= 0.0 && t.min_delta.is_finite()) {
        return Err(format!("min_delta is {:?}; it must be a finite number ≥ 0", t.min_delta));
    }
    if t.epochs_seen > epochs {
        return Err(format!("saw {} epochs of the {epochs} run", t.epochs_seen));
    }
    let since_best = match t.best {
        Some((v, _)) if !v.is_finite() => return Err(format!("its best value is {v:?}")),
        Some((_, e)) if e == 0 || e > t.epochs_seen => {
            return Err(format!("its best epoch {e} is not one of the {} it saw", t.epochs_seen));
        }
        Some((_, e)) => t.epochs_seen - e,
        None => t.epochs_seen,
    };
    if t.wait > since_best {
        return Err(format!("waited {} epochs, more than the {since_best} since its best", t.wait));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Monitor;
    use crate::history::EpochMetrics;

    fn progress(epochs: usize) -> ResumeState {
        let row = |epoch| EpochMetrics {
            epoch,
            train_loss: 0.5,
            train_accuracy: 0.8,
            val_loss: Some(0.6),
            val_accuracy: Some(0.7),
            learning_rate: 0.1,
            seconds: 1.0,
            grad_mean_abs: vec![],
            stalled: false,
        };
        let history = History { epochs: (1..=epochs).map(row).collect() };
        let mut tracker = Tracker::new(Monitor::ValLoss, 0.0);
        for e in &history.epochs {
            tracker.update(e);
        }
        ResumeState::new(epochs, history, ScheduleState { lr: 0.1, plateau: Tracker::default() }, Some(tracker), false)
    }

    #[test]
    fn what_training_writes_reads_back() {
        let p = progress(3);
        let text = serde_json::to_string_pretty(&p).unwrap();
        assert_eq!(ResumeState::parse(&text, "state.json").unwrap(), p);
    }

    #[test]
    fn edited_values_are_refused_naming_them() {
        type Edit = (&'static str, fn(&mut ResumeState));
        let edits: [Edit; 9] = [
            ("says 5 epochs are complete but its history has 3", |p| p.epoch = 5),
            ("history: epoch 2: train_loss is NaN", |p| p.history.epochs[1].train_loss = f64::NAN),
            ("history: epoch 3: learning_rate is -1", |p| p.history.epochs[2].learning_rate = -1.0),
            ("history: epoch 7 where epoch 2 should be", |p| p.history.epochs[1].epoch = 7),
            ("schedule.lr is -0.001", |p| p.schedule.lr = -1e-3),
            ("schedule.lr is NaN", |p| p.schedule.lr = f64::NAN),
            ("schedule.lr is 1e40", |p| p.schedule.lr = 1e40),
            ("early_stopping: saw 9 epochs", |p| p.early_stopping.as_mut().unwrap().epochs_seen = 9),
            ("early_stopping: waited 3 epochs", |p| p.early_stopping.as_mut().unwrap().wait = 3),
        ];
        for (needle, edit) in edits {
            let mut p = progress(3);
            edit(&mut p);
            let err = p.check().expect_err(needle);
            assert!(err.contains(needle), "{err} / {needle}");
        }
        // A schedule may decay the rate to 0, in f32 or in f64: read back as written.
        for lr in [0.0, 1e-50] {
            let mut p = progress(3);
            p.schedule.lr = lr;
            p.history.epochs[2].learning_rate = lr;
            assert_eq!(p.check(), Ok(()), "lr {lr}");
        }
        // Through the file: the error names it.
        let mut p = progress(3);
        p.epoch = 2;
        let err = ResumeState::parse(&serde_json::to_string(&p).unwrap(), "ck/state.json").unwrap_err();
        assert_eq!(error::kind_of(&err), error::Kind::Data);
        assert!(format!("{err}").starts_with("ck/state.json: says 2 epochs"), "{err}");
    }

    #[test]
    fn a_rate_above_the_configs_is_refused() {
        let cfg =
            ExperimentConfig::from_toml(include_str!("../../configs/early-stopping.toml"), "early-stopping").unwrap();
        let mut p = progress(2);
        p.early_stopping.as_mut().unwrap().monitor = cfg.early_stopping.as_ref().unwrap().monitor;
        p.schedule.lr = cfg.optimizer.learning_rate();
        assert_eq!(p.check_against(&cfg), Ok(()), "{cfg:?}");
        p.schedule.lr = cfg.optimizer.learning_rate() * 10.0;
        assert!(p.check_against(&cfg).unwrap_err().contains("above config.toml's optimizer.learning_rate"));
    }
}
