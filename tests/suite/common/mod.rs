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
    mnist_lab::data::data_dir(None, formats::config::Dataset::Mnist)
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

/// Python packages the tests use, pinned so every machine tests against the same versions.
pub mod py {
    pub const NUMPY: &str = "numpy==2.4.6";
    pub const SAFETENSORS: &str = "safetensors==0.8.0";
    /// TensorBoard and everything it installs, for reading event files back.
    pub const TENSORBOARD: [&str; 13] = [
        "tensorboard==2.21.0",
        "tensorboard-data-server==0.7.2",
        "absl-py==2.5.1",
        "grpcio==1.85.3",
        "markdown==3.11.3",
        "markupsafe==3.0.4",
        NUMPY,
        "packaging==26.4",
        "pillow==13.0.0",
        "protobuf==7.36.2",
        "setuptools==84.2.1",
        "typing-extensions==4.16.0",
        "werkzeug==3.1.9",
    ];
    /// Keras 3 on JAX's CPU backend (lighter than TensorFlow's), h5py, and what they install.
    pub const KERAS: [&str; 17] = [
        "keras==3.15.1",
        "jax==0.10.2",
        "jaxlib==0.10.2",
        "h5py==3.16.0",
        NUMPY,
        "absl-py==2.5.1",
        "ml-dtypes==0.7.0",
        "namex==0.1.0",
        "opt-einsum==3.4.0",
        "optree==0.20.0",
        "packaging==26.4",
        "rich==15.0.0",
        "markdown-it-py==4.3.0",
        "mdurl==0.1.2",
        "pygments==2.21.0",
        "scipy==1.17.1",
        "typing-extensions==4.16.0",
    ];
    pub const ONNXRUNTIME: &str = "onnxruntime==1.32.0";
    pub const ONNX: &str = "onnx==1.23.2";
    /// The browser test: WebDriver client, the ChromeDriver that matches the npm package's
    /// Chromium 153 (tests/web/chromium.py), and Brotli to unpack that package.
    pub const SELENIUM: &str = "selenium==4.51.0";
    pub const CHROMEDRIVER: &str = "chromedriver-py==153.0.8010.52";
    pub const BROTLI: &str = "brotli==1.2.1";
    /// Real handwriting that is not MNIST's: scikit-learn's bundled digits (and what it needs),
    /// drawn into PNGs with Pillow (bench/real_handwriting.py).
    pub const SKLEARN_DIGITS: [&str; 8] = [
        "scikit-learn==1.9.1",
        "scipy==1.17.1",
        "joblib==1.6.0",
        "threadpoolctl==3.8.0",
        "narwhals==2.29.0",
        "cloudpickle==3.1.3",
        NUMPY,
        "pillow==13.0.0",
    ];
}

/// `python3` with `packages` (pip specs such as `numpy==2.4.6`) installed, run from the crate
/// root. They live in a virtual environment under target/, made and filled from PyPI on first
/// use, so the tests need nothing but python3 on the machine; failures say what is missing.
pub fn python_with(packages: &[&str]) -> Command {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python");
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    // Test binaries and threads share one environment: one of them provisions it at a time.
    let lock = std::fs::File::create(dir.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    let python = dir.join("bin").join("python");
    if !python.exists() {
        let o = Command::new("python3").args(["-m", "venv"]).arg(&dir).output().unwrap_or_else(|e| {
            panic!("these tests need python3 (Debian/Ubuntu: apt-get install python3 python3-venv): {e}")
        });
        assert!(
            o.status.success(),
            "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv):\n{}",
            stderr(&o)
        );
    }
    // One interpreter start tells which pins are not installed yet.
    let check = "import sys, importlib.metadata as m\n\
                 def have(spec):\n    name, version = spec.split('==')\n    try: return m.version(name) == version\n    except m.PackageNotFoundError: return False\n\
                 print(' '.join(s for s in sys.argv[1:] if not have(s)))";
    let o = Command::new(&python).args(["-c", check]).args(packages).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let missing: Vec<String> = stdout(&o).split_whitespace().map(String::from).collect();
    if !missing.is_empty() {
        let o = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(&missing)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "pip install {} failed (PyPI must be reachable):\n{}",
            missing.join(" "),
            stderr(&o)
        );
    }
    let mut cmd = Command::new(python);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// A stdout whose reader is already gone, as after `| head` has read its lines: every write
/// fails with EPIPE.
pub fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

/// A stdout on which every write fails with ENOSPC (`> /dev/full`; Linux).
pub fn full_device() -> std::process::Stdio {
    std::fs::OpenOptions::new().write(true).open("/dev/full").expect("Linux has /dev/full").into()
}

/// A config file `name` in `dir` with `text`; its path as a string for the command line.
pub fn config_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A small network on `train_limit` images: a few seconds an epoch at most, even with batch 1.
pub fn small_config(train_limit: usize, batch_size: usize, optimizer: &str) -> String {
    format!(
        "[data]\ntrain_limit = {train_limit}\nvalidation = 1000\n\
         [model]\nhidden = [{{ units = 16, activation = \"relu\" }}]\noutput = \"softmax\"\n\
         [train]\nepochs = 3\nbatch_size = {batch_size}\nloss = \"categorical-crossentropy\"\n\
         [optimizer]\n{optimizer}\n"
    )
}

/// Wait (up to two minutes) until `done` holds.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
