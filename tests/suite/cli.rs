//! Drive the binary as a user would: real training on real MNIST, eval, and user mistakes.

use crate::common::*;

#[test]
fn baseline_one_epoch_trains_and_eval_reproduces_the_summary() {
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    let run_dir_s = run_dir.to_str().unwrap();
    let o = run(&["train", "baseline", "--epochs", "1", "--out", run_dir_s]);
    assert!(o.status.success(), "train failed:\n{}", stderr(&o));

    for f in ["config.toml", "history.csv", "model.bpk", "summary.json"] {
        assert!(run_dir.join(f).is_file(), "{f} written");
    }
    let summary = summary(&run_dir);
    let acc = summary["test_accuracy"].as_f64().unwrap();
    // One epoch of the lecture's baseline (SGD lr 3, batch 10) on real MNIST.
    assert!(acc >= 0.90, "test accuracy {acc} after one epoch");
    assert_eq!(summary["epochs_run"], 1);
    assert_eq!(summary["preset"], "baseline");

    let history = std::fs::read_to_string(run_dir.join("history.csv")).unwrap();
    let lines: Vec<_> = history.lines().collect();
    assert_eq!(lines[0], "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds");
    assert_eq!(lines.len(), 2);

    // The written config re-runs as a config file.
    let rerun = formats::config::ExperimentConfig::from_file(&run_dir.join("config.toml")).unwrap();
    assert_eq!(rerun.train.epochs, 1);

    let e = run(&["eval", run_dir_s]);
    assert!(e.status.success(), "eval failed:\n{}", stderr(&e));
    let printed = stdout(&e);
    assert!(printed.contains(&format!("({acc:.4})")), "eval prints {printed:?}, summary says {acc}");
}

#[test]
fn offline_with_a_missing_data_dir_is_a_data_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let o = run(&["train", "baseline", "--epochs", "1", "--offline", "--data-dir", missing.to_str().unwrap()]);
    assert_user_error(&o, 3, "--offline");
}

#[test]
fn truncated_idx_file_is_a_data_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = dir.path().join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    let real = mnist_dir();
    // Make sure the real files exist, then copy them with the training images cut short.
    assert!(run(&["data", "fetch"]).status.success());
    for name in
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    {
        std::fs::copy(real.join(name), mnist.join(name)).unwrap();
    }
    let images = mnist.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();

    let o = run(&["train", "baseline", "--epochs", "1", "--offline", "--data-dir", dir.path().to_str().unwrap()]);
    assert_user_error(&o, 3, "train-images-idx3-ubyte");
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
}

#[test]
fn misspelled_config_key_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("typo.toml");
    let text = mnist_lab::presets::PRESETS.iter().find(|(n, _)| *n == "baseline").unwrap().1;
    std::fs::write(&cfg, text.replace("batch_size", "bach_size")).unwrap();
    let o = run(&["train", cfg.to_str().unwrap(), "--epochs", "1"]);
    assert_user_error(&o, 2, "bach_size");
}

#[test]
fn unknown_preset_and_backend_are_config_errors() {
    assert_user_error(&run(&["train", "monstr"]), 2, "did you mean `monster`");
    assert_user_error(&run(&["train", "baseline", "--backend", "cuda"]), 2, "'cuda'");
    let o = bin().args(["train", "baseline"]).env("BURN_DEVICE", "cuda").output().unwrap();
    assert_user_error(&o, 2, "BURN_DEVICE=cuda");
}

#[test]
fn a_backend_left_out_of_the_build_names_the_feature_that_adds_it() {
    let missing = ["flex", "ndarray", "wgpu"]
        .into_iter()
        .find(|b| !mnist_lab::backend::compiled().iter().any(|c| c.as_str() == *b))
        .expect("one backend is left out of this build");
    let o = run(&["devices", "--backend", missing]);
    assert_user_error(&o, 2, &format!("--features {missing}"));
}

#[test]
fn devices_lists_the_compiled_backends_and_the_pick() {
    let o = bin().arg("devices").env_remove("BURN_DEVICE").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let compiled: Vec<&str> = mnist_lab::backend::compiled().iter().map(|b| b.as_str()).collect();
    assert!(out.contains(&format!("compiled backends: {}", compiled.join(", "))), "{out}");
    assert!(out.lines().any(|l| l.starts_with("train would run on: ")), "{out}");
}

