//! Sweeps on this machine: plan a grid × seeds, run it with parallel workers, skip what is
//! finished, resume what was killed, leave a locked run to its worker, collect mean ± std;
//! grid-file mistakes are one `error:` line naming the key.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::common::*;

/// `mnist-lab sweep ARGS…` without the scheduler variables of the environment the tests run in.
fn sweep(args: &[&str]) -> Output {
    sweep_env(args, &[])
}

fn sweep_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bin();
    cmd.arg("sweep").args(args).env_remove("SLURM_ARRAY_TASK_ID").env_remove("JOB_COMPLETION_INDEX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), stdout(o), stderr(o));
    stdout(o)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A grid file in `dir`; returns its path.
fn grid(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn plan_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap()
}

fn ids(dir: &Path) -> Vec<String> {
    plan_json(dir)["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

/// Mean ± sample std, as `collect` prints them.
fn mean_std(xs: &[f64], scale: f64, digits: usize) -> String {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    format!("{:.digits$} ± {:.digits$}", m * scale, sd * scale)
}

const TWO_BY_TWO: &str = r#"
base = "overfit"
seeds = [1, 2]
[set]
"train.epochs" = 2
[grid]
"optimizer.learning_rate" = [0.1, 0.5]
"#;

#[test]
fn a_two_by_two_grid_runs_two_at_a_time_once_and_collects_mean_and_std() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", TWO_BY_TWO);
    let dir = tmp.path().join("sweep");

    let out = ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    assert!(out.contains("4 runs planned (2 grid points × 2 seeds)"), "{out}");
    let plan = plan_json(&dir);
    let runs = plan["runs"].as_array().unwrap();
    assert_eq!(plan["keys"], serde_json::json!(["optimizer.learning_rate"]));
    let points: Vec<_> = runs.iter().map(|r| (r["point"][0].as_f64().unwrap(), r["seed"].as_u64().unwrap())).collect();
    assert_eq!(points, [(0.1, 1), (0.1, 2), (0.5, 1), (0.5, 2)]);
    let id = ids(&dir);
    for (i, r) in runs.iter().enumerate() {
        let cfg = formats::config::ExperimentConfig::from_file(&dir.join(r["config"].as_str().unwrap())).unwrap();
        assert_eq!((cfg.optimizer.learning_rate(), cfg.train.seed, cfg.train.epochs), (points[i].0, points[i].1, 2));
        assert_eq!(cfg.data.train_limit, Some(1000), "the rest is the preset's");
        assert_eq!(mnist_lab::sweep::plan::config_id(&cfg), id[i]);
    }

    // The same grid again: nothing changes. Another grid into the same folder: refused.
    let before = std::fs::read(dir.join("plan.json")).unwrap();
    let out = ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    assert!(out.contains("already holds this plan: 4 runs"), "{out}");
    assert_eq!(std::fs::read(dir.join("plan.json")).unwrap(), before);
    let other = grid(tmp.path(), "other.toml", &TWO_BY_TWO.replace("0.5]", "0.3]"));
    assert_user_error(&sweep(&["plan", s(&other), "--out", s(&dir)]), 2, "holds a different plan");
    assert_eq!(std::fs::read(dir.join("plan.json")).unwrap(), before);

    let out = ok(&sweep(&["run", s(&dir), "--jobs", "2"]));
    assert!(out.contains("0 of 4 runs already finished; training 4 with 2 at a time"), "{out}");
    let progress: Vec<&str> = out.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(progress.len(), 4, "one line per run:\n{out}");
    for k in 1..=4 {
        let line = progress[k - 1];
        assert!(line.starts_with(&format!("[{k}/4] run ")) && line.contains("test accuracy"), "{line}");
    }
    let summaries: Vec<PathBuf> = id.iter().map(|i| dir.join("runs").join(i).join("summary.json")).collect();
    for (i, p) in summaries.iter().enumerate() {
        assert!(p.is_file(), "run {i} finished");
        assert_eq!(summary(p.parent().unwrap())["epochs_run"], 2);
        assert!(dir.join("logs").join(format!("{}.log", id[i])).is_file());
    }
    let stamps: Vec<SystemTime> = summaries.iter().map(|p| mtime(p)).collect();

    // A finished index returns at once, whether named or taken from the scheduler's variable.
    let start = Instant::now();
    let out = ok(&sweep(&["run", s(&dir), "--index", "0"]));
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    assert!(
        out.contains(&format!("run 0 of 4 ({}: optimizer.learning_rate=0.1, seed 1): already finished", id[0])),
        "{out}"
    );
    let out = ok(&sweep_env(&["run", s(&dir)], &[("SLURM_ARRAY_TASK_ID", "3"), ("JOB_COMPLETION_INDEX", "1")]));
    assert!(out.contains("run 3 of 4") && out.contains("already finished"), "{out}");
    let out = ok(&sweep_env(&["run", s(&dir)], &[("JOB_COMPLETION_INDEX", "2")]));
    assert!(out.contains("run 2 of 4") && out.contains("already finished"), "{out}");
    let out = ok(&sweep(&["run", s(&dir), "--jobs", "2"]));
    assert!(out.contains("all 4 runs") && out.contains("already finished"), "{out}");
    let again: Vec<SystemTime> = summaries.iter().map(|p| mtime(p)).collect();
    assert_eq!(again, stamps, "nothing was trained twice");

    // collect: n, mean ± std over the two seeds, from the runs' own summaries.
    let o = sweep(&["collect", s(&dir)]);
    let table = ok(&o);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "| optimizer.learning_rate | n | test accuracy (%) | best epoch |", "{table}");
    for (row, lr, runs) in [(2, "0.1", [0, 1]), (3, "0.5", [2, 3])] {
        let acc: Vec<f64> =
            runs.iter().map(|&r| summary(summaries[r].parent().unwrap())["test_accuracy"].as_f64().unwrap()).collect();
        let best: Vec<f64> =
            runs.iter().map(|&r| summary(summaries[r].parent().unwrap())["best_epoch"].as_f64().unwrap()).collect();
        let want = format!("| {lr} | 2 | {} | {} |", mean_std(&acc, 100.0, 2), mean_std(&best, 1.0, 1));
        assert_eq!(lines[row], want, "{table}");
    }
    assert_eq!(lines.len(), 4, "{table}");

    // With --out: the table and the curves, mean ± std band per grid point.
    let html = tmp.path().join("out/report.html");
    ok(&sweep(&["collect", s(&dir), "--out", s(&html)]));
    let page = std::fs::read_to_string(&html).unwrap();
    for needle in
        ["<table>", "<svg", "<polygon", "optimizer.learning_rate=0.1 (n=2)", "optimizer.learning_rate=0.5 (n=2)", " ± "]
    {
        assert!(page.contains(needle), "{needle} in the page");
    }
    let png = image::open(html.with_extension("png")).unwrap();
    assert_eq!((png.width(), png.height()), (960, 600));
    let md = tmp.path().join("report.md");
    ok(&sweep(&["collect", s(&dir), "--out", s(&md)]));
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains(lines[2]) && text.contains("](report.png)"), "{text}");

    // A run that vanished is listed, not dropped, and `run --jobs` trains only it.
    std::fs::remove_dir_all(dir.join("runs").join(&id[3])).unwrap();
    let o = sweep(&["collect", s(&dir)]);
    let table = ok(&o);
    assert!(table.contains("| 0.5 | 1 of 2 |"), "{table}");
    assert!(
        table.contains(&format!("- run 3 ({}, optimizer.learning_rate=0.5, seed 2): not started", id[3])),
        "{table}"
    );
    assert!(stderr(&o).starts_with("warning: 1 of 4 runs have not finished"), "{}", stderr(&o));
    let out = ok(&sweep(&["run", s(&dir), "--jobs", "2"]));
    assert!(out.contains("3 of 4 runs already finished; training 1"), "{out}");
    assert!(out.contains("[1/1] run 3 of 4"), "{out}");
    assert_eq!(summaries[..3].iter().map(|p| mtime(p)).collect::<Vec<_>>(), stamps[..3]);
}

