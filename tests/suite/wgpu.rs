//! The GPU half: the binary built with `--features wgpu`, driven as a user would, on whatever
//! adapter the machine has. CI runs these on Mesa's lavapipe (Vulkan on the CPU, 128 MiB buffers):
//! `VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json cargo test --release --features wgpu
//! --test suite -- wgpu::`. They fail, never skip, where no adapter is found.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

/// The binary with no backend chosen by the environment.
fn lab(args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args(args).env_remove("BURN_DEVICE");
    cmd
}

fn ok(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("the binary runs");
    assert!(o.status.success(), "{:?} failed:\n{}", cmd, stderr(&o));
    o
}

/// `eval --json` of `run` on `backend`: (test accuracy, test loss).
fn eval(run: &Path, backend: &str) -> (f64, f64) {
    let o = ok(&mut lab(&["eval", run.to_str().unwrap(), "--backend", backend, "--json"]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["backend"], backend);
    (v["test_accuracy"].as_f64().unwrap(), v["test_loss"].as_f64().unwrap())
}

/// With every graphics driver hidden: no Vulkan ICD, no EGL vendor library (OpenGL).
fn without_drivers(cmd: &mut Command) -> &mut Command {
    cmd.env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent.json")
}

#[test]
fn baseline_trains_on_the_full_data_and_evaluates_alike_on_both_backends() {
    let tmp = tempfile::tempdir().unwrap();
    let gpu_run = tmp.path().join("gpu");
    // 50 000 training images: 157 MB as f32, more than lavapipe's 128 MiB buffers.
    ok(lab(&["train", "baseline", "--epochs", "1", "--backend", "wgpu", "--quiet", "--out"]).arg(&gpu_run));
    let s = summary(&gpu_run);
    assert_eq!(s["backend"], "wgpu");
    let accuracy = s["test_accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.90, "baseline, 1 epoch on wgpu: {accuracy}");
    let (on_flex, loss_flex) = eval(&gpu_run, "flex");
    let (on_gpu, loss_gpu) = eval(&gpu_run, "wgpu");
    assert!((on_gpu - accuracy).abs() <= 1e-4 && (on_flex - on_gpu).abs() <= 1e-4, "{accuracy} {on_gpu} {on_flex}");
    assert!((loss_flex - loss_gpu).abs() <= 1e-4, "test loss {loss_flex} on flex, {loss_gpu} on wgpu");

    // And the reverse: a run trained on the CPU reads the same on the GPU.
    let cpu_run = tmp.path().join("cpu");
    ok(lab(&["train", "softmax", "--epochs", "1", "--backend", "flex", "--quiet", "--out"]).arg(&cpu_run));
    let accuracy = summary(&cpu_run)["test_accuracy"].as_f64().unwrap();
    let (on_gpu, _) = eval(&cpu_run, "wgpu");
    assert!((on_gpu - accuracy).abs() <= 1e-4, "flex {accuracy}, wgpu {on_gpu}");
}

#[test]
fn monster_trains_an_epoch_with_dropout_on_wgpu_and_resumes_on_flex() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("monster");
    ok(lab(&["train", "monster", "--epochs", "1", "--backend", "wgpu", "--quiet", "--out"]).arg(&run));
    assert_eq!(summary(&run)["backend"], "wgpu");
    ok(&mut lab(&["train", "--resume", run.to_str().unwrap(), "--epochs", "2", "--backend", "flex", "--quiet"]));
    let s = summary(&run);
    assert_eq!((s["backend"].as_str(), s["epochs_run"].as_u64()), (Some("flex"), Some(2)));
    let accuracy = s["test_accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.95, "monster after 1 epoch on wgpu and 1 on flex: {accuracy}");
    let history = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "header + 2 epochs:\n{history}");
}

#[test]
fn without_an_adapter_train_falls_back_to_the_cpu_with_one_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let o = ok(without_drivers(lab(&["train", "baseline", "--epochs", "1", "--quiet", "--out"]).arg(&run)));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one line:\n{err}");
    assert!(err.starts_with("warning: no usable wgpu adapter") && err.contains("libvulkan1"), "{err}");
    assert_ne!(summary(&run)["backend"], "wgpu");
}

#[test]
fn without_an_adapter_an_explicit_wgpu_is_one_error_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    for args in [&["--backend", "wgpu"][..], &[]] {
        let mut cmd = lab(&["train", "baseline", "--epochs", "1", "--out"]);
        cmd.arg(&run).args(args);
        if args.is_empty() {
            cmd.env("BURN_DEVICE", "wgpu");
        }
        let o = without_drivers(&mut cmd).output().unwrap();
        assert_user_error(&o, 4, "no usable wgpu adapter");
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert!(!run.exists(), "no run directory is made");
    }
    let o = without_drivers(&mut lab(&["devices"])).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("wgpu adapters: none found"), "{}", stdout(&o));
}

#[test]
fn devices_lists_the_adapter_with_its_buffer_limit() {
    let o = ok(&mut lab(&["devices"]));
    let out = stdout(&o);
    let line = out.lines().find(|l| l.contains("largest buffer")).unwrap_or_else(|| panic!("no adapter:\n{out}"));
    let mib: u64 = line.split("largest buffer ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(mib >= 128, "{line}");
    // A software adapter (lavapipe, llvmpipe) is not picked over the faster CPU backend unasked.
    let software_only = out.lines().filter(|l| l.contains("largest buffer")).all(|l| l.contains("[software]"));
    let pick = out.lines().find(|l| l.starts_with("train would run on: ")).unwrap();
    assert_eq!(pick.starts_with("train would run on: wgpu"), !software_only, "{out}");
    if software_only {
        assert!(stderr(&o).starts_with("warning: the only wgpu adapter is"), "{}", stderr(&o));
    }
}

/// On a headless machine without `XDG_RUNTIME_DIR` (containers, batch jobs), no line that is not
/// mnist-lab's says `error:` on a run that works (libwayland's complaint, from wgpu's probe for
/// a display, used to).
#[test]
fn no_foreign_error_lines_without_xdg_runtime_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let mut devices = lab(&["devices"]);
    let mut train = lab(&["train", "overfit", "--epochs", "1", "--backend", "wgpu", "--quiet", "--out"]);
    train.arg(tmp.path().join("run"));
    for cmd in [&mut devices, &mut train] {
        let o = ok(cmd.env_remove("XDG_RUNTIME_DIR"));
        let err = stderr(&o);
        assert!(!err.lines().any(|l| l.contains("error:")), "{cmd:?}:\n{err}");
    }
}

/// Hundreds of short wgpu commands, four at a time: none may die as it exits. A pool thread that
/// had touched EGL during the adapter search used to exit beside `exit`'s run of libEGL's
/// destructor and free the same thread-local state twice ("double free or corruption", or a
/// segmentation fault, about once in a few hundred exits; more often with many Mesa threads).
#[test]
fn wgpu_commands_never_crash_as_they_exit() {
    let crashed: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..100)
                        .filter_map(|_| {
                            let o = lab(&["devices"]).env("LP_NUM_THREADS", "16").output().unwrap();
                            (!o.status.success()).then(|| format!("{:?}: {}", o.status, stderr(&o)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert!(crashed.is_empty(), "{} of 400 `devices` runs failed:\n{}", crashed.len(), crashed.join("\n"));
}
