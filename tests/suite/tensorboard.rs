//! Event files written by `EventWriter`, read back by TensorBoard itself
//! (tests/tensorboard_reader.py): by its `EventAccumulator`, and through the HTTP routes its web
//! UI draws from.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use crate::common::{py, python_with, stderr};
use mnist_lab::train::tensorboard::event_file::{EventWriter, HISTOGRAM_BUCKETS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Scalars as (tag, step, value), in the order a training loop writes them (step by step).
fn scalars() -> Vec<(&'static str, i64, f64)> {
    let odd = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.1,                          // not an f32: stored rounded
        1e300,                        // beyond f32: +inf
        -1e-300,                      // below f32's smallest: -0.0
        f64::from(f32::MAX),          // largest finite f32
        f64::from(f32::from_bits(1)), // smallest subnormal f32
    ];
    let last = odd.len() - 1;
    let mut all = Vec::new();
    for (i, odd) in odd.into_iter().enumerate() {
        // Steps from 0, the last far beyond i32.
        let step = if i == last { 1 << 40 } else { i as i64 };
        all.push(("epoch_loss", step, 2.0 / (1.0 + i as f64)));
        all.push(("epoch_accuracy", step, 0.9 + i as f64 / 100.0));
        all.push(("odd/values", step, odd));
        all.push(("Lernrate η", step, 0.1 * 0.5f64.powi(i as i32)));
    }
    all
}

/// Histograms as (tag, values), written at steps 1 and 2 (the second scaled by 2).
fn histograms() -> Vec<(&'static str, Vec<f32>)> {
    let mut rng = StdRng::seed_from_u64(7);
    // Box–Muller: standard normal samples.
    let normal: Vec<f32> = (0..10_000)
        .map(|_| {
            let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect();
    vec![
        ("dense1/weights", normal),
        ("dense1/bias", vec![0.5; 30]),
        ("empty", vec![]),
        ("non_finite", vec![f32::NAN, 1.0, f32::INFINITY, -3.0, f32::NEG_INFINITY, 2.5]),
        ("only_nan", vec![f32::NAN; 4]),
        ("whole_range", vec![-f32::MAX, f32::MAX, 0.0, -0.0, 1e-30]),
    ]
}

fn png(image: image::DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageOutputFormat::Png).unwrap();
    bytes
}

/// Images as (tag, step, PNG, width, height): RGB, grey, RGBA.
fn images() -> Vec<(&'static str, i64, Vec<u8>, u32, u32)> {
    let rgb = image::RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 36, y as u8 * 60, 200]));
    let grey = image::GrayImage::from_fn(3, 11, |x, y| image::Luma([(x * 11 + y) as u8 * 7]));
    let rgba = image::RgbaImage::from_fn(1, 1, |_, _| image::Rgba([1, 2, 3, 4]));
    vec![
        ("confusion_matrix", 1, png(rgb.clone().into()), 7, 5),
        ("confusion_matrix", 2, png(image::DynamicImage::from(rgb).fliph()), 7, 5),
        ("grey", 1, png(grey.into()), 3, 11),
        ("rgba", 3, png(rgba.into()), 1, 1),
    ]
}

/// Two runs, as a training loop would lay them out: `train` gets everything, `validation` a
/// loss curve under the same tag (TensorBoard overlays the two).
fn write_logs(logdir: &Path) {
    let mut train = EventWriter::create(&logdir.join("train")).unwrap();
    let mut validation = EventWriter::create(&logdir.join("validation")).unwrap();
    for (tag, step, value) in scalars() {
        train.scalar(tag, step, value).unwrap();
    }
    for step in 1..=3 {
        validation.scalar("epoch_loss", step, 1.0 / step as f64).unwrap();
    }
    validation.flush().unwrap();
    for step in 1..=2 {
        for (tag, values) in histograms() {
            let values: Vec<f32> = values.iter().map(|v| v * step as f32).collect();
            train.histogram(tag, step, &values).unwrap();
        }
    }
    for (tag, step, png, width, height) in images() {
        train.image(tag, step, &png, width, height).unwrap();
    }
    train.flush().unwrap();
}

