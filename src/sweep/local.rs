//! `sweep run --jobs N`: every unfinished entry of a plan, N child processes (`sweep run DIR
//! --index I`, each with its own log) at a time, Ctrl-C and SIGTERM passed on so that each child
//! checkpoints, and a tally of what ended how.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use formats::error;

use super::entry::{Worker, accuracy_of, describe};
use super::plan::{self, LOGS, State};
use crate::data;
use crate::run::{SUMMARY_FILE, Stop};
use formats::plan::{Entry, Plan};

/// With N > 1 children and no RAYON_NUM_THREADS of the user's: the cores shared out.
fn child_threads(jobs: usize) -> Option<String> {
    if jobs <= 1 || std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Some((cores / jobs).max(1).to_string())
}

/// The last `error:` line of a log, for the progress line of a failed run.
fn last_error(log: &Path) -> String {
    // Its end only: a child's log of a long run is as long as its epochs.
    formats::read::tail(log, formats::read::NOTE, 64 << 10)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .and_then(|t| {
            t.lines().rev().find(|l| l.starts_with("error:")).map(|l| l.trim_start_matches("error:").trim().to_string())
        })
        .unwrap_or_else(|| "no error message".into())
}

struct Running<'a> {
    child: Child,
    entry: &'a Entry,
    log: PathBuf,
    started: Instant,
    /// A summary older than this was written by another worker.
    spawned: SystemTime,
}

/// The children of `sweep run --jobs N` still running.
struct Children<'a>(Vec<Running<'a>>);

impl Drop for Children<'_> {
    /// Only on an error (or a panic) are any left: each is asked to stop as by SIGTERM (it
    /// checkpoints), given a few seconds, then killed, and always waited for.
    fn drop(&mut self) {
        self.0.iter().for_each(|r| terminate(&r.child));
        let deadline = Instant::now() + Duration::from_secs(10);
        for r in &mut self.0 {
            while matches!(r.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// Ask `child` to stop as a SIGTERM does: it finishes its batch, keeps its checkpoint, exits 143.
fn terminate(child: &Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) has no memory effects; the pid is a child not yet waited for, so it
        // still names that child and no other process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// `sweep run DIR --index I` for `entry` as a child process, its output into its log.
fn spawn_run<'a>(
    exe: &Path,
    dir: &Path,
    entry: &'a Entry,
    worker: &Worker,
    threads: Option<&str>,
) -> Result<Running<'a>> {
    let logs = dir.join(LOGS);
    let log = logs.join(format!("{}.log", entry.id));
    let out = plan::no_follow()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| error::runtime(format!("cannot open {}: {e}", log.display())))?;
    let err = out.try_clone().map_err(|e| error::runtime(format!("cannot open {}: {e}", log.display())))?;
    let mut cmd = Command::new(exe);
    cmd.arg("sweep").arg("run").arg(dir).arg("--index").arg(entry.index.to_string());
    if let Some(d) = &worker.data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    if worker.offline {
        cmd.arg("--offline");
    }
    if let Some(b) = worker.backend {
        cmd.arg("--backend").arg(b.as_str());
    }
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t);
    }
    // Never read from the terminal: a child's output goes to its log only.
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| error::runtime(format!("cannot start {}: {e}", exe.display())))?;
    Ok(Running { child, entry, log, started: Instant::now(), spawned: SystemTime::now() })
}

/// How a child's run ended, for the tally.
enum Ended {
    Finished,
    Busy,
    Stopped,
    Failed,
}

/// How the run of `r` ended, and its progress line's text.
fn how_it_ended(dir: &Path, plan: &Plan, r: &Running, status: std::process::ExitStatus) -> (Ended, String) {
    let run_dir = dir.join(&r.entry.run);
    let finished = plan::state(dir, plan, r.entry) == State::Finished;
    let written_here =
        fs::metadata(run_dir.join(SUMMARY_FILE)).and_then(|m| m.modified()).is_ok_and(|t| t >= r.spawned);
    if finished && written_here {
        let what = format!("{}, {:.1} s", accuracy_of(&run_dir), r.started.elapsed().as_secs_f64());
        (Ended::Finished, what)
    } else if finished {
        // Another worker on the same plan got there first: its run, not this one's.
        (Ended::Busy, "finished by another worker".to_string())
    } else if status.success() {
        (Ended::Busy, "another worker is training it".to_string())
    } else if [error::Kind::Interrupted, error::Kind::Terminated].iter().any(|k| status.code() == Some(k.exit_code())) {
        (Ended::Stopped, "interrupted; its last complete epoch is checkpointed".to_string())
    } else {
        (Ended::Failed, format!("failed ({}): {}; log: {}", status, last_error(&r.log), r.log.display()))
    }
}

