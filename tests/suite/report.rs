//! `mnist-lab report` on fake run directories: no training, so it runs in a blink.

use std::path::Path;
use std::process::Output;

use formats::history::{EpochMetrics, History};
use formats::summary::Summary;

use crate::common::{assert_user_error, bin};

fn report(args: &[&str]) -> Output {
    bin().arg("report").args(args).output().expect("the binary runs")
}

/// A history of `n` epochs, validation accuracy rising to `top`.
fn history(n: usize, top: f64) -> History {
    let epochs = (1..=n)
        .map(|epoch| {
            let t = epoch as f64;
            // Through serde, so that fields added later (all `#[serde(default)]`) need no edit here.
            serde_json::from_value::<EpochMetrics>(serde_json::json!({
                "epoch": epoch, "train_loss": 0.5 / t, "train_accuracy": top - 0.1 / t,
                "val_loss": 0.6 / t, "val_accuracy": top - 0.2 / t, "learning_rate": 3.0, "seconds": 2.0,
            }))
            .unwrap()
        })
        .collect();
    History { epochs }
}

fn fake_run(dir: &Path, epochs: usize, accuracy: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let config = mnist_lab::presets::PRESETS.iter().find(|(n, _)| *n == "baseline").unwrap().1;
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let summary = Summary {
        preset: "baseline".into(),
        dataset: "mnist".into(),
        backend: "flex".into(),
        epochs_run: epochs,
        best_epoch: epochs,
        stopped_early: false,
        test_accuracy: accuracy,
        test_loss: 0.05,
        train_seconds: 2.0 * epochs as f64,
        seconds_per_epoch: 2.0,
    };
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(&summary).unwrap()).unwrap();
    std::fs::write(dir.join("history.csv"), history(epochs, accuracy).to_csv()).unwrap();
}

#[test]
fn report_of_a_parent_folder_writes_table_html_and_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("artifacts");
    fake_run(&runs.join("baseline-a"), 5, 0.9612);
    fake_run(&runs.join("dropout-b"), 3, 0.9734);
    let out = tmp.path().join("r.html");

    let o = report(&[runs.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "report failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("| run | preset |"), "{stdout}");
    // Sorted by path, accuracy as a percent with two decimals.
    assert!(lines[2].starts_with("| baseline-a |") && lines[2].contains("| 96.12 % |"), "{stdout}");
    assert!(lines[3].starts_with("| dropout-b |") && lines[3].contains("| 97.34 % |"), "{stdout}");

    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("<svg"), "SVG inlined");
    for name in ["baseline-a", "dropout-b"] {
        assert!(html.contains(name), "{name} in the page");
    }
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "self-contained");
    for f in ["r.svg", "r.png"] {
        assert!(tmp.path().join(f).is_file(), "{f} written");
    }

    // Markdown: the table and a link to the PNG beside it.
    let md = tmp.path().join("r.md");
    let o = report(&[runs.join("dropout-b").to_str().unwrap(), "--out", md.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("| dropout-b |") && text.contains("](r.png)"), "{text}");
}

#[test]
fn interrupted_run_is_listed_as_unfinished() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("cut");
    fake_run(&run, 2, 0.9);
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let o = report(&[run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("| cut |") && stdout.contains("unfinished"), "{stdout}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "no --out: nothing written");
}

#[test]
fn user_mistakes_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-run");
    let o = report(&[missing.to_str().unwrap()]);
    assert_user_error(&o, 2, "no-such-run");

    // A broken history.csv is a data error naming the file and line.
    let run = tmp.path().join("run");
    fake_run(&run, 2, 0.9);
    std::fs::write(
        run.join("history.csv"),
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds\n1,x,,,,,\n",
    )
    .unwrap();
    let o = report(&[run.to_str().unwrap()]);
    assert_user_error(&o, 3, "history.csv:2");

    let o = report(&[run.to_str().unwrap(), "--out", tmp.path().join("r.txt").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));

    // A sweep folder (its runs one level down) points to `sweep collect` and to its runs/.
    let sweep = tmp.path().join("sweep");
    fake_run(&sweep.join("runs").join("a"), 2, 0.9);
    std::fs::write(sweep.join("plan.json"), "{}").unwrap();
    let o = report(&[sweep.to_str().unwrap()]);
    assert_user_error(&o, 2, "sweep collect");
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("report {}", sweep.join("runs").display())));
}

/// A `<text>`'s x, y and content.
type SvgText = (f64, f64, String);

/// The `<svg>`'s width and height, and every `<text>`.
fn svg_texts(svg: &str) -> ((f64, f64), Vec<SvgText>) {
    let attr = |tag: &str, name: &str| -> f64 {
        let start = tag.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name} in {tag}")) + name.len() + 3;
        tag[start..].split('"').next().unwrap().trim_end_matches("px").parse().unwrap()
    };
    let head = &svg[svg.find("<svg").unwrap()..];
    let head = &head[..head.find('>').unwrap()];
    let texts = svg
        .split("<text")
        .skip(1)
        .map(|t| {
            let (tag, rest) = t.split_once('>').unwrap();
            (attr(tag, "x"), attr(tag, "y"), rest.split("</text>").next().unwrap().trim().to_string())
        })
        .collect();
    ((attr(head, "width"), attr(head, "height")), texts)
}

/// ~30 runs and more drew the legend down past the picture's bottom edge: it must hold every run,
/// on the picture, however many there are.
#[test]
fn report_of_many_runs_keeps_every_legend_entry_on_the_picture() {
    for n in [40, 200] {
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path().join("runs");
        let long = format!("lr-{}", "0".repeat(150));
        let mut names: Vec<String> = (0..n).map(|i| format!("run-{i:03}-seed-{}", i * 7)).collect();
        names[n / 2] = long.clone();
        for (i, name) in names.iter().enumerate() {
            fake_run(&runs.join(name), 3 + i % 5, 0.9 + i as f64 / 10_000.0);
        }
        let out = tmp.path().join("r.html");
        let o = report(&[runs.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{n} runs: {}", String::from_utf8_lossy(&o.stderr));
        let svg = std::fs::read_to_string(tmp.path().join("r.svg")).unwrap();
        let ((width, height), texts) = svg_texts(&svg);
        for (x, y, text) in &texts {
            assert!(
                (0.0..width).contains(x) && (0.0..height).contains(y),
                "{n} runs: {text:?} at ({x}, {y}), off {width}×{height}"
            );
        }
        for name in &names {
            // A name too long for its column is cut in the middle, with "…".
            let cut = |t: &str| t.split_once('…').is_some_and(|(a, b)| name.starts_with(a) && name.ends_with(b));
            let shown = texts.iter().any(|(_, _, t)| t == name || cut(t));
            assert!(shown, "{n} runs: {name:?} not in the legend: {texts:?}");
        }
        let png = image::open(tmp.path().join("r.png")).unwrap();
        assert_eq!((png.width() as f64, png.height() as f64), (width, height), "{n} runs: PNG and SVG sizes");
    }
}
