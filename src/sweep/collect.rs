//! Results of a sweep: per grid point, the mean and spread over seeds of the test accuracy, the
//! best epoch and the validation curve; runs that have not finished are listed, never dropped.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::error;
use formats::history::History;

use super::plan::{self, State};
use crate::files::write_atomic;
use crate::plot::{self, MeanCurve};
use crate::report::page;
use crate::report::table::{escape_html, markdown_cell};
use formats::plan::Plan;

/// One grid point and what its finished runs measured.
#[derive(Debug)]
pub struct Point {
    /// One cell per grid key.
    pub values: Vec<String>,
    pub label: String,
    pub planned: usize,
    /// Test accuracy (0..1) of each finished run.
    pub accuracy: Vec<f64>,
    pub best_epoch: Vec<f64>,
    pub histories: Vec<History>,
}

/// A run without results, and why.
#[derive(Debug)]
pub struct Missing {
    pub index: usize,
    pub id: String,
    pub label: String,
    pub seed: u64,
    pub state: State,
}

pub struct Results {
    pub keys: Vec<String>,
    pub points: Vec<Point>,
    pub missing: Vec<Missing>,
}

pub fn gather(dir: &Path, plan: &Plan) -> Result<Results> {
    let mut points: Vec<Point> = Vec::new();
    // Label → its point, so a plan of 10⁵ points is gathered in one pass.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut missing = Vec::new();
    for entry in &plan.runs {
        let label = plan.label(entry);
        let at = match index.get(&label) {
            Some(&i) => i,
            None => {
                index.insert(label.clone(), points.len());
                points.push(Point {
                    values: entry.point.iter().map(formats::plan::json_text).collect(),
                    label: label.clone(),
                    planned: 0,
                    accuracy: Vec::new(),
                    best_epoch: Vec::new(),
                    histories: Vec::new(),
                });
                points.len() - 1
            }
        };
        let point = &mut points[at];
        point.planned += 1;
        let state = match plan::state(dir, plan, entry) {
            // Read again here: what `state` read is not kept, and the files may have changed since.
            State::Finished => match plan::results(dir, entry) {
                Ok((summary, history)) => {
                    point.accuracy.push(summary.test_accuracy);
                    point.best_epoch.push(summary.best_epoch as f64);
                    point.histories.push(history);
                    continue;
                }
                Err(e) => State::Damaged(formats::plan::one_line(&format!("{e:#}"))),
            },
            state => state,
        };
        missing.push(Missing { index: entry.index, id: entry.id.clone(), label, seed: entry.seed, state });
    }
    Ok(Results { keys: plan.keys.clone(), points, missing })
}

/// The groups runs without results are listed in, in this order: heading, and what to know.
const GROUPS: [(Group, &str, &str); 5] = [
    (Group::Damaged, "Damaged results", "; `mnist-lab sweep run` trains them again"),
    (Group::Diverged, "Diverged", ""),
    (Group::Unfinished, "Unfinished", ""),
    (Group::NotStarted, "Not started", ""),
    (Group::Foreign, "Not this sweep's own", "; not averaged, never trained into: move them away to run them"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Damaged,
    Diverged,
    Unfinished,
    NotStarted,
    Foreign,
}

fn group(state: &State) -> Group {
    match state {
        State::Damaged(_) | State::Finished => Group::Damaged,
        State::Diverged(_) => Group::Diverged,
        State::Unfinished(_) => Group::Unfinished,
        State::NotStarted => Group::NotStarted,
        State::Foreign(_) => Group::Foreign,
    }
}

/// Mean and sample standard deviation (n − 1); no deviation from fewer than two values.
pub fn mean_std(xs: &[f64]) -> Option<(f64, Option<f64>)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.len() > 1).then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    Some((mean, std))
}

fn cell(xs: &[f64], scale: f64, digits: usize) -> String {
    match mean_std(xs) {
        None => "—".into(),
        Some((m, None)) => format!("{:.digits$}", m * scale),
        Some((m, Some(s))) => format!("{:.digits$} ± {:.digits$}", m * scale, s * scale),
    }
}

/// The runs without results a report lists by name, per group; the rest it counts.
const LISTED: usize = 100;