/// Every unfinished entry of the plan in `dir`, `jobs` child processes (`sweep run DIR --index
/// I`) at a time; `say` gets a line as each run ends.
pub fn run_all(dir: &Path, plan: &Plan, jobs: usize, worker: &Worker, say: &mut dyn FnMut(&str)) -> Result<()> {
    let n = plan.runs.len();
    let (todo, refused) = to_train(dir, plan);
    if todo.is_empty() && !refused.is_empty() {
        return Err(refused_error(dir, &refused));
    }
    if todo.is_empty() {
        say(&format!(
            "all {n} runs of {} already finished; `mnist-lab sweep collect {}` shows the results",
            dir.display(),
            dir.display()
        ));
        return Ok(());
    }
    // Fetched once here rather than by every child at once.
    for dataset in plan::datasets(dir, &todo)? {
        data::fetch::ensure(dataset, &data::data_dir(worker.data_dir.as_deref(), dataset), worker.offline)?;
    }
    let logs = dir.join(LOGS);
    crate::files::create_dir_inside(dir, &logs)?;
    let exe = std::env::current_exe().map_err(|e| error::runtime(format!("cannot find this executable: {e}")))?;
    let threads = child_threads(jobs);
    say(&format!(
        "{} of {n} runs already finished; training {} with {jobs} at a time{} (logs in {})",
        n - todo.len() - refused.len(),
        todo.len(),
        threads.as_ref().map(|t| format!(", RAYON_NUM_THREADS={t} each")).unwrap_or_default(),
        logs.display()
    ));

    // Ctrl-C reaches the children too (same process group): they checkpoint and stop; here no
    // new run starts. A SIGTERM (sent to this process alone, as `kill` and batch systems do) is
    // passed on to each child, with the same effect. A second signal exits at once.
    let stop = Stop::install();

    let total = todo.len();
    let mut queue = todo.into_iter();
    // Dropped on any early return (or panic): the children still running are stopped, not orphaned.
    let mut running = Children(Vec::new());
    let mut passed_on = false;
    let mut tally = Tally { total, ..Tally::default() };
    loop {
        while running.0.len() < jobs && !stop.requested() {
            let Some(entry) = queue.next() else { break };
            running.0.push(spawn_run(&exe, dir, entry, worker, threads.as_deref())?);
        }
        if running.0.is_empty() {
            break;
        }
        if !passed_on && stop.requested() && stop.kind() == error::Kind::Terminated {
            running.0.iter().for_each(|r| terminate(&r.child));
            passed_on = true;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut i = 0;
        while i < running.0.len() {
            let status =
                running.0[i].child.try_wait().map_err(|e| error::runtime(format!("cannot wait for a run: {e}")))?;
            let Some(status) = status else {
                i += 1;
                continue;
            };
            let r = running.0.swap_remove(i);
            tally.ended += 1;
            let (how, what) = how_it_ended(dir, plan, &r, status);
            match how {
                Ended::Finished => {}
                Ended::Busy => tally.busy += 1,
                Ended::Stopped => tally.stopped += 1,
                Ended::Failed => tally.failed.push(r.entry.index),
            }
            say(&format!("[{}/{total}] {}: {what}", tally.ended, describe(plan, r.entry)));
        }
    }

    tally.close(dir, jobs, &stop, say)?;
    if !refused.is_empty() {
        return Err(refused_error(dir, &refused));
    }
    Ok(())
}

/// The entries still to train, and the indices of those refused as not the sweep's own (each
/// with a warning).
fn to_train<'a>(dir: &Path, plan: &'a Plan) -> (Vec<&'a Entry>, Vec<usize>) {
    let (mut todo, mut refused) = (Vec::new(), Vec::new());
    for e in &plan.runs {
        match plan::state(dir, plan, e) {
            State::Finished => {}
            State::Foreign(why) => {
                errln!("warning: {}: not this sweep's own run ({why}); not trained", describe(plan, e));
                refused.push(e.index);
            }
            _ => todo.push(e),
        }
    }
    (todo, refused)
}

/// The error of `sweep run --jobs` when entries were left untrained as not the sweep's own.
fn refused_error(dir: &Path, refused: &[usize]) -> anyhow::Error {
    error::config(format!(
        "{} runs of {} are not this sweep's own and were not trained (runs {}; see the warnings above)",
        refused.len(),
        dir.display(),
        refused.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    ))
}

/// How the runs of `run_all` ended.
#[derive(Default)]
struct Tally {
    total: usize,
    ended: usize,
    /// Finished by, or still held by, another worker.
    busy: usize,
    stopped: usize,
    failed: Vec<usize>,
}

impl Tally {
    /// What `run_all` tells at the end: where the runs of other workers stand, and an error
    /// when not every run here finished.
    fn close(&self, dir: &Path, jobs: usize, stop: &Stop, say: &mut dyn FnMut(&str)) -> Result<()> {
        let Tally { total, busy, stopped, ref failed, .. } = *self;
        let again = format!("mnist-lab sweep run {} --jobs {jobs}", dir.display());
        if busy > 0 {
            say(&format!(
                "{busy} runs were being trained by other workers; `mnist-lab sweep collect {}` shows when they are done",
                dir.display()
            ));
        }
        if stop.requested() || stopped > 0 {
            return Err(stop.error(&format!("— `{again}` carries on where it stopped")));
        }
        if !failed.is_empty() {
            return Err(error::runtime(format!(
                "{} of {total} runs failed (runs {}); see their logs, then `{again}` retries them",
                failed.len(),
                failed.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(())
    }
}
