//! Faults during training: divergence, Ctrl-C, concurrent runs, failed writes.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_diverging_loss_stops_with_the_epoch_and_a_hint_and_checkpoints_nothing_bad() {
    let tmp = tempfile::tempdir().unwrap();
    // ReLU layers with an absurd learning rate blow the logits up to ∞ − ∞ = NaN.
    let o = run(&[
        "train",
        "deep-relu",
        "--epochs",
        "3",
        "--learning-rate",
        "1e10",
        "--out",
        tmp.path().join("nan").to_str().unwrap(),
        "--quiet",
    ]);
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
    // A name of 250 bytes is fine, its temporary sibling's (longer) is not: creating it fails.
    let name = format!("summary{}.json", "x".repeat(238));
    let target = tmp.path().join(&name);
    std::fs::write(&target, "old").unwrap();
    let e = mnist_lab::artifacts::write_atomic(&target, b"new").unwrap_err();
    assert!(format!("{e:#}").contains(&name), "{e:#}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
}

#[test]
fn bad_paths_and_values_on_the_command_line_are_errors() {
    assert_user_error(&run(&["train", "baseline", "--batch-size", "0"]), 2, "train.batch_size");
    assert_user_error(&run(&["train", "baseline", "--learning-rate=-1"]), 2, "optimizer.learning_rate");
    assert_user_error(&run(&["train", "/no/such/config.toml"]), 2, "/no/such/config.toml");
    assert_user_error(&run(&["predict", "/no/such/run", "x.png"]), 2, "not a run directory");
}

#[test]
fn a_download_cut_off_midway_leaves_no_file_and_falls_back_to_the_next_source() {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A mirror that promises 100 kB and hangs up after 1 kB.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
            let _ = s.write_all(&[0x1f; 1000]);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["data", "fetch", "--dataset", "fashion-mnist", "--data-dir", tmp.path().to_str().unwrap()])
        .env("MNIST_LAB_MIRROR", format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    assert!(hits.load(Ordering::SeqCst) >= 2, "the cut-off mirror was tried, twice");
    // Fashion-MNIST then comes from Debian's dataset-fashion-mnist package (CI installs it).
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = std::fs::read_dir(tmp.path().join("fashion-mnist"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "exactly the four verified files, no leftovers: {names:?}");
}

#[test]
fn an_unwritable_data_dir_is_a_data_error() {
    // /proc refuses new directories even to root.
    let o = run(&["data", "fetch", "--data-dir", "/proc/mnist-lab-test"]);
    assert_user_error(&o, 3, "/proc/mnist-lab-test");
}
