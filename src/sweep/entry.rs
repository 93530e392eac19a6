//! One entry of a plan, as a scheduler's array task runs it: skipped when finished or held by
//! another worker, refused when it is not what the plan made, else trained or resumed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::config::ExperimentConfig;
use formats::error;

use super::plan::{self, State};
use crate::backend::BackendName;
use crate::run::{self, Event, Finished, RunDir, SUMMARY_FILE, Start, Stop, TrainRun};
use crate::train;
use formats::plan::{Entry, Plan};

/// Where a sweep's runs get their data and device; passed on to every child of `--jobs`.
#[derive(Debug, Clone, Default)]
pub struct Worker {
    pub data_dir: Option<PathBuf>,
    pub offline: bool,
    pub backend: Option<BackendName>,
}

/// `$SLURM_ARRAY_TASK_ID`, else `$JOB_COMPLETION_INDEX`, with the variable's name.
pub fn index_from_env() -> Result<Option<(usize, &'static str)>> {
    for var in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return match v.trim().parse() {
                Ok(i) => Ok(Some((i, var))),
                Err(_) => Err(error::config(format!("${var} is `{v}`, not a run index"))),
            };
        }
    }
    Ok(None)
}

/// The error of an entry that is not what the plan made.
pub fn refused(desc: &str, why: &str) -> anyhow::Error {
    error::config(format!(
        "{desc}: not this sweep's own run ({why}); it is neither trained nor collected — move it away and run again"
    ))
}

/// "run 3 of 12 (ab12cd34: optimizer.learning_rate = 0.1, seed 2)".
pub fn describe(plan: &Plan, e: &Entry) -> String {
    format!("run {} of {} ({}: {}, seed {})", e.index, plan.runs.len(), e.id, plan.label(e), e.seed)
}

/// A finished run's figures, for a progress line.
pub fn accuracy_of(run: &Path) -> String {
    RunDir::open(run)
        .and_then(|r| r.summary())
        .map(|s| format!("test accuracy {:.2} %, best epoch {}", s.test_accuracy * 100.0, s.best_epoch))
        .unwrap_or_else(|e| format!("unreadable summary: {e:#}"))
}

/// Run entry `index` of the plan in `dir`: `say` gets its progress lines, `on` the training's
/// events. Returns the run when it was trained here, `None` when there was nothing to do.
pub fn run_entry(
    dir: &Path,
    plan: &Plan,
    index: usize,
    worker: &Worker,
    say: &mut dyn FnMut(&str),
    on: &mut dyn FnMut(Event),
) -> Result<Option<Finished>> {
    let entry = &plan.runs[index];
    let desc = describe(plan, entry);
    let run_dir = dir.join(&entry.run);
    match plan::state(dir, plan, entry) {
        State::Finished => {
            say(&format!("{desc}: already finished ({})", accuracy_of(&run_dir)));
            return Ok(None);
        }
        // Before the lock: a symbolic link there would have it written outside the sweep.
        State::Foreign(why) => return Err(refused(&desc, &why)),
        _ => {}
    }
    let Some(_lock) = plan::try_lock(dir, entry)? else {
        say(&format!(
            "{desc}: another worker is training it ({} is held); nothing to do here",
            plan::lock_path(dir, entry).display()
        ));
        return Ok(None);
    };
    // It may have changed between the first look and the lock.
    match plan::state(dir, plan, entry) {
        State::Finished => {
            say(&format!("{desc}: already finished ({})", accuracy_of(&run_dir)));
            return Ok(None);
        }
        State::Foreign(why) => return Err(refused(&desc, &why)),
        State::Damaged(why) => {
            // Trained again below, from its last checkpoint when it has one; until then it
            // reads as unfinished rather than as results.
            let summary = run_dir.join(SUMMARY_FILE);
            fs::remove_file(&summary)
                .map_err(|e| error::runtime(format!("cannot remove {}: {e}", summary.display())))?;
            say(&format!("{desc}: its results are damaged ({why}); training it again"));
        }
        _ => {}
    }
    let config_path = dir.join(&entry.config);
    let mut cfg = ExperimentConfig::from_file(&config_path)?;
    if plan::config_id(&cfg) != entry.id {
        return Err(error::config(format!(
            "{} does not match its id in plan.json (edited after planning?); plan the grid again into a new directory",
            config_path.display()
        )));
    }
    plan.agrees(entry, &cfg).map_err(|why| error::config(format!("{}: {why}", dir.join(plan::PLAN_FILE).display())))?;
    // As for any config file `train` is given: one without a preset is named by its file.
    if cfg.preset.is_empty() {
        cfg.preset = entry.id.clone();
    }
    let start = if plan::has_checkpoint(&run_dir) {
        let done = train::checkpoint::completed_epochs(&run_dir)?;
        say(&format!("{desc}: resuming after epoch {done} of {}", cfg.train.epochs));
        Start::Resume { dir: run_dir, epochs: None }
    } else {
        // Stopped before its first epoch ended: nothing in it is worth keeping.
        if run_dir.exists() {
            fs::remove_dir_all(&run_dir)
                .map_err(|e| error::runtime(format!("cannot clear {}: {e}", run_dir.display())))?;
        }
        say(&format!("{desc}: starting"));
        Start::New { cfg: Box::new(cfg), out: Some(run_dir) }
    };
    let stop = Stop::install();
    let opts = TrainRun {
        start,
        data_dir: worker.data_dir.clone(),
        offline: worker.offline,
        backend: worker.backend,
        progress_bar: false,
        stop: &stop,
    };
    run::train_run(opts, on).map(Some)
}
