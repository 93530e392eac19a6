//! Everything training carries from one epoch to the next: what a checkpoint saves and a
//! resumed run starts from.

use std::path::Path;

use anyhow::Result;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use formats::config::ExperimentConfig;
use formats::history::{EpochMetrics, History};

use super::checkpoint::{self, ResumeState};
use super::early_stopping::EarlyStopping;
use super::optim;
use super::schedule::Schedule;
use crate::model::Mlp;

pub struct TrainingState {
    /// The network, on the autodiff device.
    pub model: Mlp,
    pub optimizer: ModuleOptimizer,
    pub schedule: Schedule,
    pub early_stopping: Option<EarlyStopping>,
    pub history: History,
    pub stopped_early: bool,
}

impl TrainingState {
    /// A fresh network of `cfg`, initialised from its seed, on the autodiff `device`.
    pub fn new(cfg: &ExperimentConfig, device: &Device) -> Self {
        device.seed(cfg.train.seed);
        Self {
            model: Mlp::new(&cfg.model, device),
            optimizer: optim::build(&cfg.optimizer),
            schedule: Schedule::new(cfg.schedule.clone(), cfg.optimizer.learning_rate()),
            early_stopping: cfg.early_stopping.clone().map(EarlyStopping::new),
            history: History::default(),
            stopped_early: false,
        }
    }

    /// The state of `run`'s newest checkpoint.
    pub fn restore(run: &Path, cfg: &ExperimentConfig, device: &Device) -> Result<Self> {
        let fresh = Self::new(cfg, device);
        let ck = checkpoint::load(run, cfg, device, fresh.optimizer)?;
        let mut schedule = fresh.schedule;
        schedule.state = ck.state.schedule;
        let early_stopping = match (cfg.early_stopping.clone(), ck.state.early_stopping) {
            (Some(es), Some(tracker)) => Some(EarlyStopping::restored(es, tracker, ck.best)),
            (es, _) => es.map(EarlyStopping::new),
        };
        Ok(Self {
            model: ck.model,
            optimizer: ck.optimizer,
            schedule,
            early_stopping,
            history: ck.state.history,
            stopped_early: ck.state.stopped_early,
        })
    }

    /// Write the checkpoint of the last completed epoch into `run`.
    pub fn save(&self, run: &Path) -> Result<()> {
        let es = self.early_stopping.as_ref();
        let state = ResumeState::new(
            self.history.epochs.len(),
            self.history.clone(),
            self.schedule.state.clone(),
            es.map(|e| e.tracker.clone()),
            self.stopped_early,
        );
        checkpoint::save(run, &self.model, &self.optimizer, es.and_then(|e| e.best_model.as_ref()), &state)
    }

    /// The first epoch (1-based) still to run.
    pub fn next_epoch(&self) -> usize {
        self.history.epochs.len() + 1
    }

    /// Record a finished epoch: the history, the schedule and early stopping see it. After the
    /// `last` epoch there is nothing left to stop early.
    pub fn end_epoch(&mut self, metrics: EpochMetrics, last: bool) {
        self.schedule.epoch_end(&metrics);
        if let Some(es) = self.early_stopping.as_mut() {
            self.stopped_early = es.on_epoch_end(&metrics, &self.model) && !last;
        }
        self.history.epochs.push(metrics);
    }

    /// The epoch early stopping judged best, or the lowest validation loss without it.
    pub fn best_epoch(&self) -> usize {
        match &self.early_stopping {
            Some(es) => es.best_epoch().unwrap_or(self.history.epochs.len()),
            None => self.history.best_epoch().unwrap_or(0),
        }
    }

    /// The network to keep: the best epoch's where early stopping kept it.
    pub fn into_model(self) -> Mlp {
        self.early_stopping.and_then(|es| es.best_model).unwrap_or(self.model)
    }
}
