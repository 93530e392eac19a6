//! A sweep directory: `plan.json` (one entry per run), `configs/<id>.toml` (each run's resolved
//! config), `runs/<id>/` (each run directory, written by `train`), `locks/<id>.lock` (held by the
//! worker training that run) and `logs/`.
//!
//! A run's id is a hash of its resolved config, so the same grid always plans the same ids and
//! a run directory can never be taken for a run with other settings.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::config::{Dataset, ExperimentConfig};
use formats::history::{History, read_history_csv};
use formats::plan::{CONFIGS, Entry, FORMAT, Plan, RUNS, one_line};
use formats::summary::Summary;
use formats::{error, read};
use sha2::{Digest, Sha256};

use super::grid::Grid;
use super::progress::Progress;
use crate::files::{check_inside, create_dir_inside, replaceable, sync_written, write_inside, write_unsynced};
use crate::run::{CONFIG_FILE, DIVERGED_FILE, HISTORY_FILE, RunDir, SUMMARY_FILE};
use crate::train::checkpoint;

pub const PLAN_FILE: &str = "plan.json";
pub const LOCKS: &str = "locks";
pub const LOGS: &str = "logs";

/// The id of a resolved config: the first 12 hex digits of the SHA-256 of its TOML.
pub fn config_id(cfg: &ExperimentConfig) -> String {
    toml_id(&cfg.to_toml())
}

/// [`config_id`] of a config already written as TOML.
fn toml_id(toml: &str) -> String {
    format!("{:x}", Sha256::digest(toml.as_bytes()))[..12].to_string()
}

/// The plan of `grid`: an entry per run, named by the id of its config.
pub fn from_grid(grid: &Grid) -> Result<Plan> {
    let mut runs: Vec<Entry> = Vec::with_capacity(grid.runs.len());
    // Id → index, so a repeated config is found in one pass however long the plan.
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(grid.runs.len());
    for (index, r) in grid.runs.iter().enumerate() {
        let id = toml_id(&r.toml);
        if let Some(same) = seen.insert(id.clone(), index) {
            return Err(error::config(format!(
                "runs {same} and {index} of the grid have the same config (a value listed twice?)"
            )));
        }
        let point = r
            .point
            .iter()
            .map(|(_, v)| serde_json::to_value(v).map_err(|e| error::config(format!("grid value `{v}`: {e}"))))
            .collect::<Result<_>>()?;
        runs.push(Entry {
            index,
            config: format!("{CONFIGS}/{id}.toml"),
            run: format!("{RUNS}/{id}"),
            id,
            point,
            seed: r.seed,
        });
    }
    Ok(Plan {
        format: FORMAT.into(),
        base: grid.base.clone(),
        keys: grid.keys.clone(),
        seeds: grid.seeds.clone(),
        runs,
    })
}

