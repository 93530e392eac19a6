//! `mnist-lab report`: compare runs in a table and one overlay of their validation curves.

use std::fs;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use formats::error;
use formats::history::History;

use crate::files::write_atomic;
use crate::plot;
use crate::report::{self, page, table};
use crate::run::check_destination;

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
    // The pictures mnist-lab names beside a file you named are never written through a link.
    for f in png.iter().chain(svg.iter().filter(|_| args.plot.is_none())) {
        crate::files::not_a_link(f)?;
    }

    let rows = report::load_rows(&args.paths)?;
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