fn read_logs(logdir: &Path) -> Value {
    let o = python_with(&py::TENSORBOARD).arg("tests/tensorboard_reader.py").arg(logdir).output().unwrap();
    assert!(o.status.success(), "tensorboard_reader.py failed:\n{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn f32_of(v: &Value) -> f32 {
    f32::from_bits(v.as_u64().unwrap() as u32)
}

fn f64_of(v: &Value) -> f64 {
    f64::from_bits(v.as_u64().unwrap())
}

fn same_f32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Finite values of a histogram's input, as f64.
fn finite(values: &[f32]) -> Vec<f64> {
    values.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v)).collect()
}

#[test]
fn tensorboard_reads_back_every_scalar_histogram_and_image() {
    let tmp = tempfile::tempdir().unwrap();
    write_logs(tmp.path());
    let seen = read_logs(tmp.path());
    let train = &seen["runs"]["train"];
    let ui = &seen["ui"];
    assert_eq!(train["file_version"], 2.0, "{}", train["file_version"]);

    // Scalars: every (tag, step) once, the value exactly as f32, in both views.
    let expected: BTreeMap<(String, i64), f32> =
        scalars().into_iter().map(|(t, s, v)| ((t.to_string(), s), v as f32)).collect();
    assert_eq!(expected.len(), scalars().len());
    for (view, rows) in [("EventAccumulator", &train["scalars"]), ("UI", &ui["scalars"])] {
        let rows: Vec<&Value> =
            rows.as_array().unwrap().iter().filter(|r| r.get("run").is_none_or(|run| run == "train")).collect();
        assert_eq!(rows.len(), expected.len(), "{view}: {rows:?}");
        for row in rows {
            let key = (row["tag"].as_str().unwrap().to_string(), row["step"].as_i64().unwrap());
            let want = expected.get(&key).unwrap_or_else(|| panic!("{view}: unexpected {key:?}"));
            let got = f32_of(&row["bits"]);
            assert!(
                same_f32(got, *want),
                "{view} {key:?}: {got:e} ({:#x}) ≠ {want:e} ({:#x})",
                got.to_bits(),
                want.to_bits()
            );
        }
    }
    // The odd values really are odd once stored.
    let odd: Vec<f32> = scalars().iter().filter(|s| s.0 == "odd/values").map(|s| s.2 as f32).collect();
    assert!(odd[0].is_nan() && odd[5] == f32::INFINITY && odd[6].to_bits() == (-0.0f32).to_bits());

    // The validation run: same tag, its own values; the UI lists both runs.
    let validation = &seen["runs"]["validation"]["scalars"];
    let steps: Vec<(i64, f32)> =
        validation.as_array().unwrap().iter().map(|r| (r["step"].as_i64().unwrap(), f32_of(&r["bits"]))).collect();
    assert_eq!(steps, vec![(1, 1.0), (2, 0.5), (3, 1.0 / 3.0)]);
    let ui_runs: Vec<&str> = ui["scalars"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tag"] == "epoch_loss")
        .map(|r| r["run"].as_str().unwrap())
        .collect();
    assert_eq!(ui_runs.iter().filter(|&&r| r == "validation").count(), 3);

    for plugin in ["scalars", "histograms", "images"] {
        assert!(ui["enabled"].as_array().unwrap().iter().any(|p| p == plugin), "{plugin}: {}", ui["enabled"]);
    }

    // Histograms.
    let histos = train["histograms"].as_array().unwrap();
    let ui_histos = ui["histograms"].as_array().unwrap();
    assert_eq!(histos.len(), 2 * histograms().len());
    assert_eq!(ui_histos.len(), histos.len());
    for step in 1..=2 {
        for (tag, values) in histograms() {
            let values: Vec<f32> = values.iter().map(|v| v * step as f32).collect();
            let finite = finite(&values);
            let find = |rows: &[Value]| {
                rows.iter()
                    .find(|r| r["tag"] == tag && r["step"] == step)
                    .cloned()
                    .unwrap_or_else(|| panic!("{tag} {step}"))
            };
            let h = find(histos);
            let (min, max, num) = (f64_of(&h["min"]), f64_of(&h["max"]), f64_of(&h["num"]));
            let limits: Vec<f64> = h["bucket_limit"].as_array().unwrap().iter().map(f64_of).collect();
            let counts: Vec<f64> = h["bucket"].as_array().unwrap().iter().map(f64_of).collect();
            assert_eq!(num, finite.len() as f64, "{tag} {step}: num");
            assert_eq!(counts.len(), limits.len(), "{tag} {step}");
            assert_eq!(counts.iter().sum::<f64>(), num, "{tag} {step}: counts");
            let ui_buckets: Vec<Vec<f64>> = find(ui_histos)["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_array().unwrap().iter().map(f64_of).collect())
                .collect();
            if finite.is_empty() {
                assert!(limits.is_empty() && ui_buckets.is_empty(), "{tag} {step}: {h} {ui_buckets:?}");
                continue;
            }
            let true_min = finite.iter().copied().fold(f64::INFINITY, f64::min);
            let true_max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!((min, max), (true_min, true_max), "{tag} {step}: min, max");
            let sum: f64 = finite.iter().sum();
            let sum_squares: f64 = finite.iter().map(|v| v * v).sum();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0);
            assert!(close(f64_of(&h["sum"]), sum), "{tag} {step}: sum");
            assert!(close(f64_of(&h["sum_squares"]), sum_squares), "{tag} {step}: sum of squares");
            assert!(limits.len() == 1 || limits.len() == HISTOGRAM_BUCKETS, "{tag} {step}: {} buckets", limits.len());
            assert_eq!(*limits.last().unwrap(), max, "{tag} {step}: last edge");
            assert!(limits.iter().all(|l| l.is_finite()) && limits.windows(2).all(|w| w[0] <= w[1]), "{limits:?}");
            // Each count is the number of values between its edges: [previous, limit), the
            // first from min, the last including max.
            for (i, &count) in counts.iter().enumerate() {
                let lo = if i == 0 { min } else { limits[i - 1] };
                let inside = |v: f64| v >= lo && (v < limits[i] || i == limits.len() - 1);
                assert_eq!(count, finite.iter().filter(|&&v| inside(v)).count() as f64, "{tag} {step}: bucket {i}");
            }
            // The UI's buckets: [left, right, count] from min to max (as f32), same total.
            let total: f64 = ui_buckets.iter().map(|b| b[2]).sum();
            assert_eq!(total, num, "{tag} {step}: UI counts {ui_buckets:?}");
            assert_eq!(ui_buckets[0][0], min as f32 as f64, "{tag} {step}: UI left edge");
            assert_eq!(ui_buckets.last().unwrap()[1], max as f32 as f64, "{tag} {step}: UI right edge");
            assert!(ui_buckets.iter().all(|b| b[0] <= b[1]), "{tag} {step}: {ui_buckets:?}");
        }
    }
    // A normal sample looks like one: mean ≈ 0, standard deviation ≈ 1 (step 1).
    let h = histos.iter().find(|r| r["tag"] == "dense1/weights" && r["step"] == 1).unwrap();
    let mean = f64_of(&h["sum"]) / f64_of(&h["num"]);
    let var = f64_of(&h["sum_squares"]) / f64_of(&h["num"]) - mean * mean;
    assert!(mean.abs() < 0.05 && (var.sqrt() - 1.0).abs() < 0.05, "mean {mean}, variance {var}");

    // Images: size and bytes identical, in both views.
    let expected = images();
    let got = train["images"].as_array().unwrap();
    let ui_got = ui["images"].as_array().unwrap();
    assert_eq!(got.len(), expected.len());
    assert_eq!(ui_got.len(), expected.len());
    for (tag, step, png, width, height) in expected {
        let hex: String = png.iter().map(|b| format!("{b:02x}")).collect();
        let row = got.iter().find(|r| r["tag"] == tag && r["step"] == step).unwrap_or_else(|| panic!("{tag} {step}"));
        assert_eq!((row["width"].as_u64(), row["height"].as_u64()), (Some(width.into()), Some(height.into())));
        assert_eq!(row["png"], hex, "{tag} {step}");
        let row =
            ui_got.iter().find(|r| r["tag"] == tag && r["step"] == step).unwrap_or_else(|| panic!("{tag} {step}"));
        assert_eq!(row["png"], hex, "UI {tag} {step}");
    }
}

#[test]
fn a_flushed_epoch_is_readable_while_the_writer_stays_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut writer = EventWriter::create(&tmp.path().join("train")).unwrap();
    writer.scalar("epoch_loss", 1, 0.75).unwrap();
    writer.flush().unwrap();
    let seen = read_logs(tmp.path());
    let rows = seen["runs"]["train"]["scalars"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["step"].as_i64(), f32_of(&rows[0]["bits"])), (Some(1), 0.75));
    // Still open: the next epoch goes on in the same file.
    writer.scalar("epoch_loss", 2, 0.5).unwrap();
    writer.flush().unwrap();
    let seen = read_logs(tmp.path());
    assert_eq!(seen["runs"]["train"]["scalars"].as_array().unwrap().len(), 2);
    drop(writer);
    assert_eq!(std::fs::read_dir(tmp.path().join("train")).unwrap().count(), 1);
}

