//! The handout: `lecture.html` (one self-contained file: styles and pictures inline, prints on
//! A4) and `lecture.md` (pictures beside it in `figures/`), every claim with its experiment,
//! figure, criterion and verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::Result;
use formats::error;
use serde::Deserialize;

use super::sweeps::label;
use super::{Claim, Figure, Metric, Results, RunResult, Section, SweepFigure, Verdict, XAxis};
use crate::files::{check_inside, create_dir_inside, write_inside};
use crate::plot::{self, MeanCurve};
use crate::report::table::{escape_html, markdown_cell};
use crate::sweep::collect::mean_std;

pub const HTML: &str = "lecture.html";
pub const MARKDOWN: &str = "lecture.md";
pub const FIGURES: &str = "figures";

/// The seeds whose numbers a claim lists one by one; the verdict weighs them all.
const LISTED: usize = 20;

/// The lecture's own figures, by experiment.
const LECTURE: [(&str, f64); 1] = [("baseline", super::baseline::LECTURE_BASELINE)];

#[derive(Deserialize)]
struct Twin {
    mean: f64,
    std: f64,
}

/// The Keras twin's test accuracy (in %) per preset, kept as data in the repository.
fn keras_twins() -> BTreeMap<String, Twin> {
    toml::from_str(include_str!("../../assets/keras-twin.toml")).expect("assets/keras-twin.toml is valid")
}

/// One claim's verdict, for the table at the top (and the README's).
pub struct Judged {
    pub section: usize,
    pub name: &'static str,
    pub verdict: Verdict,
}

/// Write the handout into `out` (created if needed) from `results`; returns every verdict.
pub fn write(out: &Path, sections: &[Section], results: &Results) -> Result<Vec<Judged>> {
    let figures = out.join(FIGURES);
    create_dir_inside(out, &figures)?;
    let twins = keras_twins();
    let mut judged = Vec::new();
    let (mut html, mut md) = (String::new(), String::new());
    for section in sections {
        let _ = writeln!(html, "<section>\n<h2>{}. {}</h2>", section.number, escape_html(section.title));
        let _ = writeln!(md, "## {}. {}\n", section.number, section.title);
        for (i, claim) in section.claims.iter().enumerate() {
            let verdict = Verdict::of(claim, results);
            let stem = format!("s{}-c{}", section.number, i + 1);
            let mut pictures = Vec::new();
            for (k, figure) in claim.figures.iter().enumerate() {
                let curves = curves(figure, results);
                if curves.iter().all(|c| c.1.is_empty()) {
                    continue;
                }
                let (svg, png) =
                    (figures.join(format!("{stem}-{}.svg", k + 1)), figures.join(format!("{stem}-{}.png", k + 1)));
                check_inside(out, &svg)?;
                check_inside(out, &png)?;
                let x = match figure.x {
                    XAxis::Epoch => "epoch",
                    XAxis::Seconds => "training time (s)",
                    XAxis::Updates => "weight updates",
                };
                let best = figure.best_of.and_then(|e| best_epoch(results, e)).filter(|_| figure.x == XAxis::Epoch);
                plot::bands_against(&curves, figure.title, (x, figure.y), best, &svg, &png)?;
                let text = fs::read_to_string(&svg)
                    .map_err(|e| error::runtime(format!("cannot read back {}: {e}", svg.display())))?;
                pictures.push((figure.title, text, format!("{FIGURES}/{stem}-{}.png", k + 1)));
            }
            for (k, figure) in claim.sweeps.iter().enumerate() {
                let curves = sweep_curves(figure, results);
                if curves.iter().all(|c| c.1.is_empty()) {
                    continue;
                }
                let name = format!("{stem}-sweep-{}", k + 1);
                let (svg, png) = (figures.join(format!("{name}.svg")), figures.join(format!("{name}.png")));
                check_inside(out, &svg)?;
                check_inside(out, &png)?;
                let x = format!("{} (log10)", figure.x);
                plot::bands_against(&curves, figure.title, (&x, figure.y), None, &svg, &png)?;
                let text = fs::read_to_string(&svg)
                    .map_err(|e| error::runtime(format!("cannot read back {}: {e}", svg.display())))?;
                pictures.push((figure.title, text, format!("{FIGURES}/{name}.png")));
            }
            let accuracy = accuracy_lines(claim, results, &twins);
            html_claim(&mut html, claim, &verdict, &pictures, &accuracy);
            md_claim(&mut md, claim, &verdict, &pictures, &accuracy);
            judged.push(Judged { section: section.number, name: claim.name, verdict });
        }
        html.push_str("</section>\n");
    }
    let intro = intro(results);
    let table_md = verdict_table(&judged);
    let page = html_page(&intro, &verdict_table_html(&judged), &html);
    write_inside(out, &out.join(HTML), page.as_bytes())?;
    let text = format!("# The lecture, verified\n\n{intro}\n\n{table_md}\n{md}");
    write_inside(out, &out.join(MARKDOWN), text.as_bytes())?;
    Ok(judged)
}

