//! The runs a report compares: the paths given, expanded into run directories, each read once.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::error;
use formats::history::History;

use super::table;
use crate::run::{CONFIG_FILE, HISTORY_FILE, RunDir, SUMMARY_FILE};

/// Expand the arguments into run directories, sorted by path, each read once. A run named
/// directly must be readable; one found in a parent folder that is not (a hand-edited or
/// corrupt file) is left out with a warning naming the file, rather than sinking the report.
pub fn load_rows(paths: &[PathBuf]) -> Result<Vec<table::RunRow>> {
    let mut dirs = Vec::new();
    let mut named = Vec::new();
    for p in paths {
        if RunDir::open(p).is_ok() {
            dirs.push(p.clone());
            named.push(p.clone());
            continue;
        }
        let found: Vec<PathBuf> = fs::read_dir(p)
            .map(|entries| {
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|d| d.join(SUMMARY_FILE).is_file()).collect()
            })
            .unwrap_or_default();
        if found.is_empty() && p.join("plan.json").is_file() {
            return Err(error::config(format!(
                "{} is a sweep folder: `mnist-lab sweep collect {0}` reports it (mean ± std over seeds), \
                 or `mnist-lab report {}` compares its runs one by one",
                p.display(),
                p.join("runs").display()
            )));
        }
        if found.is_empty() {
            return Err(error::config(format!(
                "{} is neither a run directory (no {CONFIG_FILE}) nor a folder of finished runs",
                p.display()
            )));
        }
        dirs.extend(found);
    }
    dirs.sort();
    dirs.dedup();

    // Directory names, unless two runs share one (e.g. from two parents): then whole paths.
    let mut seen = HashMap::new();
    for d in &dirs {
        *seen.entry(d.file_name().map(|n| n.to_os_string())).or_insert(0) += 1;
    }
    let mut rows = Vec::new();
    for d in &dirs {
        let base = d.file_name().map(|n| n.to_os_string());
        let name = match &base {
            Some(n) if seen[&base] == 1 => n.to_string_lossy().into_owned(),
            _ => d.display().to_string(),
        };
        match load_row(d, name) {
            Ok(row) => rows.push(row),
            Err(e) if !named.contains(d) => errln!("warning: {e:#}; {} left out of the report", d.display()),
            Err(e) => return Err(e),
        }
    }
    if rows.is_empty() {
        return Err(error::data("no readable run to report on"));
    }
    Ok(rows)
}

/// One run's summary (`None` while unfinished) and history.
fn load_row(dir: &Path, name: String) -> Result<table::RunRow> {
    let run = RunDir::open(dir)?;
    // Absent means unfinished; anything there (a FIFO, a device, a link to one) is read as what
    // it claims to be, and refused when it is not a regular file.
    let there = |name: &str| fs::symlink_metadata(run.file(name)).is_ok();
    let summary = if there(SUMMARY_FILE) { Some(run.summary()?) } else { None };
    // No history yet (stopped before the first epoch ended) is an empty curve, not an error.
    let history_path = run.file(HISTORY_FILE);
    let history = if there(HISTORY_FILE) { table::read_history_csv(&history_path)? } else { History::default() };
    Ok(table::RunRow { name, summary, history })
}
