//! `mnist-lab report`: compare runs in a table and one overlay of their validation curves.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use crate::error;
use crate::files::write_atomic;
use crate::report::{page, plot, table};
use crate::run::{CONFIG_FILE, HISTORY_FILE, RunDir, SUMMARY_FILE, check_destination};
use crate::train::history::History;

/// Runs are given one by one (a directory with `config.toml`) or by a parent folder, whose
/// immediate subdirectories holding a `summary.json` are taken as runs. A run directory named
/// directly but without `summary.json` (training was interrupted) is still listed, with its
/// history, and marked "unfinished" in the table; a parent folder only yields finished runs.
/// The table goes to stdout as Markdown; files are written only with `--out` or `--plot`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run directories, or folders of run directories (e.g. `artifacts/`).
    #[arg(required = true, value_name = "RUN_DIR|PARENT_DIR")]
    pub paths: Vec<PathBuf>,
    /// Write the report: FILE.html (self-contained page) or FILE.md (table and a link to the
    /// PNG); the overlay plot goes next to it as <stem>.svg and <stem>.png unless --plot is given.
    #[arg(long, value_name = "FILE.html|FILE.md")]
    pub out: Option<PathBuf>,
    /// Write the overlay plot here (and a PNG beside it with the same stem).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

#[derive(Clone, Copy)]
enum Format {
    Html,
    Markdown,
}

pub fn run(args: ReportArgs) -> Result<()> {
    // Check the flags before reading anything, so a typo fails fast.
    let format = match &args.out {
        None => None,
        Some(out) => match page::extension(out).as_deref() {
            Some("html" | "htm") => Some(Format::Html),
            Some("md" | "markdown") => Some(Format::Markdown),
            _ => {
                return Err(error::config(format!("--out {}: expected a .html or .md file", out.display())));
            }
        },
    };
    if let Some(p) = &args.plot
        && page::extension(p).as_deref() != Some("svg")
    {
        return Err(error::config(format!("--plot {}: expected a .svg file", p.display())));
    }
    let svg = match (&args.plot, &args.out) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(out)) => Some(out.with_extension("svg")),
        (None, None) => None,
    };
    let png = svg.as_ref().map(|s| s.with_extension("png"));
    // Never into a run (its config, its curves…), never over a FIFO or device.
    for f in args.out.iter().chain(&svg).chain(&png) {
        check_destination(f, None)?;
    }

    let rows = load_rows(&args.paths)?;
    let markdown = table::markdown(&rows);
    out!("{markdown}");

    let (Some(svg), Some(png)) = (svg, png) else { return Ok(()) };
    // `--out reports/today.html` should not need a mkdir first.
    for f in args.out.iter().chain([&svg]) {
        if let Some(dir) = f.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| error::runtime(format!("cannot create {}: {e}", dir.display())))?;
        }
    }
    let runs: Vec<(String, History)> = rows.iter().map(|r| (r.name.clone(), r.history.clone())).collect();
    plot::overlay(&runs, "validation accuracy", &svg, &png)?;
    errln!("wrote {} and {}", svg.display(), png.display());

    let (Some(out), Some(format)) = (&args.out, format) else {
        return Ok(());
    };
    let text = match format {
        Format::Html => {
            let picture = fs::read_to_string(&svg)
                .map_err(|e| error::runtime(format!("cannot read back {}: {e}", svg.display())))?;
            page::html_page("mnist-lab report", &table::html(&rows), "Validation accuracy", &picture)
        }
        Format::Markdown => {
            format!("# Runs\n\n{markdown}\n![validation accuracy]({})\n", page::relative_to(&png, out))
        }
    };
    write_atomic(out, text.as_bytes())?;
    errln!("wrote {}", out.display());
    Ok(())
}

/// Expand the arguments into run directories, sorted by path, each read once. A run named
/// directly must be readable; one found in a parent folder that is not (a hand-edited or
/// corrupt file) is left out with a warning naming the file, rather than sinking the report.
fn load_rows(paths: &[PathBuf]) -> Result<Vec<table::RunRow>> {
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
    let summary = if run.file(SUMMARY_FILE).is_file() { Some(run.summary()?) } else { None };
    // No history yet (stopped before the first epoch ended) is an empty curve, not an error.
    let history_path = run.file(HISTORY_FILE);
    let history = if history_path.is_file() { table::read_history_csv(&history_path)? } else { History::default() };
    Ok(table::RunRow { name, summary, history })
}