fn intro(results: &Results) -> String {
    let seeds: Vec<String> = results.seeds.iter().map(u64::to_string).collect();
    let mut s = format!(
        "Every claim of the lecture on improving neural networks, tested on MNIST by mnist-lab: {} runs over seeds {}.",
        results.runs.len(),
        seeds.join(", ")
    );
    if results.missing > 0 {
        let _ = write!(s, " {} planned runs have no results yet; the claims that need them say so.", results.missing);
    }
    for (experiment, seed, why) in &results.damaged {
        // Words from the folder's files: one line, and no HTML for the Markdown page to render.
        let what = markdown_cell(&format!("{experiment} at seed {seed} is damaged and left out ({why})"));
        let _ = write!(s, " The run of {what}.");
    }
    s.push_str(
        " Each claim is decided on one difference, computed seed by seed from runs that share their seed (their \
         shuffles and initial weights): it holds when the 95 % interval of the mean difference over the seeds \
         (Student's t) lies above zero, fails when it lies below, and is not decided while it straddles zero; one \
         seed measures no spread and decides nothing.",
    );
    s
}

/// The Markdown verdict table: claim → verdict, with the first judged seed's numbers.
pub fn verdict_table(judged: &[Judged]) -> String {
    let mut t = String::from(
        "| § | claim | verdict | difference decided on | the numbers (first seed) |\n|---|---|---|---|---|\n",
    );
    for j in judged {
        let numbers = j.verdict.seeds.first().map(|(s, c)| format!("seed {s}: {}", c.numbers)).unwrap_or_default();
        let difference = j.verdict.difference();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            j.section,
            j.name,
            j.verdict.status(),
            difference.replace('|', "/"),
            numbers.replace('|', "/")
        );
    }
    t
}

fn verdict_table_html(judged: &[Judged]) -> String {
    let mut t = String::from("<table>\n<tr><th>§</th><th>claim</th><th>verdict</th></tr>\n");
    for j in judged {
        let class = j.verdict.class();
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            j.section,
            escape_html(j.name),
            escape_html(&j.verdict.status())
        );
    }
    t.push_str("</table>\n");
    t
}

/// Test accuracy of each experiment of the claim, with its Keras twin's and the lecture's.
fn accuracy_lines(claim: &Claim, results: &Results, twins: &BTreeMap<String, Twin>) -> Vec<String> {
    let mut lines = Vec::new();
    for &name in claim.runs {
        let acc: Vec<f64> = results.of(name).iter().map(|r| r.summary.test_accuracy).collect();
        let Some((mean, std)) = mean_std(&acc) else { continue };
        let mut line = format!("{name}: mnist-lab {:.2}", mean * 100.0);
        if let Some(s) = std {
            let _ = write!(line, " ± {:.2}", s * 100.0);
        }
        let _ = write!(line, " % (n = {})", acc.len());
        if let Some(t) = twins.get(name) {
            let _ = write!(line, " · Keras twin {:.2} ± {:.2} %", t.mean, t.std);
        }
        if let Some((_, l)) = LECTURE.iter().find(|(n, _)| *n == name) {
            let _ = write!(line, " · the lecture ≈ {:.1} %", l * 100.0);
        }
        lines.push(line);
    }
    lines
}

/// `text` with `code` spans, HTML-escaped.
fn inline(text: &str) -> String {
    escape_html(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { format!("<code>{part}</code>") } else { part.to_string() })
        .collect()
}

type Picture<'a> = (&'a str, String, String);

