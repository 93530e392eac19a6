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

use super::{Claim, Figure, Metric, Results, RunResult, Section, Verdict, XAxis};
use crate::files::write_atomic;
use crate::plot::{self, MeanCurve};
use crate::report::table::escape_html;
use crate::sweep::collect::mean_std;

pub const HTML: &str = "lecture.html";
pub const MARKDOWN: &str = "lecture.md";
pub const FIGURES: &str = "figures";

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
    fs::create_dir_all(&figures).map_err(|e| error::runtime(format!("cannot create {}: {e}", figures.display())))?;
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
    write_atomic(&out.join(HTML), page.as_bytes())?;
    let text = format!("# The lecture, verified\n\n{intro}\n\n{table_md}\n{md}");
    write_atomic(&out.join(MARKDOWN), text.as_bytes())?;
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
    s
}

/// The Markdown verdict table: claim → verdict, with the first judged seed's numbers.
pub fn verdict_table(judged: &[Judged]) -> String {
    let mut t = String::from("| § | claim | verdict | the numbers (first seed) |\n|---|---|---|---|\n");
    for j in judged {
        let numbers = j.verdict.seeds.first().map(|(s, c)| format!("seed {s}: {}", c.numbers)).unwrap_or_default();
        let _ = writeln!(t, "| {} | {} | {} | {} |", j.section, j.name, j.verdict.status(), numbers.replace('|', "/"));
    }
    t
}

fn verdict_table_html(judged: &[Judged]) -> String {
    let mut t = String::from("<table>\n<tr><th>§</th><th>claim</th><th>verdict</th></tr>\n");
    for j in judged {
        let class = if j.verdict.holds() {
            "holds"
        } else if j.verdict.judged == 0 {
            "open"
        } else {
            "fails"
        };
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
    let class = if verdict.holds() {
        "holds"
    } else if verdict.judged == 0 {
        "open"
    } else {
        "fails"
    };
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
    let _ = writeln!(html, "<p class=\"verdict {class}\"><b>Verdict:</b> {}</p>", escape_html(&verdict.status()));
    if !verdict.seeds.is_empty() {
        html.push_str("<ul class=\"seeds\">\n");
        for (seed, check) in &verdict.seeds {
            let mark = if check.holds { "holds" } else { "does not hold" };
            let _ = writeln!(html, "<li>seed {seed}: {mark}: {}</li>", escape_html(&check.numbers));
        }
        html.push_str("</ul>\n");
    }
    if !accuracy.is_empty() {
        let items: String = accuracy.iter().map(|a| format!("<li>{}</li>", escape_html(a))).collect();
        let _ = writeln!(html, "<p><b>Test accuracy:</b></p><ul class=\"acc\">{items}</ul>");
    }
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
    let _ = writeln!(md, "**Verdict:** {}\n", verdict.status());
    for (seed, check) in &verdict.seeds {
        let mark = if check.holds { "holds" } else { "does not hold" };
        let _ = writeln!(md, "- seed {seed}: {mark}: {}", check.numbers);
    }
    if !accuracy.is_empty() {
        let _ = writeln!(md, "\n**Test accuracy:**\n");
        for a in accuracy {
            let _ = writeln!(md, "- {a}");
        }
    }
    md.push('\n');
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