/// history.csv's lines, the wall-clock column included: a resumed run keeps its first epochs as
/// they were written, a retrained one would have new times.
fn history(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("history.csv")).unwrap().lines().map(String::from).collect()
}

#[test]
fn a_killed_run_resumes_from_its_checkpoint_and_a_locked_one_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", "base = \"softmax\"\nseeds = [7]\n[set]\n\"train.epochs\" = 5\n");
    let dir = tmp.path().join("sweep");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let id = ids(&dir).remove(0);
    let run = dir.join("runs").join(&id);

    let mut child = bin()
        .args(["sweep", "run", s(&dir), "--index", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let latest = run.join("checkpoints/latest");
    let deadline = Instant::now() + Duration::from_secs(180);
    while std::fs::read_to_string(&latest).map_or(true, |s| s.trim() < "epoch-0002") {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: the lock goes with the process
    child.wait().unwrap();
    assert!(!run.join("summary.json").exists(), "killed before the end");
    let done: usize = std::fs::read_to_string(&latest).unwrap().trim().trim_start_matches("epoch-").parse().unwrap();
    let before = history(&run);
    assert!(before.len() > done, "history has the {done} checkpointed epochs");

    let o = sweep(&["collect", s(&dir)]);
    let table = ok(&o);
    assert!(table.contains("| base | 0 of 1 | — | — |"), "{table}");
    assert!(table.contains(&format!("run 0 ({id}, base, seed 7): unfinished ({done} epochs checkpointed)")), "{table}");

    // Another worker holds the lock: this one leaves the run alone.
    let lock = std::fs::File::create(dir.join("locks").join(format!("{id}.lock"))).unwrap();
    lock.try_lock().unwrap();
    let out = ok(&sweep(&["run", s(&dir), "--index", "0"]));
    assert!(out.contains("another worker is training it"), "{out}");
    let out = ok(&sweep(&["run", s(&dir), "--jobs", "1"]));
    assert!(out.contains("[1/1] run 0 of 1") && out.contains("another worker is training it"), "{out}");
    assert_eq!(history(&run), before, "untouched while locked");
    drop(lock);

    let out = ok(&sweep(&["run", s(&dir), "--index", "0"]));
    assert!(out.contains(&format!("resuming after epoch {done} of 5")), "{out}");
    let after = history(&run);
    assert_eq!(after.len(), 6, "header and five epochs");
    assert_eq!(after[..=done], before[..=done], "the checkpointed epochs were not trained again");
    assert_eq!(summary(&run)["epochs_run"], 5);
}

#[test]
fn a_run_stopped_before_its_first_checkpoint_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", "base = \"overfit\"\nseeds = [3]\n[set]\n\"train.epochs\" = 1\n");
    let dir = tmp.path().join("sweep");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let run = dir.join("runs").join(ids(&dir).remove(0));
    // What `train` leaves when killed during its first epoch: a claimed directory, no checkpoint.
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("config.toml"), "# mnist-lab run\n").unwrap();
    let out = ok(&sweep(&["run", s(&dir), "--index", "0"]));
    assert!(out.contains("run 0 of 1") && out.contains(": starting"), "{out}");
    assert_eq!(summary(&run)["epochs_run"], 1);
}