fn html_claim(html: &mut String, claim: &Claim, verdict: &Verdict, pictures: &[Picture], accuracy: &[String]) {
    let class = verdict.class();
    let _ = writeln!(html, "<article>\n<h3>{}</h3>", escape_html(claim.name));
    let _ = writeln!(html, "<p class=\"claim\"><b>The lecture:</b> {}</p>", inline(claim.claim));
    let _ = writeln!(html, "<p><b>The experiment:</b> {}</p>", inline(claim.experiment));
    for (title, svg, _) in pictures {
        let _ = writeln!(html, "<figure>{}<figcaption>{}</figcaption></figure>", svg_body(svg), escape_html(title));
    }
    if pictures.is_empty() {
        html.push_str("<p><i>No finished runs to draw yet.</i></p>\n");
    }
    let _ = writeln!(html, "<p><b>Criterion:</b> {}.</p>", inline(claim.criterion));
    let _ = writeln!(html, "<p><b>Decided on:</b> {}.</p>", inline(claim.decided_on));
    let _ = writeln!(
        html,
        "<p class=\"verdict {class}\"><b>Verdict:</b> {}{}</p>",
        escape_html(&verdict.status()),
        difference_text(verdict).map(|d| format!(": {}", escape_html(&d))).unwrap_or_default()
    );
    if !verdict.seeds.is_empty() {
        html.push_str("<ul class=\"seeds\">\n");
        for (seed, check) in verdict.seeds.iter().take(LISTED) {
            let _ = writeln!(html, "<li>{}</li>", escape_html(&seed_line(*seed, check, verdict.unit)));
        }
        if let Some(more) = verdict.seeds.len().checked_sub(LISTED).filter(|&n| n > 0) {
            let _ = writeln!(html, "<li>… and {more} more seeds, in the verdict above</li>");
        }
        html.push_str("</ul>\n");
    }
    if !accuracy.is_empty() {
        let items: String = accuracy.iter().map(|a| format!("<li>{}</li>", escape_html(a))).collect();
        let _ = writeln!(html, "<p><b>Test accuracy:</b></p><ul class=\"acc\">{items}</ul>");
    }
    let _ = writeln!(html, "<p><b>Turn the knob:</b> <code>{}</code></p>", escape_html(claim.rerun));
    html.push_str("</article>\n");
}

fn md_claim(md: &mut String, claim: &Claim, verdict: &Verdict, pictures: &[Picture], accuracy: &[String]) {
    let _ = writeln!(md, "### {}\n", claim.name);
    let _ = writeln!(md, "**The lecture:** {}\n", claim.claim);
    let _ = writeln!(md, "**The experiment:** {}\n", claim.experiment);
    for (title, _, png) in pictures {
        let _ = writeln!(md, "![{title}]({png})\n");
    }
    let _ = writeln!(md, "**Criterion:** {}.\n", claim.criterion);
    let _ = writeln!(md, "**Decided on:** {}.\n", claim.decided_on);
    let difference = difference_text(verdict).map(|d| format!(": {d}")).unwrap_or_default();
    let _ = writeln!(md, "**Verdict:** {}{difference}\n", verdict.status());
    for (seed, check) in verdict.seeds.iter().take(LISTED) {
        let _ = writeln!(md, "- {}", seed_line(*seed, check, verdict.unit));
    }
    if let Some(more) = verdict.seeds.len().checked_sub(LISTED).filter(|&n| n > 0) {
        let _ = writeln!(md, "- … and {more} more seeds, in the verdict above");
    }
    if !accuracy.is_empty() {
        let _ = writeln!(md, "\n**Test accuracy:**\n");
        for a in accuracy {
            let _ = writeln!(md, "- {a}");
        }
    }
    let _ = writeln!(md, "\n**Turn the knob:** `{}`", claim.rerun);
    md.push('\n');
}

/// The verdict's difference, where some seed was judged.
fn difference_text(verdict: &Verdict) -> Option<String> {
    (!verdict.seeds.is_empty()).then(|| verdict.difference())
}

/// One seed's difference and the numbers behind it.
fn seed_line(seed: u64, check: &super::Check, unit: &str) -> String {
    let sign = if check.difference > 0.0 { "+" } else { "" };
    format!("seed {seed}: {sign}{:.3} {unit}: {}", check.difference, check.numbers)
}

/// A sweep figure's series: each sweep's final metric over the seeds against log10 of the value;
/// a value of 0 becomes a level line across the others.
fn sweep_curves(figure: &SweepFigure, results: &Results) -> Vec<MeanCurve> {
    let mut out = Vec::new();
    let xs: Vec<f64> =
        figure.series.iter().flat_map(|(_, s)| s.values.iter().filter(|v| **v > 0.0).map(|v| v.log10())).collect();
    let (lo, hi) =
        (xs.iter().copied().fold(f64::INFINITY, f64::min), xs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    for (series, sweep) in &figure.series {
        let mut line = Vec::new();
        let mut zero = None;
        for (v, name) in sweep.points() {
            let values: Vec<f64> = results.of(&name).iter().filter_map(|r| figure.metric.of(r)).collect();
            let Some((mean, sd)) = mean_std(&values) else { continue };
            if v > 0.0 {
                line.push((v.log10(), mean, sd.unwrap_or(0.0)));
            } else {
                zero = Some((mean, sd.unwrap_or(0.0)));
            }
        }
        if let Some((mean, sd)) = zero.filter(|_| lo.is_finite()) {
            let name = match figure.series.len() {
                1 => format!("{} = {}", figure.x, label(0.0)),
                _ => format!("{series}, {} = {}", figure.x, label(0.0)),
            };
            out.push((name, vec![(lo, mean, sd), (hi, mean, sd)]));
        }
        out.push((series.to_string(), line));
    }
    out
}

/// The SVG without its XML prolog (not allowed inside an HTML document).
fn svg_body(svg: &str) -> &str {
    let svg = svg.trim_start();
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(rest, |(_, body)| body).trim_start(),
        None => svg,
    }
}

