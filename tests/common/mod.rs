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

/// The data directory root the tests share (MNIST_LAB_DATA or the user cache), fetched on
/// first use: tests train on real MNIST, never on a stand-in.
pub fn data_root() -> PathBuf {
    match std::env::var_os("MNIST_LAB_DATA") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => dirs::cache_dir().expect("a cache dir").join("mnist-lab"),
    }
}

/// Assert a user mistake was reported as `error:` with `code` and no panic.
pub fn assert_user_error(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr:\n{err}");
    assert!(err.starts_with("error:"), "stderr must start with `error:`:\n{err}");
    assert!(!err.contains("panicked"), "no panic:\n{err}");
    assert!(err.contains(needle), "stderr should mention {needle:?}:\n{err}");
}