#[test]
fn grid_and_command_line_mistakes_are_errors_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let cases: &[(&str, &str)] = &[
        ("base = \"overfit\"\nseed = 1\n", "unknown field `seed`"),
        (
            "base = \"overfit\"\n[grid]\n\"optimizer.learnin_rate\" = [0.1, 0.5]\n",
            "`optimizer.learnin_rate` is not a config key",
        ),
        (
            "base = \"overfit\"\n[set]\n\"train.epochs\" = \"two\"\n",
            "`train.epochs` does not fit the config: invalid type: string \"two\"",
        ),
        (
            "base = \"overfit\"\n[grid]\n\"train.batch_size\" = [10, 2.5]\n",
            "`train.batch_size` does not fit the config",
        ),
        (
            "base = \"overfit\"\n[grid]\n\"optimizer.learning_rate\" = [0.1, 0]\n",
            "`optimizer.learning_rate` must be a positive number",
        ),
        (
            "base = \"overfit\"\n[grid]\n\"model.hidden[1].dropout\" = [0.5]\n",
            "`model.hidden[1].dropout`: `model.hidden` has 1 entries",
        ),
        ("base = \"no-such-preset\"\n", "no preset named `no-such-preset`"),
        ("base = \"missing.toml\"\n", "missing.toml"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let g = grid(tmp.path(), &format!("g{i}.toml"), text);
        let o = sweep(&["plan", s(&g), "--out", s(&dir)]);
        assert_user_error(&o, 2, needle);
        assert!(stderr(&o).contains(&format!("g{i}.toml")), "names the file: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "one line: {}", stderr(&o));
        assert!(!dir.join("plan.json").exists(), "nothing planned");
    }
    let o = sweep(&["plan", s(&tmp.path().join("nope.toml")), "--out", s(&dir)]);
    assert_user_error(&o, 2, "cannot read grid file");

    // A folder holding something else is not taken over.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let g = grid(tmp.path(), "good.toml", "base = \"overfit\"\nseeds = [1, 2]\n[set]\n\"train.epochs\" = 1\n");
    assert_user_error(&sweep(&["plan", s(&g), "--out", s(&foreign)]), 2, "holds no sweep plan");

    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    assert_user_error(&sweep(&["run", s(&dir), "--index", "2"]), 2, "--index 2 is out of range");
    // A job array wider than the plan is told by the variable it set, not by a flag it never gave.
    let o = sweep_env(&["run", s(&dir)], &[("SLURM_ARRAY_TASK_ID", "2")]);
    assert_user_error(&o, 2, "$SLURM_ARRAY_TASK_ID=2 is out of range: ");
    assert!(!stderr(&o).contains("--index"), "{}", stderr(&o));
    assert_user_error(&sweep(&["run", s(&dir)]), 2, "--index");
    assert_user_error(&sweep_env(&["run", s(&dir)], &[("SLURM_ARRAY_TASK_ID", "x")]), 2, "$SLURM_ARRAY_TASK_ID is `x`");
    assert_user_error(&sweep(&["run", s(&dir), "--jobs", "0"]), 2, "--jobs");
    assert_user_error(&sweep(&["collect", s(tmp.path())]), 2, "not a sweep directory");
    assert_user_error(&sweep(&["collect", s(&dir), "--out", "r.txt"]), 2, ".html or .md");
    assert_user_error(&sweep(&["slurm", s(&dir), "--time", "1h"]), 2, "--time 1h");
    assert_user_error(&sweep(&["slurm", s(&dir), "--max-parallel", "0"]), 2, "--max-parallel");
    // Edited after planning: refused rather than trained under the wrong id.
    let cfg = dir.join("configs").join(format!("{}.toml", ids(&dir)[0]));
    let text = std::fs::read_to_string(&cfg).unwrap().replace("epochs = 1", "epochs = 3");
    std::fs::write(&cfg, text).unwrap();
    assert_user_error(&sweep(&["run", s(&dir), "--index", "0"]), 2, "does not match its id");
}

#[test]
fn the_slurm_script_is_a_requeueable_array_over_the_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", TWO_BY_TWO);
    let dir = tmp.path().join("sweep");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let out = ok(&sweep(&[
        "slurm",
        s(&dir),
        "--max-parallel",
        "3",
        "--time",
        "00:05:00",
        "--cpus-per-task",
        "2",
        "--partition",
        "debug",
    ]));
    let abs = std::fs::canonicalize(&dir).unwrap();
    let script = abs.join("sweep.sbatch");
    assert_eq!(out.trim(), format!("sbatch {}", script.display()));
    let text = std::fs::read_to_string(&script).unwrap();
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_mnist-lab")).unwrap();
    for line in [
        "#!/bin/bash".to_string(),
        "#SBATCH --array=0-3%3".into(),
        "#SBATCH --time=00:05:00".into(),
        "#SBATCH --cpus-per-task=2".into(),
        "#SBATCH --partition=debug".into(),
        "#SBATCH --requeue".into(),
        format!("#SBATCH --output=\"{}/logs/slurm-%A_%a.out\"", abs.display()),
        "export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"".into(),
        format!("exec '{}' sweep run '{}' --index \"$SLURM_ARRAY_TASK_ID\"", exe.display(), abs.display()),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    assert!(abs.join("logs").is_dir(), "Slurm does not make the log folder itself");
    let o = std::process::Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(o.status.success(), "bash -n: {}", stderr(&o));
}

/// Every file under `dir` with its size and time: what "nothing here was written" compares.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(f) = folders.pop() {
        for e in std::fs::read_dir(&f).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                folders.push(e.path());
            }
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