fn html_page(intro: &str, table: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>The lecture, verified</title>\n\
<style>\n@page {{ size: A4; margin: 15mm; }}\n\
body {{ font-family: sans-serif; margin: 2em auto; max-width: 60em; line-height: 1.4; }}\n\
table {{ border-collapse: collapse; }}\nth, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }}\n\
svg {{ max-width: 100%; height: auto; }}\nfigure {{ margin: 1em 0; break-inside: avoid; }}\n\
figcaption {{ color: #555; font-size: 0.9em; }}\narticle {{ border-top: 1px solid #ddd; margin-top: 1.5em; }}\n\
.claim {{ font-style: italic; }}\n.holds {{ color: #1a7f37; }}\n.fails {{ color: #b3261e; }}\n.open {{ color: #777; }}\n\
@media print {{ body {{ margin: 0; max-width: none; }} section {{ break-before: page; }} article {{ break-inside: avoid-page; }} }}\n\
</style>\n</head>\n<body>\n<h1>The lecture, verified</h1>\n<p>{}</p>\n{table}{body}</body>\n</html>\n",
        escape_html(intro)
    )
}

/// The mean best epoch of `experiment`'s runs, rounded to an epoch.
fn best_epoch(results: &Results, experiment: &str) -> Option<f64> {
    let best: Vec<f64> = results.of(experiment).iter().map(|r| r.summary.best_epoch as f64).collect();
    mean_std(&best).map(|(m, _)| m.round())
}

/// A figure's series, each a mean curve over the seeds' runs of its experiment.
fn curves(figure: &Figure, results: &Results) -> Vec<MeanCurve> {
    figure
        .series
        .iter()
        .map(|s| {
            let runs: Vec<Vec<(f64, f64)>> =
                results.of(s.experiment).iter().map(|r| points(r, figure.x, s.metric)).collect();
            let label = format!("{} (n = {})", s.label, runs.len());
            (label, mean_curve(&runs))
        })
        .collect()
}

/// One run's (x, y) per epoch; epochs without the metric are left out.
fn points(r: &RunResult, x: XAxis, metric: Metric) -> Vec<(f64, f64)> {
    let per_epoch = r.train_images().div_ceil(r.config.train.batch_size.max(1)) as f64;
    let mut seconds = 0.0;
    let mut out = Vec::new();
    for e in &r.history.epochs {
        seconds += e.seconds;
        let x = match x {
            XAxis::Epoch => e.epoch as f64,
            XAxis::Seconds => seconds,
            XAxis::Updates => e.epoch as f64 * per_epoch,
        };
        let y = match metric {
            Metric::TrainAccuracy => Some(e.train_accuracy),
            Metric::ValAccuracy => e.val_accuracy,
            Metric::TrainLoss => Some(e.train_loss),
            Metric::ValLoss => e.val_loss,
            Metric::LogGradient(i) => e.grad_mean_abs.get(i).filter(|g| **g > 0.0).map(|g| g.log10()),
        };
        if let Some(y) = y.filter(|y| y.is_finite()) {
            out.push((x, y));
        }
    }
    out
}

/// Point by point over the runs (the k-th point of each): mean x, mean y and the spread of y.
fn mean_curve(runs: &[Vec<(f64, f64)>]) -> Vec<(f64, f64, f64)> {
    let longest = runs.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .filter_map(|k| {
            let at: Vec<(f64, f64)> = runs.iter().filter_map(|r| r.get(k).copied()).collect();
            let xs: Vec<f64> = at.iter().map(|p| p.0).collect();
            let ys: Vec<f64> = at.iter().map(|p| p.1).collect();
            let (x, _) = mean_std(&xs)?;
            let (y, std) = mean_std(&ys)?;
            Some((x, y, std.unwrap_or(0.0)))
        })
        .collect()
}
