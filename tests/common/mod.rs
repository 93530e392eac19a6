//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
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
    assert!(!err.contains("panicked"), "no panic:\n{err}");
    assert!(err.contains(needle), "stderr should mention {needle:?}:\n{err}");
}
