//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The mnist-lab binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mnist-lab"))
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The MNIST directory the tests share ($MNIST_LAB_DATA or the user cache), as the binary finds
/// it: tests train on real MNIST, never on a stand-in.
pub fn mnist_dir() -> PathBuf {
    mnist_lab::data::data_dir(None, mnist_lab::config::Dataset::Mnist)
}

/// Assert a user mistake was reported as `error:` with `code` and no panic.
pub fn assert_user_error(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr:\n{err}");
    assert!(err.starts_with("error:"), "stderr must start with `error:`:\n{err}");
    // A panic prints `panicked` by default, or `internal error` through main's panic hook.
    assert!(!err.contains("panicked") && !err.contains("internal error"), "no panic:\n{err}");
    assert!(err.contains(needle), "stderr should mention {needle:?}:\n{err}");
}

/// `mnist-lab train ARGS… --out <tmp>/run --quiet`, asserted to succeed; returns the temporary
/// folder (keep it alive) and the run directory.
pub fn train_run(args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", run_dir.to_str().unwrap(), "--quiet"]);
    let o = run(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    (tmp, run_dir)
}

/// A run directory's summary.json.
pub fn summary(run_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap()
}