/// Every `train` writes TensorBoard logs: a loss and accuracy point per epoch for training and
/// validation, the learning rate, per-layer weight and gradient histograms, the confusion matrix.
#[test]
fn every_run_logs_its_epochs_for_tensorboard() {
    let (_tmp, run_dir) = crate::common::train_run(&["deep-sigmoid", "--epochs", "2"]);
    let seen = read_logs(&run_dir.join("tensorboard"));
    let ui = &seen["ui"];
    let history = std::fs::read_to_string(run_dir.join("history.csv")).unwrap();
    let rows: Vec<Vec<f64>> =
        history.lines().skip(1).map(|l| l.split(',').take(6).map(|c| c.parse().unwrap()).collect()).collect();
    let points = |run: &str, tag: &str| -> Vec<(i64, f32)> {
        ui["scalars"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["run"] == run && s["tag"] == tag)
            .map(|s| (s["step"].as_i64().unwrap(), f32_of(&s["bits"])))
            .collect()
    };
    for (run, tag, column) in [
        (".", "epoch_loss", 1),
        (".", "epoch_accuracy", 2),
        ("validation", "epoch_loss", 3),
        ("validation", "epoch_accuracy", 4),
        (".", "epoch_learning_rate", 5),
    ] {
        let got = points(run, tag);
        assert_eq!(got.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 2], "{run} {tag}: one point per epoch");
        for ((_, value), row) in got.iter().zip(&rows) {
            // history.csv keeps six decimals.
            assert!((*value as f64 - row[column]).abs() < 2e-6, "{run} {tag}: {value} vs {}", row[column]);
        }
    }
    // deep-sigmoid: 4 hidden layers + the output layer, each with weights and gradients.
    let histograms = ui["histograms"].as_array().unwrap();
    let range = |tag: &str, step: i64| -> f64 {
        let h = histograms.iter().find(|h| h["tag"] == tag && h["step"] == step).unwrap_or_else(|| panic!("{tag}"));
        let edges: Vec<f64> =
            h["buckets"].as_array().unwrap().iter().flat_map(|b| [f64_of(&b[0]), f64_of(&b[1])]).collect();
        edges.iter().fold(0.0f64, |m, e| m.max(e.abs()))
    };
    for layer in 0..5 {
        for step in [1, 2] {
            assert!(range(&format!("layer{layer}/weights"), step) > 0.0);
            assert!(range(&format!("layer{layer}/gradients"), step) > 0.0);
        }
    }
    // The vanishing-gradient picture: the first layer's gradients sit several times closer to zero (mean
    // |g| from the buckets' centres and counts; the UI's buckets are [left, right, count]).
    let mean_abs = |tag: &str| -> f64 {
        let h = histograms.iter().find(|h| h["tag"] == tag && h["step"] == 2).unwrap();
        let (mut sum, mut n) = (0.0, 0.0);
        for b in h["buckets"].as_array().unwrap() {
            let (left, right, count) = (f64_of(&b[0]), f64_of(&b[1]), f64_of(&b[2]));
            sum += count * ((left + right) / 2.0).abs();
            n += count;
        }
        sum / n
    };
    let (first, last) = (mean_abs("layer0/gradients"), mean_abs("layer4/gradients"));
    assert!(first < last / 4.0, "mean |g|: first layer {first}, last layer {last}");
    let images = ui["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!((images[0]["tag"].as_str(), images[0]["step"].as_i64()), (Some("confusion_matrix"), Some(2)));
    let png = std::fs::read(run_dir.join("confusion.png")).unwrap();
    assert_eq!(images[0]["png"].as_str().unwrap(), png.iter().map(|b| format!("{b:02x}")).collect::<String>());
}