/// A run without results: which, and why.
fn line(m: &Missing) -> String {
    let why = match &m.state {
        State::NotStarted => "not started".to_string(),
        State::Unfinished(k) => format!("unfinished ({k} epochs checkpointed)"),
        State::Finished => "finished".to_string(),
        State::Damaged(why) => format!("damaged results: {why}"),
        State::Diverged(why) => format!("diverged: {why}"),
        State::Foreign(why) => format!("not this sweep's own: {why}"),
    };
    format!("run {} ({}, {}, seed {}): {why}", m.index, m.id, m.label, m.seed)
}

impl Results {
    fn header(&self) -> Vec<String> {
        let mut h = self.keys.clone();
        if h.is_empty() {
            h.push("grid point".into());
        }
        h.extend(["n".into(), "test accuracy (%)".into(), "best epoch".into()]);
        h
    }

    fn rows(&self) -> Vec<Vec<String>> {
        self.points
            .iter()
            .map(|p| {
                let mut row = if self.keys.is_empty() { vec![p.label.clone()] } else { p.values.clone() };
                let n = p.accuracy.len();
                row.push(if n == p.planned { n.to_string() } else { format!("{n} of {}", p.planned) });
                row.push(cell(&p.accuracy, 100.0, 2));
                row.push(cell(&p.best_epoch, 1.0, 1));
                row
            })
            .collect()
    }

    /// The runs without results by group: heading and lines, non-empty groups only.
    fn missing_groups(&self) -> Vec<(String, Vec<String>)> {
        GROUPS
            .iter()
            .filter_map(|(g, heading, note)| {
                let of_group: Vec<&Missing> = self.missing.iter().filter(|m| group(&m.state) == *g).collect();
                let n = of_group.len();
                // A plan of 10⁵ runs not started yet makes a report, not a list of them all.
                let mut lines: Vec<String> = of_group.iter().take(LISTED).map(|m| line(m)).collect();
                if n > LISTED {
                    lines.push(format!("… and {} more (`mnist-lab sweep run` lists each as it goes)", n - LISTED));
                }
                (n > 0).then(|| (format!("{heading} ({n} of {} runs{note}):", self.total()), lines))
            })
            .collect()
    }

    /// One `warning:` line per kind of run without results, for stderr.
    pub fn warnings(&self, dir: &Path) -> Vec<String> {
        let (total, dir) = (self.total(), dir.display());
        let count = |gs: &[Group]| self.missing.iter().filter(|m| gs.contains(&group(&m.state))).count();
        let mut out = Vec::new();
        let n = count(&[Group::Foreign]);
        if n > 0 {
            out.push(format!(
                "warning: {n} of {total} runs are not this sweep's own and were not averaged (listed above)"
            ));
        }
        let n = count(&[Group::Damaged]);
        if n > 0 {
            out.push(format!(
                "warning: {n} of {total} runs have damaged results (listed above); `mnist-lab sweep run {dir} --jobs 1` \
                 trains them again"
            ));
        }
        let n = count(&[Group::Diverged]);
        if n > 0 {
            out.push(format!("warning: {n} of {total} runs diverged (listed above)"));
        }
        let n = count(&[Group::Unfinished, Group::NotStarted]);
        if n > 0 {
            out.push(format!("warning: {n} of {total} runs have not finished (listed above)"));
        }
        out
    }