#[test]
fn eval_of_a_non_run_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_user_error(&run(&["eval", dir.path().to_str().unwrap()]), 2, "not a run directory");
}

#[test]
fn list_shows_every_preset_with_its_lesson() {
    let o = run(&["list"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for (name, _) in mnist_lab::presets::PRESETS {
        assert!(text.lines().any(|l| l.starts_with(name) && l.len() > name.len() + 10), "{name} in:\n{text}");
    }
    // In the lecture's order, under its sections' headings.
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle:?} in:\n{text}"));
    let order = [
        "1. Moving to Keras",
        "baseline ",
        "2. Loss",
        "init-large",
        "3. Overfitting",
        "overfit ",
        "6. Going deeper",
        "monster ",
        "Beyond the lecture",
        "record ",
    ];
    assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
    assert_eq!(stdout(&run(&["list", "--names"])).lines().count(), mnist_lab::presets::PRESETS.len());
}

#[test]
fn fashion_mnist_trains_with_any_preset() {
    let (_tmp, run_dir) = train_run(&["baseline", "--dataset", "fashion-mnist", "--epochs", "1"]);
    let summary = summary(&run_dir);
    assert_eq!(summary["dataset"], "fashion-mnist");
    let acc = summary["test_accuracy"].as_f64().unwrap();
    // One epoch of the MNIST baseline on clothes: far above chance, below digits.
    assert!((0.6..0.95).contains(&acc), "fashion-mnist test accuracy {acc}");
    // Evaluated on the other data set: it says so, and still answers.
    let o = run(&["eval", run_dir.to_str().unwrap(), "--dataset", "mnist"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("warning:") && stderr(&o).contains("trained on fashion-mnist"), "{}", stderr(&o));
}

#[test]
fn every_run_writes_its_pictures() {
    let (_tmp, run_dir) = train_run(&["softmax", "--epochs", "2"]);
    let svg = std::fs::read_to_string(run_dir.join("curves.svg")).unwrap();
    assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for series in ["train loss", "validation loss", "train accuracy", "validation accuracy", "best epoch"] {
        assert!(svg.contains(series), "curves.svg names {series}");
    }
    assert!(image::open(run_dir.join("curves.png")).is_ok());
    let confusion = std::fs::read_to_string(run_dir.join("confusion.csv")).unwrap();
    let total: u64 =
        confusion.lines().skip(1).flat_map(|l| l.split(',').skip(1)).map(|c| c.parse::<u64>().unwrap()).sum();
    assert_eq!(total, 10_000, "every test image is counted once");
    assert!(run_dir.join("confusion.png").is_file() && run_dir.join("model.safetensors").is_file());
}

#[test]
fn a_run_stuck_at_chance_level_is_named_with_its_likely_cause() {
    // A learning rate of 1e30 saturates every sigmoid after the first step: 10 %, loss frozen.
    let tmp = tempfile::tempdir().unwrap();
    let out = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let o = run(&["train", "baseline", "--learning-rate", "1e30", "--epochs", "2", "--quiet", "--out", &out("dead")]);
    let err = stderr(&o);
    assert!(summary(&tmp.path().join("dead"))["test_accuracy"].as_f64().unwrap() < 0.15);
    assert!(o.status.success(), "a dead run is not an error, as in Keras:\n{err}");
    assert_eq!(err.lines().count(), 1, "warned once:\n{err}");
    assert!(err.starts_with("warning: epoch 1 ended at chance level"), "{err}");
    assert!(err.contains("saturated") && err.contains("(now 1e30)") && err.contains("--learning-rate"), "{err}");
    // A rate too small to move anything is named as such, not as too large.
    let o = run(&["train", "baseline", "--learning-rate", "1e-45", "--epochs", "1", "--quiet", "--out", &out("still")]);
    let err = stderr(&o);
    assert!(o.status.success() && err.starts_with("warning: epoch 1 ended at chance level"), "{err}");
    assert!(err.contains("too small") && !err.contains("smaller"), "{err}");
    // A run that learns says nothing.
    let o = run(&["train", "baseline", "--epochs", "1", "--quiet", "--out", &out("alive")]);
    assert!(o.status.success() && stderr(&o).is_empty(), "{}", stderr(&o));
}

/// Values that f32 turns infinite, or that overflow it within a few steps, are config errors
/// naming the key before anything is written, not a "training diverged" hint at the rate.
#[test]
fn numbers_out_of_f32_reach_are_config_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/baseline.toml")).unwrap();
    for (from, to, key) in [
        ("[train]\n", "[train]\nl2 = 1e39\n", "train.l2"),
        ("[train]\n", "[train]\nl1 = 1e30\n", "train.l1"),
        ("init = \"glorot-uniform\"", "init = \"normal\"\ninit_std = 1e38", "model.init_std"),
    ] {
        assert!(baseline.contains(from));
        let config = dir.path().join("c.toml");
        std::fs::write(&config, baseline.replacen(from, to, 1)).unwrap();
        let out = dir.path().join("run");
        let o = run(&["train", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_user_error(&o, 2, &format!("`{key}`"));
        assert_eq!(stderr(&o).lines().count(), 1, "one line:\n{}", stderr(&o));
        assert!(!out.exists(), "{key}: nothing written");
    }
}

/// A TOML mistake is one `error:` line naming the file and line, however long the line is, and
/// control characters in it reach the terminal escaped.
#[test]
fn toml_mistakes_are_one_short_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    for text in [
        "lesson = \"x\"\n[model\nhidden = []\n".to_string(),
        format!("lesson = \"{}\"\nepochs = [\n", "y".repeat(200_000)),
        "lesson = \"\u{1b}[2J\"\n\u{1b}[31m = 1\n".to_string(),
    ] {
        std::fs::write(&config, &text).unwrap();
        let o = run(&["train", config.to_str().unwrap(), "--out", dir.path().join("run").to_str().unwrap()]);
        assert_user_error(&o, 2, "c.toml: line ");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "one line:\n{err}");
        assert!(err.len() < 2_500 && !err.contains('\u{1b}'), "short and escaped: {}", &err[..err.len().min(300)]);
    }
}

#[test]
fn set_changes_any_config_key_as_a_grid_does() {
    let (_tmp, run_dir) = train_run(&[
        "overfit",
        "--epochs",
        "2",
        "--set",
        "model.hidden[0].dropout=0.3",
        "--set",
        "train.l2=1e-4",
        "--set",
        "optimizer.name=adam",
    ]);
    let cfg = formats::config::ExperimentConfig::from_file(&run_dir.join("config.toml")).unwrap();
    assert_eq!(cfg.model.hidden[0].dropout, 0.3);
    assert_eq!(cfg.train.l2, 1e-4);
    assert_eq!(cfg.train.epochs, 2);
    // Switching the optimizer starts from its own defaults (Keras' Adam at 0.001).
    assert!(matches!(&cfg.optimizer, formats::config::OptimizerConfig::Adam(a) if a.learning_rate == 0.001));
    assert_eq!(summary(&run_dir)["epochs_run"], 2);
}

#[test]
fn set_mistakes_name_the_key_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let cases = [
        ("train.lr=0.1", "`train.lr` is not a config key"),
        ("train.epochs=many", "`train.epochs` does not fit the config: invalid type: string \"many\""),
        ("model.hidden[0].dropout=1.5", "`model.hidden[0].dropout` must be in [0, 1)"),
        ("train.batch_size=0", "train.batch_size"),
        ("model.hidden[4].units=10", "`model.hidden` has 1 entries, so [4] does not exist"),
        ("train.l2", "expected KEY=VALUE"),
    ];
    for (set, needle) in cases {
        let o = run(&["train", "overfit", "--set", set, "--out", out.to_str().unwrap()]);
        assert_user_error(&o, 2, needle);
        assert_eq!(stderr(&o).lines().count(), 1, "one line: {}", stderr(&o));
        assert!(!out.exists(), "--set {set} wrote {}", out.display());
    }
    let o = run(&["train", "overfit", "--set", "train.epochs=3", "--epochs", "2", "--out", out.to_str().unwrap()]);
    assert_user_error(&o, 2, "--set train.epochs and --epochs set the same key");
    assert!(!out.exists());
}
