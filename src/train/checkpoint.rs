//! Checkpoints: after every epoch the model, the optimizer state (Adadelta/Adam accumulators…),
//! the schedule, the early-stopping counters and the history go to `checkpoints/epoch-NNNN/`,
//! built under a temporary name and renamed, then `checkpoints/latest` is pointed at it. A run
//! killed at any moment resumes from the last complete epoch.
//!
//! Shuffling, augmentation and dropout are seeded per epoch from the run's seed, so there is no
//! random-generator position to save: a resumed run repeats an uninterrupted one.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::history::History;
use super::monitor::Tracker;
use super::schedule::ScheduleState;
use crate::artifacts::{load_model_file, model_bytes, write_atomic};
use crate::config::ExperimentConfig;
use crate::error;
use crate::model::Mlp;

pub const DIR: &str = "checkpoints";
const LATEST: &str = "latest";
const FORMAT: &str = "mnist-lab-checkpoint-1";
const STATE: &str = "state.json";
const MODEL: &str = "model.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const BEST: &str = "best.bpk";

/// Everything but tensors that training needs to carry on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub format: String,
    /// Epochs completed.
    pub epoch: usize,
    pub history: History,
    pub schedule: ScheduleState,
    pub early_stopping: Option<Tracker>,
    pub stopped_early: bool,
}

impl Progress {
    pub fn new(
        epoch: usize,
        history: History,
        schedule: ScheduleState,
        early_stopping: Option<Tracker>,
        stopped_early: bool,
    ) -> Self {
        Self { format: FORMAT.into(), epoch, history, schedule, early_stopping, stopped_early }
    }
}

/// A checkpoint read back: the models live on the autodiff device given to [`load`].
pub struct Checkpoint {
    pub model: Mlp,
    pub optimizer: ModuleOptimizer,
    pub best: Option<Mlp>,
    pub progress: Progress,
}

/// Write the checkpoint of a completed epoch into `run/checkpoints/`.
pub fn save(
    run: &Path,
    model: &Mlp,
    optimizer: &ModuleOptimizer,
    best: Option<&Mlp>,
    progress: &Progress,
) -> Result<()> {
    let root = run.join(DIR);
    let name = format!("epoch-{:04}", progress.epoch);
    let tmp = root.join(format!(".{name}.tmp-{}", std::process::id()));
    let dir = root.join(&name);
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let optim = optimizer.into_bytes().map_err(|e| error::runtime(format!("cannot serialise the optimizer: {e}")))?;
    write_atomic(&tmp.join(OPTIMIZER), &optim)?;
    write_atomic(&tmp.join(MODEL), &model_bytes(model)?)?;
    if let Some(best) = best {
        write_atomic(&tmp.join(BEST), &model_bytes(best)?)?;
    }
    let state = serde_json::to_string_pretty(progress).expect("progress serialises");
    write_atomic(&tmp.join(STATE), state.as_bytes())?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir).with_context(|| format!("cannot rename {} to {}", tmp.display(), dir.display()))?;
    let previous = latest(run).ok();
    write_atomic(&root.join(LATEST), name.as_bytes())?;
    // Only now is the older checkpoint no longer needed.
    if let Some(prev) = previous.filter(|p| *p != dir) {
        let _ = fs::remove_dir_all(prev);
    }
    Ok(())
}

/// The directory of the newest complete checkpoint of `run`.
pub fn latest(run: &Path) -> Result<PathBuf> {
    let pointer = run.join(DIR).join(LATEST);
    let name = fs::read_to_string(&pointer).map_err(|e| {
        error::data(format!("{} has no checkpoint to resume from ({}: {e})", run.display(), pointer.display()))
    })?;
    let name = name.trim();
    if !name.starts_with("epoch-") || name.contains(['/', '\\']) {
        return Err(error::data(format!("{} is not a checkpoint pointer", pointer.display())));
    }
    Ok(run.join(DIR).join(name))
}

/// How many epochs the newest checkpoint of `run` holds (from its folder name, `epoch-NNNN`).
pub fn completed_epochs(run: &Path) -> Result<usize> {
    let dir = latest(run)?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.trim_start_matches("epoch-")
        .parse()
        .map_err(|_| error::data(format!("{} is not a checkpoint folder name", dir.display())))
}

/// Read the newest checkpoint of `run` for the network of `cfg`, onto `device` (autodiff).
pub fn load(
    run: &Path,
    cfg: &ExperimentConfig,
    device: &Device,
    fresh_optimizer: ModuleOptimizer,
) -> Result<Checkpoint> {
    let dir = latest(run)?;
    let state_path = dir.join(STATE);
    let text = fs::read_to_string(&state_path)
        .map_err(|e| error::data(format!("cannot read checkpoint {}: {e}", state_path.display())))?;
    let progress: Progress = serde_json::from_str(&text)
        .map_err(|e| error::data(format!("{} is not a mnist-lab checkpoint: {e}", state_path.display())))?;
    if progress.format != FORMAT {
        return Err(error::data(format!("{}: unknown checkpoint format `{}`", state_path.display(), progress.format)));
    }
    let model = load_model_file(&dir.join(MODEL), cfg, device)?;
    let best_path = dir.join(BEST);
    let best = best_path.exists().then(|| load_model_file(&best_path, cfg, device)).transpose()?;
    let optim_path = dir.join(OPTIMIZER);
    let bytes = fs::read(&optim_path).map_err(|e| error::data(format!("cannot read {}: {e}", optim_path.display())))?;
    let optimizer = fresh_optimizer
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| error::data(format!("{} is not a valid optimizer state: {e}", optim_path.display())))?;
    Ok(Checkpoint { model, optimizer, best, progress })
}
