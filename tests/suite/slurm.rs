//! A sweep on a real Slurm: a single-node cluster started for the test
//! (scripts/slurm-single-node.sh), the generated job array submitted with sbatch, waited for,
//! collected; then submitted again, which must train nothing. It needs root and Debian's
//! `slurm-wlm` and `munge` (apt-get install -y slurm-wlm munge), and fails where Slurm cannot
//! start: it never skips. Since it starts daemons as root (and makes a munge key when there is
//! none), a plain `cargo test` leaves it out; CI runs it with
//! `cargo test --release --test suite -- --ignored slurm::`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

use crate::common::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/slurm-single-node.sh");

/// The daemons `start` started, stopped when dropped: also when an assertion fails.
struct Cluster {
    state: PathBuf,
    conf: String,
}

impl Cluster {
    fn start(state: &Path) -> Self {
        let mut cluster = Cluster { state: state.to_path_buf(), conf: String::new() };
        let o = Command::new("bash").arg(SCRIPT).arg("start").arg(state).output().expect("bash runs");
        assert!(
            o.status.success(),
            "could not start a single-node Slurm (needs root and `apt-get install -y slurm-wlm munge`):\n{}{}",
            stdout(&o),
            stderr(&o)
        );
        cluster.conf = stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("export SLURM_CONF="))
            .expect("start prints SLURM_CONF")
            .to_string();
        cluster
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// `sbatch --parsable SCRIPT` → the job id.
    fn submit(&self, script: &str) -> String {
        let o = self.cmd("sbatch").arg("--parsable").arg(script).output().expect("sbatch runs");
        assert!(o.status.success(), "sbatch failed:\n{}", stderr(&o));
        stdout(&o).trim().split(';').next().unwrap().to_string()
    }

    /// Wait until every task of array job `job` has ended; returns (task id, state) pairs.
    fn wait(&self, job: &str, tasks: usize, logs: &Path) -> Vec<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let o = self
                .cmd("squeue")
                .args(["-h", "-r", "-t", "all", "-j", job, "-o", "%i %T"])
                .output()
                .expect("squeue runs");
            assert!(o.status.success(), "squeue failed:\n{}", stderr(&o));
            let rows: Vec<(String, String)> = stdout(&o)
                .lines()
                .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.trim().to_string())))
                .collect();
            let ended = |s: &str| {
                [
                    "COMPLETED",
                    "FAILED",
                    "CANCELLED",
                    "TIMEOUT",
                    "NODE_FAIL",
                    "OUT_OF_MEMORY",
                    "BOOT_FAIL",
                    "DEADLINE",
                    "PREEMPTED",
                ]
                .iter()
                .any(|e| s.starts_with(e))
            };
            if rows.len() == tasks && rows.iter().all(|(_, s)| ended(s)) {
                return rows;
            }
            if Instant::now() > deadline {
                panic!("job {job} not done after 600 s: {rows:?}\nlogs:\n{}", read_logs(logs));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        match Command::new("bash").arg(SCRIPT).arg("stop").arg(&self.state).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("stopping Slurm failed:\n{}", stderr(&o)),
            Err(e) => eprintln!("stopping Slurm failed: {e}"),
        }
    }
}

fn read_logs(logs: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(logs).into_iter().flatten().flatten() {
        out.push_str(&format!(
            "== {}\n{}\n",
            e.path().display(),
            std::fs::read_to_string(e.path()).unwrap_or_default()
        ));
    }
    out
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), stdout(o), stderr(o));
    stdout(o)
}

#[test]
#[ignore = "starts munged, slurmctld and slurmd as root: cargo test --release --test suite -- --ignored slurm::"]
fn a_sweep_runs_as_a_slurm_job_array_and_a_resubmission_trains_nothing() {
    // Under target/, where the compute "node" (this machine) can read and write it.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let cluster = Cluster::start(&tmp.path().join("slurm"));

    let grid = tmp.path().join("grid.toml");
    std::fs::write(
        &grid,
        "base = \"overfit\"\nseeds = [1, 2]\n[set]\n\"train.epochs\" = 2\n[grid]\n\"optimizer.learning_rate\" = [0.1, 0.5]\n",
    )
    .unwrap();
    let dir = tmp.path().join("sweep");
    let d = dir.to_str().unwrap();
    ok(&run(&["sweep", "plan", grid.to_str().unwrap(), "--out", d]));
    let out = ok(&run(&["sweep", "slurm", d, "--max-parallel", "2", "--time", "00:10:00", "--cpus-per-task", "1"]));
    let script = out.trim().strip_prefix("sbatch ").expect("prints the sbatch command").to_string();
    assert!(std::fs::read_to_string(&script).unwrap().contains("#SBATCH --array=0-3%2"));

    let logs = dir.join("logs");
    let job = cluster.submit(&script);
    let states = cluster.wait(&job, 4, &logs);
    assert!(states.iter().all(|(_, s)| s == "COMPLETED"), "{states:?}\n{}", read_logs(&logs));
    let runs: Vec<PathBuf> = std::fs::read_dir(dir.join("runs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 4);
    for t in 0..4 {
        let log = std::fs::read_to_string(logs.join(format!("slurm-{job}_{t}.out"))).unwrap();
        assert!(
            log.contains(&format!("run {t} of 4")) && log.contains(": starting") && log.contains("test accuracy"),
            "{log}"
        );
    }

    let table = ok(&run(&["sweep", "collect", d]));
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| 0.")).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for row in rows {
        assert!(row.contains(" | 2 | ") && row.contains(" ± "), "{table}");
    }
    assert!(!table.contains("\n- run "), "no run listed as without results: {table}");

    // Submitted again (as after a requeue or a crash): every task finds its run finished.
    let stamps: Vec<SystemTime> =
        runs.iter().map(|r| std::fs::metadata(r.join("summary.json")).unwrap().modified().unwrap()).collect();
    let again = cluster.submit(&script);
    let states = cluster.wait(&again, 4, &logs);
    assert!(states.iter().all(|(_, s)| s == "COMPLETED"), "{states:?}\n{}", read_logs(&logs));
    for t in 0..4 {
        let log = std::fs::read_to_string(logs.join(format!("slurm-{again}_{t}.out"))).unwrap();
        assert!(log.contains("already finished"), "{log}");
    }
    let after: Vec<SystemTime> =
        runs.iter().map(|r| std::fs::metadata(r.join("summary.json")).unwrap().modified().unwrap()).collect();
    assert_eq!(after, stamps);
    drop(cluster);
}