const TWO_SEEDS: &str = "base = \"overfit\"\nseeds = [1, 2]\n[set]\n\"train.epochs\" = 2\n";

#[test]
fn a_symlinked_entry_is_refused_by_run_and_collect_and_nothing_outside_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", TWO_SEEDS);
    let dir = tmp.path().join("sweep");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let id = ids(&dir);
    // The user's own unfinished run (checkpointed, no summary): the kind that used to be resumed.
    let (_keep, theirs) = train_run(&["overfit", "--epochs", "2"]);
    std::fs::remove_file(theirs.join("summary.json")).unwrap();
    let before = snapshot(&theirs);
    std::fs::create_dir_all(dir.join("runs")).unwrap();
    std::os::unix::fs::symlink(&theirs, dir.join("runs").join(&id[0])).unwrap();

    let o = sweep(&["run", s(&dir), "--index", "0"]);
    assert_user_error(&o, 2, &format!("run 0 of 2 ({}", id[0]));
    assert!(stderr(&o).contains(&format!("runs/{} is a symbolic link", id[0])), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    // The whole plan: run 1 trains, run 0 is named and left alone.
    let o = sweep(&["run", s(&dir), "--jobs", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!("warning: run 0 of 2 ({}", id[0])) && lines[0].contains("not trained"),
        "{err}"
    );
    assert!(lines[1].starts_with("error: 1 runs of") && lines[1].contains("(runs 0;"), "{err}");
    assert!(stdout(&o).contains("[1/1] run 1 of 2"), "{}", stdout(&o));
    assert_eq!(summary(&dir.join("runs").join(&id[1]))["epochs_run"], 2);

    // collect: run 1 alone is averaged; run 0 is listed apart, by name.
    let o = sweep(&["collect", s(&dir)]);
    let table = ok(&o);
    assert!(table.contains("| base | 1 of 2 |"), "{table}");
    assert!(
        table.contains(&format!(
            "- run 0 ({}, base, seed 1): not this sweep's own: runs/{} is a symbolic link",
            id[0], id[0]
        )),
        "{table}"
    );
    assert!(stderr(&o).contains("1 of 2 runs are not this sweep's own and were not averaged"), "{}", stderr(&o));
    assert_eq!(snapshot(&theirs), before, "nothing of the user's run was written");

    // A link inside a run folder is refused the same way.
    let history = dir.join("runs").join(&id[1]).join("history.csv");
    let elsewhere = tmp.path().join("history.csv");
    std::fs::rename(&history, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &history).unwrap();
    let table = ok(&sweep(&["collect", s(&dir)]));
    assert!(table.contains("| base | 0 of 2 |"), "{table}");
    assert!(table.contains(&format!("runs/{}/history.csv is a symbolic link", id[1])), "{table}");
}

