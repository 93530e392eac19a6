//! Faults during training: divergence, Ctrl-C, concurrent runs, failed writes.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_diverging_loss_stops_with_the_epoch_and_a_hint_and_checkpoints_nothing_bad() {
    let tmp = tempfile::tempdir().unwrap();
    // ReLU layers with an absurd learning rate blow the logits up to ∞ − ∞ = NaN.
    let o = run(&["train", "deep-relu", "--epochs", "3", "--learning-rate", "1e10", "--out", tmp.path().join("nan").to_str().unwrap(), "--quiet"]);
    assert_user_error(&o, 4, "epoch 1");
    assert!(stderr(&o).contains("smaller learning rate"), "{}", stderr(&o));
    assert!(!tmp.path().join("nan/checkpoints").exists(), "no checkpoint of a diverged epoch");
}

#[test]
fn ctrl_c_stops_cleanly_and_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let child = bin()
        .args(["train", "softmax", "--epochs", "30", "--out", run_dir.to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run_dir.join("checkpoints/latest").exists() {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: interrupted") && err.contains("--resume"), "{err}");
    assert!(!run_dir.join("summary.json").exists());
    let o = run(&["train", "--resume", run_dir.to_str().unwrap(), "--epochs", "3", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_second_run_into_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("config.toml"), "# claimed by another run\n").unwrap();
    let o = run(&["train", "softmax", "--epochs", "1", "--out", out.to_str().unwrap()]);
    assert_user_error(&o, 2, "already");
    assert_eq!(std::fs::read_to_string(out.join("config.toml")).unwrap(), "# claimed by another run\n");
}

#[test]
fn a_failed_write_leaves_the_previous_file_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("summary.json");
    std::fs::write(&target, "old").unwrap();
    // Make the temporary file impossible to create (a directory sits at its name).
    std::fs::create_dir(tmp.path().join(format!(".summary.json.tmp-{}", std::process::id()))).unwrap();
    let e = mnist_lab::artifacts::write_atomic(&target, b"new").unwrap_err();
    assert!(format!("{e:#}").contains("summary.json"), "{e:#}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
}

#[test]
fn bad_paths_and_values_on_the_command_line_are_errors() {
    assert_user_error(&run(&["train", "baseline", "--batch-size", "0"]), 2, "train.batch_size");
    assert_user_error(&run(&["train", "baseline", "--learning-rate=-1"]), 2, "optimizer.learning_rate");
    assert_user_error(&run(&["train", "/no/such/config.toml"]), 2, "/no/such/config.toml");
    assert_user_error(&run(&["predict", "/no/such/run", "x.png"]), 2, "not a run directory");
}
