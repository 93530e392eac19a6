//! Faults during training: divergence, Ctrl-C, concurrent runs, failed writes.

use std::time::{Duration, Instant};

use crate::common::*;

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

/// `train softmax` into `run_dir`, returned once its first epoch is checkpointed.
fn train_until_checkpointed(run_dir: &std::path::Path) -> std::process::Child {
    let child = bin()
        .args(["train", "softmax", "--epochs", "30", "--out", run_dir.to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a checkpoint", || run_dir.join("checkpoints/latest").exists());
    child
}

#[test]
fn ctrl_c_stops_cleanly_and_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let child = train_until_checkpointed(&run_dir);
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
    let e = mnist_lab::files::write_atomic(&target, b"new").unwrap_err();
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

#[test]
fn sigterm_stops_like_ctrl_c_and_resume_clears_what_a_killed_run_left() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let child = train_until_checkpointed(&run_dir);
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: terminated (SIGTERM) during epoch") && err.contains("--resume"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!run_dir.join("summary.json").exists());

    // What a run killed while writing leaves: a half-built checkpoint folder, a pointer and a
    // history temporary, an epoch folder the pointer no longer names.
    let ck = run_dir.join("checkpoints");
    std::fs::create_dir_all(ck.join(".epoch-0099.tmp-4242")).unwrap();
    std::fs::write(ck.join(".epoch-0099.tmp-4242/model.bpk"), "half").unwrap();
    std::fs::write(ck.join(".latest.tmp-4242"), "epoch-0099").unwrap();
    std::fs::create_dir_all(ck.join("epoch-0000")).unwrap();
    // Temporaries of a process that has ended (a pid above any Linux gives) are removed.
    std::fs::write(run_dir.join(".history.csv.tmp-4194305-0"), "half").unwrap();
    std::fs::write(run_dir.join(".model.safetensors.tmp-4194305-0"), "half").unwrap();
    // An export's, under way beside the resume (this test's own pid), is left alone.
    let export_tmp = run_dir.join(format!(".model.safetensors.tmp-{}-0", std::process::id()));
    std::fs::write(&export_tmp, "being written").unwrap();
    let done = std::fs::read_to_string(ck.join("latest")).unwrap();
    let o = run(&["train", "--resume", run_dir.to_str().unwrap(), "--epochs", "3", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut left: Vec<String> =
        std::fs::read_dir(&ck).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["epoch-0003", "latest"], "after resuming from {done}");
    assert!(!run_dir.join(".history.csv.tmp-4194305-0").exists());
    assert!(!run_dir.join(".model.safetensors.tmp-4194305-0").exists());
    assert!(export_tmp.exists(), "a live process's temporary was removed");
}

#[test]
fn two_trainings_of_one_run_at_once_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_file(tmp.path(), "small.toml", &small_config(5000, 1, "name = \"sgd\"\nlearning_rate = 0.01"));
    let run_dir = tmp.path().join("run");
    let r = run_dir.to_str().unwrap();
    let o = run(&["train", &cfg, "--epochs", "1", "--out", r, "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let first = bin()
        .args(["train", "--resume", r, "--epochs", "3", "--quiet"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = run_dir.join(".mnist-lab.lock");
    let pid = first.id().to_string();
    wait_for("the first resume to hold the lock", || std::fs::read_to_string(&lock).is_ok_and(|s| s.trim() == pid));
    let o = run(&["train", "--resume", r, "--epochs", "5", "--quiet"]);
    assert_user_error(&o, 2, &format!("being trained by another mnist-lab (pid {pid})"));
    assert!(stderr(&o).contains(".mnist-lab.lock"), "{}", stderr(&o));
    let o = run(&["train", &cfg, "--out", r, "--quiet"]);
    assert_user_error(&o, 2, "already holds a run");

    let status = first.wait_with_output().unwrap().status;
    assert!(status.success());
    let history = std::fs::read_to_string(run_dir.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 4, "the first resume alone trained epochs 2 and 3:\n{history}");
    assert_eq!(summary(&run_dir)["epochs_run"], 3);
}

#[test]
fn a_run_killed_in_its_first_epoch_can_be_resumed_or_restarted_into_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    // Batch 1 on 5000 images: a first epoch long enough to be killed in.
    let cfg = config_file(tmp.path(), "slow.toml", &small_config(5000, 1, "name = \"sgd\"\nlearning_rate = 0.01"));
    let kill_early = |out: &std::path::Path| {
        let mut child = bin()
            .args(["train", &cfg, "--out", out.to_str().unwrap(), "--quiet"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for("config.toml", || out.join("config.toml").exists());
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(!out.join("checkpoints/latest").exists(), "killed after its first epoch");
    };

    let resumed = tmp.path().join("resumed");
    kill_early(&resumed);
    let o = run(&["train", "--resume", resumed.to_str().unwrap(), "--epochs", "1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("warning:") && stderr(&o).contains("from epoch 1"), "{}", stderr(&o));
    assert_eq!(summary(&resumed)["epochs_run"], 1);

    let restarted = tmp.path().join("restarted");
    kill_early(&restarted);
    let o = run(&["train", "overfit", "--epochs", "1", "--out", restarted.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(summary(&restarted)["preset"], "overfit");
}

#[test]
fn out_into_a_folder_holding_files_of_the_users_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mine");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    std::fs::write(out.join("curves.png"), "my own picture").unwrap();
    let o = run(&["train", "overfit", "--epochs", "1", "--out", out.to_str().unwrap()]);
    assert_user_error(&o, 2, "is not empty");
    let mut names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["curves.png", "notes.txt"], "nothing added, nothing replaced");
    assert_eq!(std::fs::read_to_string(out.join("curves.png")).unwrap(), "my own picture");

    // An empty folder is fine, and so is one a run was killed in before its first epoch ended.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = run(&["train", "overfit", "--epochs", "1", "--out", empty.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A finished run is refused too.
    assert_user_error(&run(&["train", "overfit", "--out", empty.to_str().unwrap()]), 2, "already holds a run");
}

#[test]
fn a_full_disk_while_claiming_the_folder_leaves_no_empty_config() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // File size limit 0: every write of a byte fails (EFBIG), as on a full disk (ENOSPC).
    let o = std::process::Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 0; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_mnist-lab"))
        .args(["train", "overfit", "--epochs", "1", "--quiet", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_user_error(&o, 4, "config.toml");
    assert!(!out.join("config.toml").exists(), "no empty config.toml");
    let o = run(&["train", "overfit", "--epochs", "1", "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "the folder is not blocked: {}", stderr(&o));
}

#[test]
fn divergence_in_the_last_step_is_an_error_and_leaves_no_summary() {
    let tmp = tempfile::tempdir().unwrap();
    // One batch an epoch and no validation split: the only step runs after the epoch's loss
    // was measured, so only the test set sees what it did.
    let text =
        small_config(100, 100, "name = \"sgd\"\nlearning_rate = 1e30").replace("validation = 1000", "validation = 0");
    let cfg = config_file(tmp.path(), "boom.toml", &text);
    let run_dir = tmp.path().join("run");
    let r = run_dir.to_str().unwrap();
    let o = run(&["train", &cfg, "--epochs", "1", "--out", r, "--quiet"]);
    assert_user_error(&o, 4, "diverged");
    assert!(!run_dir.join("summary.json").exists(), "no summary of a diverged run");
    assert!(!run_dir.join("model.bpk").exists(), "no model of a diverged run");
    // The run reads as unfinished, not as a folder report refuses.
    let o = run(&["report", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("unfinished"), "{}", stdout(&o));

    // Its last checkpoint's weights, used as a model: eval and predict say so instead of "NaN %".
    std::fs::copy(run_dir.join("checkpoints/epoch-0001/model.bpk"), run_dir.join("model.bpk")).unwrap();
    let o = run(&["eval", r]);
    assert!(matches!(o.status.code(), Some(3 | 4)), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error:") && !stderr(&o).contains("internal"), "{}", stderr(&o));
    let digit = tmp.path().join("digit.png");
    image::GrayImage::from_fn(64, 64, |x, _| image::Luma([if (28..36).contains(&x) { 0 } else { 255 }]))
        .save(&digit)
        .unwrap();
    let o = run(&["predict", r, digit.to_str().unwrap()]);
    assert!(matches!(o.status.code(), Some(3 | 4)), "{}", stderr(&o));
    assert!(!stdout(&o).contains("NaN"), "{}", stdout(&o));
    assert!(stderr(&o).starts_with("error:") && !stderr(&o).contains("internal"), "{}", stderr(&o));
}

#[test]
fn resume_refuses_an_optimizer_state_or_progress_that_is_not_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let adam = "name = \"adam\"\nlearning_rate = 0.001";
    let cfg = config_file(tmp.path(), "adam.toml", &small_config(1000, 50, adam));
    let train = |name: &str| {
        let dir = tmp.path().join(name);
        let o = run(&["train", &cfg, "--epochs", "1", "--out", dir.to_str().unwrap(), "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        dir
    };
    let (a, b) = (train("a"), train("b"));
    let resume = |dir: &std::path::Path| run(&["train", "--resume", dir.to_str().unwrap(), "--epochs", "2", "--quiet"]);
    let ck = |dir: &std::path::Path, file: &str| dir.join("checkpoints/epoch-0001").join(file);

    // Another run's state, same network and optimizer: its parameters are not this model's.
    let own = std::fs::read(ck(&b, "optimizer.bpk")).unwrap();
    std::fs::copy(ck(&a, "optimizer.bpk"), ck(&b, "optimizer.bpk")).unwrap();
    assert_user_error(&resume(&b), 3, "not this run's optimizer state: it holds state for a parameter");
    std::fs::write(ck(&b, "optimizer.bpk"), &own).unwrap();

    // Another optimizer: the config now says RMSprop, the state is Adam's.
    let config = std::fs::read_to_string(b.join("config.toml")).unwrap();
    let rmsprop = format!(
        "{}[optimizer]\nname = \"rmsprop\"\nlearning_rate = 0.001\n",
        &config[..config.find("[optimizer]").unwrap()]
    );
    std::fs::write(b.join("config.toml"), rmsprop).unwrap();
    let o = resume(&b);
    assert_user_error(&o, 3, "optimizer.bpk is not this run's optimizer state");
    assert!(stderr(&o).contains("where rmsprop keeps"), "{}", stderr(&o));
    std::fs::write(b.join("config.toml"), &config).unwrap();

    // Edited progress: a learning rate no schedule gives, a history shorter than the epochs.
    let state = std::fs::read_to_string(ck(&b, "state.json")).unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&state).unwrap();
    edited["schedule"]["lr"] = serde_json::json!(1e10);
    std::fs::write(ck(&b, "state.json"), edited.to_string()).unwrap();
    assert_user_error(&resume(&b), 3, "schedule.lr is 10000000000.0, above config.toml's optimizer.learning_rate");
    let mut edited: serde_json::Value = serde_json::from_str(&state).unwrap();
    edited["history"]["epochs"] = serde_json::json!([]);
    std::fs::write(ck(&b, "state.json"), edited.to_string()).unwrap();
    assert_user_error(&resume(&b), 3, "says 1 epochs are complete but its history has 0");

    // Put back, it resumes.
    std::fs::write(ck(&b, "state.json"), &state).unwrap();
    let o = resume(&b);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Every name in `dir` and below with a hash of its file's contents (the lock file's pid
/// aside), for "nothing changed" checks.
fn snapshot(dir: &std::path::Path) -> Vec<(String, u64)> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if meta.is_dir() {
                todo.push(path);
                out.push((name + "/", 0));
            } else if name == ".mnist-lab.lock" {
                out.push((name, 0));
            } else {
                let mut h = DefaultHasher::new();
                std::fs::read(&path).unwrap_or_default().hash(&mut h);
                out.push((name, h.finish()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_damaged_checkpoint_pointer_is_an_error_and_nothing_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let text = small_config(1000, 100, "name = \"sgd\"\nlearning_rate = 0.1");
    let cfg = config_file(tmp.path(), "small.toml", &text);
    let run_dir = tmp.path().join("run");
    let r = run_dir.to_str().unwrap();
    let o = run(&["train", &cfg, "--epochs", "2", "--out", r, "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Stopped after epoch 2 as far as anything here can tell.
    std::fs::remove_file(run_dir.join("summary.json")).unwrap();
    let pointer = run_dir.join("checkpoints/latest");
    for (damage, needle) in [
        ("3", "not a checkpoint pointer"),
        ("garbage\n", "not a checkpoint pointer"),
        ("epoch-0007", "names epoch-0007, which is not a folder"),
    ] {
        std::fs::write(&pointer, damage).unwrap();
        let before = snapshot(&run_dir);
        let o = run(&["train", "--resume", r, "--epochs", "3", "--quiet"]);
        assert_user_error(&o, 3, needle);
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert_eq!(snapshot(&run_dir), before, "resume with latest = {damage:?} changed the run");
        let o = run(&["train", &cfg, "--epochs", "1", "--out", r, "--quiet"]);
        assert_user_error(&o, 3, needle);
        assert_eq!(snapshot(&run_dir), before, "--out with latest = {damage:?} changed the run");
    }
    // A link to nothing is no pointer either.
    std::fs::remove_file(&pointer).unwrap();
    std::os::unix::fs::symlink("nowhere", &pointer).unwrap();
    let before = snapshot(&run_dir);
    assert_user_error(&run(&["train", "--resume", r, "--epochs", "3", "--quiet"]), 3, "checkpoints/latest");
    assert_eq!(snapshot(&run_dir), before);
    assert!(run_dir.join("checkpoints/epoch-0002/model.bpk").is_file());

    // A sweep's run with a damaged pointer is not taken for one that never started.
    let grid = tmp.path().join("grid.toml");
    std::fs::write(&grid, "base = \"small.toml\"\nseeds = [1]\n").unwrap();
    let sweep = tmp.path().join("sweep");
    let o = run(&["sweep", "plan", grid.to_str().unwrap(), "--out", sweep.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sweep.join("plan.json")).unwrap()).unwrap();
    let entry = &plan["runs"][0];
    let (config, run_of) = (sweep.join(entry["config"].as_str().unwrap()), sweep.join(entry["run"].as_str().unwrap()));
    // Trained on the plan's config as it is: a run of other settings there is refused before this.
    let o = run(&["train", config.to_str().unwrap(), "--out", run_of.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(run_of.join("summary.json")).unwrap();
    std::fs::write(run_of.join("checkpoints/latest"), "3").unwrap();
    let before = snapshot(&run_of);
    let o = run(&["sweep", "run", sweep.to_str().unwrap(), "--index", "0"]);
    assert_user_error(&o, 3, "not a checkpoint pointer");
    assert_eq!(snapshot(&run_of), before, "the sweep's run was cleared");
}

#[test]
fn resume_refuses_a_folder_that_only_holds_a_config_of_the_users() {
    let tmp = tempfile::tempdir().unwrap();
    let wide = tmp.path().join("experiments/wide");
    std::fs::create_dir_all(&wide).unwrap();
    let text =
        format!("# my own notes on this config\n{}", small_config(1000, 100, "name = \"sgd\"\nlearning_rate = 0.1"));
    std::fs::write(wide.join("config.toml"), &text).unwrap();
    std::fs::write(wide.join("history.csv"), "my own table\n").unwrap();
    let before = snapshot(&wide);
    let o = run(&["train", "--resume", wide.to_str().unwrap(), "--epochs", "1", "--quiet"]);
    assert_user_error(&o, 2, "is not a run directory");
    assert!(stderr(&o).contains(&format!("mnist-lab train {}", wide.join("config.toml").display())), "{}", stderr(&o));
    assert_eq!(snapshot(&wide), before, "nothing added, removed or replaced");
}

#[test]
fn a_schedule_that_decays_the_rate_to_zero_resumes_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    // 0.1·(1e-40)^(epoch−1): 0 in f32 from epoch 3, 0 in f64 at epoch 10, as Keras allows.
    let text = format!(
        "{}[schedule]\nname = \"exponential\"\nfactor = 1e-40\n",
        small_config(1000, 100, "name = \"sgd\"\nlearning_rate = 0.1")
    );
    let cfg = config_file(tmp.path(), "decay.toml", &text);
    let run_dir = tmp.path().join("run");
    let r = run_dir.to_str().unwrap();
    let o = run(&["train", &cfg, "--epochs", "10", "--out", r, "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let history = std::fs::read_to_string(run_dir.join("history.csv")).unwrap();
    assert_eq!(history.lines().last().unwrap().split(',').nth(5), Some("0"), "{history}");
    let o = run(&["train", "--resume", r, "--epochs", "11", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(summary(&run_dir)["epochs_run"], 11);
    let o = run(&["report", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

/// The pids of the processes whose parent is `pid` (Linux' /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            // `pid (comm) state ppid …`; comm may hold spaces, so read after its `)`.
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok()) == Some(pid)
        })
        .collect()
}

#[test]
fn sigterm_to_a_parallel_sweep_stops_its_runs_with_their_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    // Batch 1 on 5000 images, 300 epochs: far from done when the signal comes.
    let text = small_config(5000, 1, "name = \"sgd\"\nlearning_rate = 0.01").replace("epochs = 3", "epochs = 300");
    config_file(tmp.path(), "slow.toml", &text);
    let grid = tmp.path().join("grid.toml");
    std::fs::write(&grid, "base = \"slow.toml\"\nseeds = [1, 2]\n").unwrap();
    let sweep = tmp.path().join("sweep");
    let o = run(&["sweep", "plan", grid.to_str().unwrap(), "--out", sweep.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut parent = bin()
        .args(["sweep", "run", sweep.to_str().unwrap(), "--jobs", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let runs: Vec<std::path::PathBuf> = std::fs::read_dir(sweep.join("configs"))
        .unwrap()
        .map(|e| sweep.join("runs").join(e.unwrap().path().file_stem().unwrap()))
        .collect();
    assert_eq!(runs.len(), 2);
    wait_for("both runs' first checkpoint", || runs.iter().all(|r| r.join("checkpoints/latest").exists()));
    // To the parent alone, as `kill` or a batch system sends it.
    let status = std::process::Command::new("kill").args(["-TERM", &parent.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while parent.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // Its children too, which would otherwise train on, orphaned.
            for child in children_of(parent.id()) {
                let _ = std::process::Command::new("kill").args(["-KILL", &child.to_string()]).status();
            }
            parent.kill().unwrap();
            panic!("the sweep still ran 30 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = parent.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    for r in &runs {
        let log = sweep.join("logs").join(format!("{}.log", r.file_name().unwrap().to_str().unwrap()));
        let log = std::fs::read_to_string(log).unwrap();
        assert!(log.contains("error: terminated (SIGTERM) during epoch"), "{log}");
        assert!(r.join("checkpoints/latest").exists() && !r.join("summary.json").exists());
    }
}