/// Write `plan` into `dir`: a new or empty folder, or one holding this same plan
/// (then nothing changes but missing config files). Returns whether it was already there.
pub fn write(plan: &Plan, dir: &Path, grid: &Grid, progress: &mut Progress) -> Result<bool> {
    let plan_path = dir.join(PLAN_FILE);
    let existing = match load(dir) {
        Ok(p) => Some(p),
        Err(_) if !plan_path.exists() => {
            // Only a plan cut short before its plan.json may have left something here.
            let foreign = fs::read_dir(dir)
                .map(|it| it.filter_map(|e| e.ok()).any(|e| e.file_name() != CONFIGS))
                .unwrap_or(false);
            if foreign {
                return Err(error::config(format!(
                    "{} is not empty and holds no sweep plan; choose another --out",
                    dir.display()
                )));
            }
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(old) = &existing
        && (old.runs != plan.runs || old.keys != plan.keys)
    {
        return Err(error::config(format!(
            "{} holds a different plan ({} runs from base `{}`); choose another --out",
            dir.display(),
            old.runs.len(),
            old.base
        )));
    }
    check_folders(dir)?;
    let configs = dir.join(CONFIGS);
    create_dir_inside(dir, &configs)?;
    let mut written = Vec::new();
    for (entry, r) in plan.runs.iter().zip(&grid.runs) {
        let path = dir.join(&entry.config);
        // One lstat for the usual cases (absent, a file); a link or special file is refused.
        let target = match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(path.clone()),
            Ok(m) if m.is_file() => None,
            _ => {
                check_inside(dir, &path)?;
                Some(replaceable(&path)?)
            }
        };
        if let Some(target) = target {
            let text = format!("# mnist-lab sweep run {} ({}), fully resolved\n{}", entry.index, entry.id, r.toml);
            write_unsynced(&target, text.as_bytes())
                .map_err(|e| error::runtime(format!("cannot write {}: {e}", path.display())))?;
            written.push(target);
        }
        progress.show("writing", entry.index + 1, plan.runs.len());
    }
    if !written.is_empty() {
        sync_written(&configs, &written)
            .map_err(|e| error::runtime(format!("cannot sync {}: {e}", configs.display())))?;
    }
    if existing.is_none() {
        let json = serde_json::to_string_pretty(plan).expect("a plan serialises");
        write_inside(dir, &plan_path, format!("{json}\n").as_bytes())?;
    }
    Ok(existing.is_some())
}

/// The plan in `dir`, read and checked ([`Plan::parse`]).
pub fn load(dir: &Path) -> Result<Plan> {
    let path = dir.join(PLAN_FILE);
    if fs::symlink_metadata(&path).is_err() {
        return Err(error::config(format!(
            "{} is not a sweep directory (no {}); make one with `mnist-lab sweep plan GRID.toml --out {}`",
            dir.display(),
            path.display(),
            dir.display()
        )));
    }
    Plan::parse(&read::read_to_string(&path, read::PLAN)?, &path.display().to_string())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    NotStarted,
    /// Interrupted (or training now) after this many checkpointed epochs.
    Unfinished(usize),
    /// summary.json and history.csv read back.
    Finished,
    /// Its results are there but do not read back (why): `sweep run` trains it again.
    Damaged(String),
    /// Its training diverged (train's message, without "training diverged: ").
    Diverged(String),
    /// Not what the plan made (why): never trained into, never averaged.
    Foreign(String),
}

pub fn state(dir: &Path, plan: &Plan, entry: &Entry) -> State {
    if let Err(why) = owned(dir, plan, entry) {
        return State::Foreign(why);
    }
    let run = dir.join(&entry.run);
    if fs::symlink_metadata(run.join(SUMMARY_FILE)).is_ok() {
        return match results(dir, entry) {
            Ok(_) => State::Finished,
            Err(e) => State::Damaged(one_line(&format!("{e:#}"))),
        };
    }
    if let Ok(text) = read::read_to_string(&run.join(DIVERGED_FILE), read::NOTE) {
        let text = one_line(&text);
        let why = text.strip_prefix(error::DIVERGED).map(|t| t.trim_start_matches(':').trim()).unwrap_or(&text);
        return State::Diverged(why.to_string());
    }
    if has_checkpoint(&run) {
        State::Unfinished(checkpoint::completed_epochs(&run).unwrap_or(0))
    } else {
        State::NotStarted
    }
}

/// The summary and history of a finished run.
pub fn results(dir: &Path, entry: &Entry) -> Result<(Summary, History)> {
    let run = RunDir::open(&dir.join(&entry.run))?;
    let summary = run.summary()?;
    let history = read_history_csv(&run.file(HISTORY_FILE))?;
    Ok((summary, history))
}

/// The folders every run of a sweep writes into: none may be a symbolic link, or a run would
/// read and write outside the sweep folder.
pub fn check_folders(dir: &Path) -> Result<()> {
    for name in [CONFIGS, RUNS, LOCKS, LOGS] {
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            return Err(error::config(format!(
                "{} is not a folder of the sweep's own (a symbolic link or a file); a sweep reads and writes \
                 only inside its folder — move it away",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Whether the entry's files are this sweep's own, and if not why: no symbolic link among its
/// config, run folder (or anything inside it), lock and log, so that nothing outside the sweep
/// folder is read or written as this run; and a run that has trained (a checkpoint, summary or
/// divergence) was trained on the plan's config, so a run of other settings is never resumed or
/// averaged as this one.
pub fn owned(dir: &Path, plan: &Plan, entry: &Entry) -> std::result::Result<(), String> {
    let lock = format!("{LOCKS}/{}.lock", entry.id);
    let log = format!("{LOGS}/{}.log", entry.id);
    for rel in [CONFIGS, RUNS, LOCKS, LOGS, &entry.config, &entry.run, &lock, &log] {
        if fs::symlink_metadata(dir.join(rel)).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!("{rel} is a symbolic link"));
        }
    }
    let run = dir.join(&entry.run);
    match fs::symlink_metadata(&run) {
        Err(_) => return Ok(()),
        Ok(m) if !m.is_dir() => return Err(format!("{} is not a folder", entry.run)),
        Ok(_) => {}
    }
    let mut folders = vec![run.clone()];
    while let Some(folder) = folders.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            // A checkpoint being built is renamed or removed while a worker trains the run.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", folder.display())),
        };
        for item in entries.filter_map(|e| e.ok()) {
            let Ok(kind) = item.file_type() else { continue };
            if kind.is_symlink() {
                let inside = item.path().strip_prefix(dir).map(Path::to_path_buf).unwrap_or_else(|_| item.path());
                return Err(format!("{} is a symbolic link", inside.display()));
            }
            if kind.is_dir() {
                folders.push(item.path());
            }
        }
    }
    let trained = [SUMMARY_FILE, DIVERGED_FILE].iter().any(|f| run.join(f).exists()) || has_checkpoint(&run);
    if !trained {
        // Never trained (or stopped before its first checkpoint): `sweep run` starts it afresh.
        return Ok(());
    }
    let cfg = ExperimentConfig::from_file(&run.join(CONFIG_FILE))
        .map_err(|e| format!("it cannot show it was trained on the plan's config ({})", one_line(&format!("{e:#}"))))?;
    if config_id(&cfg) != entry.id {
        return Err(format!(
            "{}/{CONFIG_FILE} is not the plan's config for this run (a run of other settings put there?)",
            entry.run
        ));
    }
    plan.agrees(entry, &cfg)
}

/// Whether `run` has a checkpoint pointer (a run killed before its first epoch ended has none).
/// A damaged pointer counts: such a run is never taken for unstarted and cleared.
pub fn has_checkpoint(run: &Path) -> bool {
    checkpoint::newest(run).map_or(true, |dir| dir.is_some())
}

/// The lock file of an entry.
pub fn lock_path(dir: &Path, entry: &Entry) -> PathBuf {
    dir.join(LOCKS).join(format!("{}.lock", entry.id))
}

/// Try to take the entry's lock: `Some(file)` holds it until dropped (or the process dies),
/// `None` when another worker holds it.
pub fn try_lock(dir: &Path, entry: &Entry) -> Result<Option<fs::File>> {
    let path = lock_path(dir, entry);
    create_dir_inside(dir, &dir.join(LOCKS))?;
    let file = no_follow()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| error::runtime(format!("cannot open lock file {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(error::runtime(format!("cannot lock {}: {e}", path.display()))),
    }
}

/// Options that refuse to open a symbolic link (the lock and log files of a sweep folder that
/// came from elsewhere may be links someone placed).
pub fn no_follow() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// The datasets the runs of `entries` use, each once.
pub fn datasets(dir: &Path, entries: &[&Entry]) -> Result<Vec<Dataset>> {
    let mut out = Vec::new();
    for e in entries {
        let d = ExperimentConfig::from_file(&dir.join(&e.config))?.data.dataset;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}
