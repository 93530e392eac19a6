//! Checkpoints: a run killed with SIGKILL resumes and ends exactly like an uninterrupted one.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// history.csv without the wall-clock column, which legitimately differs.
fn history_without_seconds(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("history.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut cols: Vec<&str> = l.split(',').collect();
            cols.remove(6);
            cols.join(",")
        })
        .collect()
}

#[test]
fn sigkilled_run_resumes_to_the_same_history_as_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let killed = tmp.path().join("killed");
    let epochs = "5";
    let o = run(&["train", "softmax", "--epochs", epochs, "--out", whole.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut child = bin()
        .args(["train", "softmax", "--epochs", epochs, "--out", killed.to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let latest = killed.join("checkpoints/latest");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(&latest).map_or(true, |s| s.trim() < "epoch-0002") {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!killed.join("summary.json").exists(), "killed before the end");

    let o = run(&["train", "--resume", killed.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "resume failed: {}", stderr(&o));
    assert_eq!(history_without_seconds(&killed), history_without_seconds(&whole));
    assert_eq!(summary(&killed)["test_accuracy"], summary(&whole)["test_accuracy"]);
    assert_eq!(summary(&killed)["epochs_run"], 5);
}

#[test]
fn truncated_or_foreign_checkpoints_are_refused_with_an_error() {
    // Adam: an optimizer whose state (moments, step count) the checkpoint must hold.
    let (_tmp, run_dir) = train_run(&["adam", "--epochs", "1"]);
    let ck = run_dir.join("checkpoints/epoch-0001");
    let config = std::fs::read(run_dir.join("config.toml")).unwrap();

    // Fewer epochs than already trained, or another dataset: refused before anything is rewritten.
    assert_user_error(
        &run(&["train", "--resume", run_dir.to_str().unwrap(), "--epochs", "0"]),
        2,
        "fewer than the 1 epochs",
    );
    let o = run(&["train", "--resume", run_dir.to_str().unwrap(), "--dataset", "fashion-mnist"]);
    assert_user_error(&o, 2, "--dataset");
    assert_eq!(std::fs::read(run_dir.join("config.toml")).unwrap(), config);

    // Truncated optimizer state.
    let opt = ck.join("optimizer.bpk");
    let bytes = std::fs::read(&opt).unwrap();
    std::fs::write(&opt, &bytes[..bytes.len() / 3]).unwrap();
    assert_user_error(&run(&["train", "--resume", run_dir.to_str().unwrap(), "--epochs", "2"]), 3, "optimizer.bpk");
    std::fs::write(&opt, &bytes).unwrap();

    // A foreign state file.
    std::fs::write(ck.join("state.json"), "{\"hello\": 1}").unwrap();
    assert_user_error(
        &run(&["train", "--resume", run_dir.to_str().unwrap(), "--epochs", "2"]),
        3,
        "not a mnist-lab checkpoint",
    );

    // No checkpoint at all.
    std::fs::remove_dir_all(run_dir.join("checkpoints")).unwrap();
    assert_user_error(&run(&["train", "--resume", run_dir.to_str().unwrap(), "--epochs", "2"]), 3, "no checkpoint");
}

/// Every optimizer's state (moments, accumulators, velocities, step counts) survives a
/// checkpoint: a run stopped after one epoch and resumed ends exactly like an uninterrupted one.
/// A state silently reset on resume would change every epoch after the first.
#[test]
fn optimizers_with_state_resume_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let optimizers = [
        ("adam", "amsgrad = true"),
        ("adadelta", ""),
        ("adagrad", ""),
        ("rmsprop", "centered = true\nmomentum = 0.5"),
        ("momentum", "nesterov = true"),
    ];
    for (preset, extra) in optimizers {
        // The preset's [optimizer] is its last table: extra keys land there; then a small split.
        let text = mnist_lab::presets::PRESETS.iter().find(|(n, _)| *n == preset).unwrap().1;
        let config = tmp.path().join(format!("{preset}.toml"));
        std::fs::write(&config, format!("{text}\n{extra}\n[data]\ntrain_limit = 2000\n")).unwrap();
        let config = config.to_str().unwrap();
        let (whole, parts) = (tmp.path().join(format!("{preset}-whole")), tmp.path().join(format!("{preset}-parts")));
        let train = |args: &[&str]| {
            let o = run(&[&["train"], args, &["--quiet"]].concat());
            assert!(o.status.success(), "{preset} {args:?}: {}", stderr(&o));
        };
        train(&[config, "--epochs", "3", "--out", whole.to_str().unwrap()]);
        train(&[config, "--epochs", "1", "--out", parts.to_str().unwrap()]);
        train(&["--resume", parts.to_str().unwrap(), "--epochs", "3"]);
        assert_eq!(history_without_seconds(&parts), history_without_seconds(&whole), "{preset}");
        assert_eq!(summary(&parts)["test_accuracy"], summary(&whole)["test_accuracy"], "{preset}");
    }
}