/// Every (tag, step) of every events file under `logdir`, per folder, as TensorBoard's own file
/// loader reads them: a step logged twice shows twice.
fn raw_logs(logdir: &Path) -> BTreeMap<String, BTreeMap<(String, i64), usize>> {
    let o = python_with(&py::TENSORBOARD).arg("tests/tensorboard_reader.py").arg("--raw").arg(logdir).output().unwrap();
    assert!(o.status.success(), "tensorboard_reader.py --raw failed:\n{}", stderr(&o));
    let seen: BTreeMap<String, Vec<(String, i64)>> = serde_json::from_slice(&o.stdout).unwrap();
    let count = |rows: Vec<(String, i64)>| {
        rows.into_iter().fold(BTreeMap::new(), |mut m, key| {
            *m.entry(key).or_insert(0) += 1;
            m
        })
    };
    seen.into_iter().map(|(folder, rows)| (folder, count(rows))).collect()
}

/// A `kill -9` after an epoch's events are flushed and before its checkpoint is saved, in the
/// middle of writing its last event: the resumed run trains that epoch again and logs only what
/// is missing, so every step is there once per tag.
#[test]
fn a_run_resumed_after_a_kill_between_its_events_and_its_checkpoint_logs_each_step_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = crate::common::config_file(
        tmp.path(),
        "small.toml",
        &crate::common::small_config(1000, 100, "name = \"sgd\"\nlearning_rate = 0.1"),
    );
    let run_dir = tmp.path().join("run");
    let o = crate::common::run(&["train", &cfg, "--epochs", "2", "--out", run_dir.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // What the killed session of epoch 3 left: some of its step, the last record cut short.
    let board = run_dir.join("tensorboard");
    let mut train = EventWriter::create(&board).unwrap();
    train.scalar("epoch_loss", 3, 0.5).unwrap();
    train.histogram("layer0/weights", 3, &[0.25, -0.25]).unwrap();
    train.scalar("epoch_accuracy", 3, 0.75).unwrap();
    train.flush().unwrap();
    let mut bytes = std::fs::read(train.path()).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(train.path(), bytes).unwrap();
    let mut validation = EventWriter::create(&board.join("validation")).unwrap();
    validation.scalar("epoch_loss", 3, 0.5).unwrap();
    validation.flush().unwrap();
    drop((train, validation));

    let o = crate::common::run(&["train", "--resume", run_dir.to_str().unwrap(), "--epochs", "3", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let seen = raw_logs(&board);
    let once = |tags: &[&str], steps: &[i64]| -> BTreeMap<(String, i64), usize> {
        tags.iter().flat_map(|t| steps.iter().map(move |&s| ((t.to_string(), s), 1))).collect()
    };
    let mut train = once(
        &[
            "epoch_loss",
            "epoch_accuracy",
            "epoch_learning_rate",
            "layer0/weights",
            "layer0/gradients",
            "layer1/weights",
            "layer1/gradients",
        ],
        &[1, 2, 3],
    );
    // One confusion matrix per session that finished: after epoch 2, then after epoch 3.
    train.extend(once(&["confusion_matrix"], &[2, 3]));
    assert_eq!(seen["."], train, "training: (tag, step) → times logged");
    assert_eq!(seen["validation"], once(&["epoch_loss", "epoch_accuracy"], &[1, 2, 3]), "validation");

    // Resumed again with nothing left to train: no step, not even the confusion matrix, twice.
    let o = crate::common::run(&["train", "--resume", run_dir.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(raw_logs(&board)["."], train, "after resuming a finished run");
}