    /// The table (mean ± sample std over seeds, n = finished runs), then the runs without
    /// results, by group.
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| {
            // A line break or control character in a grid value would split or garble the row.
            let cell = |c: &String| markdown_cell(c);
            format!("| {} |\n", cells.iter().map(cell).collect::<Vec<_>>().join(" | "))
        };
        let header = self.header();
        let mut out = line(&header);
        let align: Vec<String> =
            (0..header.len()).map(|i| if i < header.len() - 3 { "---".into() } else { "---:".into() }).collect();
        out.push_str(&line(&align));
        for row in self.rows() {
            out.push_str(&line(&row));
        }
        for (heading, lines) in self.missing_groups() {
            out.push_str(&format!("\n{heading}\n\n"));
            for l in lines {
                out.push_str(&format!("- {}\n", markdown_cell(&l)));
            }
        }
        out
    }

    pub fn html(&self) -> String {
        let header = self.header();
        let numeric = header.len() - 3;
        let mut out = String::from("<table>\n<thead><tr>");
        for c in &header {
            out.push_str(&format!("<th>{}</th>", escape_html(c)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in self.rows() {
            out.push_str("<tr>");
            for (i, c) in row.iter().enumerate() {
                let class = if i >= numeric { " class=\"num\"" } else { "" };
                out.push_str(&format!("<td{class}>{}</td>", escape_html(c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        for (heading, lines) in self.missing_groups() {
            out.push_str(&format!("<p>{}</p>\n<ul>\n", escape_html(&heading)));
            for l in lines {
                out.push_str(&format!("<li>{}</li>\n", escape_html(&l)));
            }
            out.push_str("</ul>\n");
        }
        out
    }

    pub fn total(&self) -> usize {
        self.points.iter().map(|p| p.planned).sum()
    }

    /// Per grid point: its label and, per epoch, the mean and sample std of the validation
    /// accuracy over the runs that reached that epoch (train accuracy when there is no
    /// validation split, said in the label).
    pub fn curves(&self) -> Vec<MeanCurve> {
        self.points
            .iter()
            .filter(|p| !p.histories.is_empty())
            .map(|p| {
                let validation = p.histories.iter().any(|h| h.epochs.iter().any(|e| e.val_accuracy.is_some()));
                let epochs = p.histories.iter().map(|h| h.epochs.len()).max().unwrap_or(0);
                let points = (1..=epochs)
                    .filter_map(|epoch| {
                        let xs: Vec<f64> = p
                            .histories
                            .iter()
                            // A history read back holds epoch k at k − 1 (its reader checks so).
                            .filter_map(|h| h.epochs.get(epoch - 1).filter(|e| e.epoch == epoch))
                            .filter_map(|e| if validation { e.val_accuracy } else { Some(e.train_accuracy) })
                            .filter(|v| v.is_finite())
                            .collect();
                        mean_std(&xs).map(|(m, s)| (epoch as f64, m, s.unwrap_or(0.0)))
                    })
                    .collect();
                let n = p.histories.len();
                let what = if validation { "" } else { ", train" };
                (format!("{} (n={n}{what})", p.label), points)
            })
            .collect()
    }
}

impl Results {
    /// The report page at `out` (HTML, self-contained, or Markdown) with the curves beside it as
    /// <stem>.svg and <stem>.png, which are returned.
    pub fn write_report(&self, dir: &Path, out: &Path, is_html: bool) -> Result<(PathBuf, PathBuf)> {
        if let Some(parent) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| error::runtime(format!("cannot create {}: {e}", parent.display())))?;
        }
        let (svg, png) = (out.with_extension("svg"), out.with_extension("png"));
        let caption = "validation accuracy: mean ± std over seeds";
        plot::bands(&self.curves(), caption, "validation accuracy", &svg, &png)?;
        let title = format!("mnist-lab sweep {}", dir.display());
        let text = if is_html {
            let picture = fs::read_to_string(&svg)
                .map_err(|e| error::runtime(format!("cannot read back {}: {e}", svg.display())))?;
            page::html_page(&escape_html(&title), &self.html(), "Validation accuracy, mean ± std over seeds", &picture)
        } else {
            format!("# {title}\n\n{}\n![{caption}]({})\n", self.markdown(), page::relative_to(&png, out))
        };
        write_atomic(out, text.as_bytes())?;
        Ok((svg, png))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[0.5]), Some((0.5, None)));
        let (m, s) = mean_std(&[0.80, 0.90]).unwrap();
        assert!((m - 0.85).abs() < 1e-12);
        // Sample std of two values: |a − b| / √2.
        assert!((s.unwrap() - 0.1 / 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(cell(&[0.80, 0.90], 100.0, 2), "85.00 ± 7.07");
        assert_eq!(cell(&[3.0], 1.0, 1), "3.0");
        assert_eq!(cell(&[], 1.0, 1), "—");
    }
}