#[test]
fn a_run_of_another_config_in_an_entry_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", TWO_SEEDS);
    let dir = tmp.path().join("sweep");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let id = ids(&dir);
    ok(&sweep(&["run", s(&dir), "--index", "1"]));
    // Run 1 (seed 2) copied in as run 0: trained, but not on run 0's config.
    let (from, to) = (dir.join("runs").join(&id[1]), dir.join("runs").join(&id[0]));
    let o = std::process::Command::new("cp").arg("-a").arg(&from).arg(&to).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let before = snapshot(&to);

    let o = sweep(&["collect", s(&dir)]);
    let table = ok(&o);
    let acc = summary(&from)["test_accuracy"].as_f64().unwrap() * 100.0;
    assert!(table.contains(&format!("| base | 1 of 2 | {acc:.2} |")), "the copy is not averaged: {table}");
    assert!(
        table.contains(&format!(
            "- run 0 ({}, base, seed 1): not this sweep's own: runs/{}/config.toml is not the plan's config",
            id[0], id[0]
        )),
        "{table}"
    );
    assert!(stderr(&o).contains("not this sweep's own and were not averaged"), "{}", stderr(&o));

    let o = sweep(&["run", s(&dir), "--index", "0"]);
    assert_user_error(&o, 2, &format!("run 0 of 2 ({}", id[0]));
    assert!(stderr(&o).contains("is not the plan's config"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert_eq!(snapshot(&to), before, "the foreign run was not trained on");
}

#[test]
fn a_plan_listing_a_run_twice_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", TWO_SEEDS);
    let dir = tmp.path().join("sweep");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let mut plan = plan_json(&dir);
    let mut copy = plan["runs"][0].clone();
    copy["index"] = 1.into();
    plan["runs"][1] = copy;
    std::fs::write(dir.join("plan.json"), serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    for args in [vec!["collect", s(&dir)], vec!["run", s(&dir), "--jobs", "1"], vec!["run", s(&dir), "--index", "1"]] {
        let o = sweep(&args);
        assert_user_error(&o, 3, "runs 0 and 1 are the same run");
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert!(!dir.join("runs").exists() && !dir.join("locks").exists(), "nothing was trained");
}

#[test]
fn a_damaged_summary_is_collected_around_and_trained_again() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", TWO_SEEDS);
    let dir = tmp.path().join("sweep");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let id = ids(&dir);
    ok(&sweep(&["run", s(&dir), "--jobs", "1"]));
    let (run0, run1) = (dir.join("runs").join(&id[0]), dir.join("runs").join(&id[1]));
    let good = std::fs::read_to_string(run0.join("summary.json")).unwrap();
    let before = history(&run0);
    std::fs::write(run0.join("summary.json"), &good[..good.len() / 2]).unwrap();

    let o = sweep(&["collect", s(&dir)]);
    let table = ok(&o);
    let acc = summary(&run1)["test_accuracy"].as_f64().unwrap() * 100.0;
    assert!(table.contains(&format!("| base | 1 of 2 | {acc:.2} |")), "{table}");
    assert!(table.contains("Damaged results (1 of 2 runs; `mnist-lab sweep run` trains them again):"), "{table}");
    assert!(table.contains(&format!("- run 0 ({}, base, seed 1): damaged results:", id[0])), "{table}");
    assert!(table.contains("summary.json is not a valid summary"), "{table}");
    assert!(stderr(&o).contains("warning: 1 of 2 runs have damaged results"), "{}", stderr(&o));
    let html = tmp.path().join("report.html");
    ok(&sweep(&["collect", s(&dir), "--out", s(&html)]));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<p>Damaged results (1 of 2 runs;"), "{page}");
    assert!(page.contains(&format!("<li>run 0 ({}, base, seed 1): damaged results:", id[0])), "{page}");

    // Not counted as finished: trained again, from its last checkpoint.
    let out = ok(&sweep(&["run", s(&dir), "--index", "0"]));
    assert!(out.contains("its results are damaged") && out.contains("resuming after epoch 2 of 2"), "{out}");
    assert_eq!(summary(&run0)["epochs_run"], 2);
    assert_eq!(history(&run0), before, "resumed, not retrained");
    let o = sweep(&["collect", s(&dir)]);
    assert!(ok(&o).contains("| base | 2 |"), "{}", stdout(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn diverged_runs_are_listed_as_diverged() {
    let tmp = tempfile::tempdir().unwrap();
    // A learning rate of 1e30: with a validation split the loss is NaN within epoch 1 (nothing
    // checkpointed); without, only the test set sees it, after epoch 1 was checkpointed.
    let text = small_config(100, 100, "name = \"sgd\"\nlearning_rate = 1e30");
    config_file(tmp.path(), "boom.toml", &text);
    let g = grid(
        tmp.path(),
        "grid.toml",
        "base = \"boom.toml\"\nseeds = [1]\n[set]\n\"train.epochs\" = 1\n[grid]\n\"data.validation\" = [0, 1000]\n",
    );
    let dir = tmp.path().join("sweep");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let id = ids(&dir);
    let o = sweep(&["run", s(&dir), "--jobs", "2"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stdout(&o).contains("training diverged"), "{}", stdout(&o));

    let o = sweep(&["collect", s(&dir)]);
    let table = ok(&o);
    assert!(table.contains("Diverged (2 of 2 runs)"), "{table}");
    assert!(!table.contains("not started") && !table.contains("unfinished"), "{table}");
    assert!(
        table.contains(&format!("- run 0 ({}, data.validation=0, seed 1): diverged: the test loss is ", id[0]))
            && table.contains("after epoch 1"),
        "{table}"
    );
    assert!(
        table.contains(&format!("- run 1 ({}, data.validation=1000, seed 1): diverged: the ", id[1]))
            && table.contains("in epoch 1"),
        "{table}"
    );
    assert!(stderr(&o).contains("warning: 2 of 2 runs diverged"), "{}", stderr(&o));
}

/// A line break, `|` or control character in a grid value neither splits nor garbles
/// `collect`'s Markdown rows, and reaches the terminal escaped.
#[test]
fn grid_values_with_line_breaks_and_control_characters_stay_in_their_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let g = grid(
        tmp.path(),
        "g.toml",
        "base = \"overfit\"\nseeds = [1]\n[set]\n\"train.epochs\" = 1\n[grid]\nlesson = [\"a\\nb | c\", \"d\\u001b[31me\"]\n",
    );
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    let o = sweep(&["collect", s(&dir)]);
    let out = stdout(&o);
    assert!(!out.contains('\u{1b}') && !stderr(&o).contains('\u{1b}'), "{out}");
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let table_row = line.starts_with('|');
        assert!(table_row || line.starts_with("- ") || line.ends_with(':'), "a split row: {line:?}\n{out}");
        if table_row {
            assert!(line.ends_with('|') && line.matches(" | ").count() == 3, "{line:?}");
        }
    }
}

/// `s` as one bash word, as a user would type it (not the binary's own quoting).
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn a_hostile_sweep_folder_reaches_the_slurm_task_as_one_word_and_injects_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Unquoted, `&` backgrounds the task, `{touch,PWNED}` runs touch, `(` breaks the parse, `#`
    // cuts the rest, `$`, backticks and quotes expand or close.
    let dir = tmp.path().join("x&{touch,PWNED};#").join("results(v2) it's \"q\" $HOME `id` ; a");
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let g = grid(tmp.path(), "grid.toml", "base = \"overfit\"\nseeds = [1]\n[set]\n\"train.epochs\" = 1\n");
    ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    // The data behind a hostile name too (`}` ended `${MNIST_LAB_DATA:-…}` early).
    let data = tmp.path().join("d}a'ta $x");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(mnist_dir(), data.join("mnist")).unwrap();

    let out = ok(&sweep_env(&["slurm", s(&dir)], &[("MNIST_LAB_DATA", s(&data))]));
    let abs = std::fs::canonicalize(&dir).unwrap();
    let script = abs.join("sweep.sbatch");
    assert_eq!(out.trim(), format!("sbatch {}", sh_quote(s(&script))), "a command to paste");
    let o = std::process::Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(o.status.success(), "bash -n: {}", stderr(&o));

    // What a Slurm task does: run the script as array task 0, here without Slurm, with an empty
    // home (no data to fall back on there) and no MNIST_LAB_DATA: the data must come from the
    // path written into the script.
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let o = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(tmp.path())
        .env("SLURM_ARRAY_TASK_ID", "0")
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env_remove("MNIST_LAB_DATA")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    assert!(o.status.success(), "the task failed:\n{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("run 0 of 1"), "{}", stdout(&o));
    assert!(abs.join("runs").join(&ids(&dir)[0]).join("summary.json").is_file(), "the run trained in the sweep");
    assert!(!tmp.path().join("PWNED").exists() && !abs.join("PWNED").exists(), "touch ran");
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0, "nothing fetched into the default cache");
}

#[test]
fn a_sweep_folder_an_sbatch_line_cannot_carry_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let g = grid(tmp.path(), "grid.toml", "base = \"overfit\"\nseeds = [1]\n");
    for (name, shown) in [("100%", "100%"), ("new\nline", "new\\nline"), ("back\\slash", "back\\slash")] {
        let dir = tmp.path().join(name);
        ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
        let o = sweep(&["slurm", s(&dir)]);
        assert_user_error(&o, 2, &format!("{shown}: the sweep folder's path holds"));
        assert_eq!(stderr(&o).lines().count(), 1, "one line: {}", stderr(&o));
        assert!(!dir.join("sweep.sbatch").exists() && !dir.join("logs").exists(), "nothing written");
    }
}

/// The most values per key [`big_grid`] makes, so every dropout stays below 1.
const MAX_VALUES: usize = 10_000;

/// A grid of `keys` keys (at most 6) with `values` values each, every one a valid config value.
fn big_grid(keys: usize, values: usize) -> String {
    assert!(keys <= 6 && values <= MAX_VALUES);
    let value = |key: &str, i: usize| match key {
        "optimizer.learning_rate" => format!("{:e}", (i + 1) as f64 * 1e-6),
        "model.hidden[0].dropout" => format!("{:?}", i as f64 / (MAX_VALUES + 1) as f64),
        "data.train_limit" => (i + 1000).to_string(),
        _ => (i + 1).to_string(),
    };
    let mut text = String::from("base = \"overfit\"\nseeds = [1]\n[grid]\n");
    for key in [
        "optimizer.learning_rate",
        "train.epochs",
        "train.batch_size",
        "model.hidden[0].units",
        "model.hidden[0].dropout",
        "data.train_limit",
    ]
    .into_iter()
    .take(keys)
    {
        let list: Vec<String> = (0..values).map(|i| value(key, i)).collect();
        text.push_str(&format!("\"{key}\" = [{}]\n", list.join(", ")));
    }
    text
}

#[test]
fn a_grid_past_the_run_limit_is_refused_by_its_count_before_anything_is_built() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    // 6 keys × 100 values: 10¹² runs, which once allocated until the process aborted.
    let g = grid(tmp.path(), "huge.toml", &big_grid(6, 100));
    let o = sweep(&["plan", s(&g), "--out", s(&dir)]);
    assert_user_error(
        &o,
        2,
        "the grid makes 1000000000000 runs (100 × 100 × 100 × 100 × 100 × 100 grid points × 1 seeds), \
         more than --max-runs 100000 allows",
    );
    assert!(stderr(&o).contains("--max-runs 1000000000000"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "one line: {}", stderr(&o));
    assert!(!dir.exists(), "nothing written");
    // 10²⁰ does not fit in 64 bits: over any limit.
    let g = grid(tmp.path(), "overflow.toml", &big_grid(5, MAX_VALUES));
    let o = sweep(&["plan", s(&g), "--out", s(&dir), "--max-runs", &usize::MAX.to_string()]);
    assert_user_error(&o, 2, &format!("the grid makes more than {} runs", usize::MAX));
    assert!(!dir.exists(), "nothing written");

    // --max-runs moves the limit both ways.
    let g = grid(tmp.path(), "five.toml", "base = \"overfit\"\nseeds = [1, 2, 3, 4, 5]\n");
    let o = sweep(&["plan", s(&g), "--out", s(&dir), "--max-runs", "4"]);
    assert_user_error(&o, 2, "the grid makes 5 runs (1 grid points × 5 seeds), more than --max-runs 4 allows");
    assert!(stderr(&o).contains("--max-runs 5"), "{}", stderr(&o));
    assert!(!dir.exists(), "nothing written");
    let out = ok(&sweep(&["plan", s(&g), "--out", s(&dir), "--max-runs", "5"]));
    assert!(out.contains("5 runs planned"), "{out}");
    assert_eq!(ids(&dir).len(), 5);
}

#[test]
fn twenty_thousand_seeds_are_planned_and_a_repeat_among_them_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 20_000;
    let seeds: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let text = format!("base = \"overfit\"\nseeds = [{}]\n", seeds.join(", "));
    let g = grid(tmp.path(), "seeds.toml", &text);
    let dir = tmp.path().join("sweep");
    let o = sweep(&["plan", s(&g), "--out", s(&dir)]);
    let out = ok(&o);
    assert!(out.contains(&format!("{n} runs planned (1 grid points × {n} seeds)")), "{out}");
    assert_eq!(stderr(&o), "", "no progress line off a terminal");
    let ids = ids(&dir);
    assert_eq!(ids.len(), n);
    assert_eq!(std::fs::read_dir(dir.join("configs")).unwrap().count(), n, "one config per run, no leftovers");
    let last = formats::config::ExperimentConfig::from_file(&dir.join("configs").join(format!("{}.toml", ids[n - 1])))
        .unwrap();
    assert_eq!(last.train.seed, n as u64 - 1);

    // The same seed again at the end: found, however far from its twin.
    let g = grid(tmp.path(), "twice.toml", &text.replace("]\n", ", 0]\n"));
    let again = tmp.path().join("again");
    assert_user_error(
        &sweep(&["plan", s(&g), "--out", s(&again)]),
        2,
        &format!("runs 0 and {n} of the grid have the same config"),
    );
    assert!(!again.exists(), "nothing written");
}

/// A grid that switches the optimizer gives each its own keys and Keras' defaults, with the
/// keys [set] gives on top; a date, which no config key takes, is one error naming its key.
#[test]
fn switching_the_optimizer_in_a_grid_and_dates_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let g = grid(
        tmp.path(),
        "g.toml",
        "base = \"monster\"\nseeds = [1]\n[set]\n\"optimizer.learning_rate\" = 0.01\n\
         [grid]\n\"optimizer.name\" = [\"sgd\", \"adam\", \"adadelta\"]\n",
    );
    let out = ok(&sweep(&["plan", s(&g), "--out", s(&dir)]));
    assert!(out.contains("3 runs planned"), "{out}");
    let configs: Vec<String> = plan_json(&dir)["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| std::fs::read_to_string(dir.join(r["config"].as_str().unwrap())).unwrap())
        .collect();
    let adam = configs.iter().find(|c| c.contains("name = \"adam\"")).expect("an adam run");
    assert!(adam.contains("learning_rate = 0.01") && adam.contains("beta_1 = 0.9") && !adam.contains("rho"), "{adam}");
    let sgd = configs.iter().find(|c| c.contains("name = \"sgd\"")).expect("an sgd run");
    assert!(sgd.contains("momentum = 0.0") && !sgd.contains("rho"), "{sgd}");

    let g = grid(tmp.path(), "d.toml", "base = \"overfit\"\n[grid]\nlesson = [1979-05-27T07:32:00Z]\n");
    let o = sweep(&["plan", s(&g), "--out", s(&tmp.path().join("dates"))]);
    assert_user_error(&o, 2, "`lesson` = 1979-05-27T07:32:00Z: a date is not a config value");
    assert!(!stderr(&o).contains("__toml"), "{}", stderr(&o));
}
