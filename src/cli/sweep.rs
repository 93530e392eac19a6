//! `mnist-lab sweep`: plan a grid of settings × seeds into a directory, run its entries (one for
//! a scheduler, or all of them here, N child processes at a time), collect mean ± std per grid
//! point, and write a Slurm job-array script.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use clap::{Args, Subcommand};

use super::train::{self, TrainArgs};
use super::{BackendArg, DataArgs, Progress};
use crate::artifacts::{RunDir, SUMMARY_FILE, check_destination};
use crate::config::{Dataset, ExperimentConfig};
use crate::files::write_atomic;
use crate::report::plot;
use crate::sweep::collect;
use crate::sweep::grid::{self, Grid};
use crate::sweep::plan::{self, Entry, LOGS, Plan, State};
use crate::sweep::progress::Progress as PlanProgress;
use crate::sweep::slurm;
use crate::{data, error};

#[derive(Subcommand, Debug)]
pub enum SweepCommand {
    /// Resolve every run of a grid file into DIR and print how many there are.
    ///
    /// The grid file (TOML):
    ///
    ///   base = "overfit"                 # a preset, or a path to a config .toml (relative to this file)
    ///   seeds = [1, 2, 3]                # one run per seed at every grid point
    ///   [set]                            # dotted config keys, applied to every run
    ///   "train.epochs" = 20
    ///   [grid]                           # dotted config keys → values; every combination is a point
    ///   "optimizer.learning_rate" = [0.1, 0.5]
    ///   "model.hidden[0].dropout" = [0.0, 0.5]
    ///
    /// DIR gets plan.json (one entry per run: index, id, grid point, seed) and configs/<id>.toml
    /// (each run's full config); ids are hashes of the resolved configs. Planning the same grid
    /// into the same DIR again changes nothing; a different plan there is refused.
    #[command(verbatim_doc_comment)]
    Plan(PlanArgs),
    /// Run one entry of the plan (what a scheduler's array task runs), or all of them here.
    ///
    /// A run trains into DIR/runs/<id>/. A finished run (its summary.json reads back) returns at
    /// once; an interrupted one, or one whose results are damaged, resumes from its last
    /// checkpoint. An entry that is not what the plan made (a symbolic link, a run of another
    /// config) is refused, never trained into. A lock file per run
    /// (DIR/locks/<id>.lock) keeps two workers from training the same entry, so re-running after
    /// a crash, or beside another worker, trains every run exactly once.
    Run(RunArgs),
    /// Per grid point: n, mean ± std over seeds of the test accuracy and the best epoch.
    ///
    /// Prints a Markdown table; the runs without results are listed under it by what happened to
    /// them (damaged, diverged, unfinished, not started, not this sweep's own), never averaged.
    /// With --out also the validation accuracy per epoch of every grid point (mean, shaded ± std
    /// over seeds).
    Collect(CollectArgs),
    /// Write DIR/sweep.sbatch, a Slurm job array with one task per run, and print the sbatch command.
    ///
    /// Each array task runs `mnist-lab sweep run DIR --index $SLURM_ARRAY_TASK_ID` with this
    /// executable's absolute path, RAYON_NUM_THREADS set to its CPUs; logs go to DIR/logs/.
    /// Tasks are requeueable (`--requeue`): a requeued or resubmitted task resumes its run from
    /// the last checkpoint, a finished one returns at once. The data is checked (and fetched)
    /// now, so the tasks do not all download it.
    Slurm(SlurmArgs),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The grid file (TOML).
    #[arg(value_name = "GRID.toml")]
    pub grid: PathBuf,
    /// The sweep directory to write.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Refuse a grid that makes more runs than this (grid points × seeds), before building any.
    #[arg(long, value_name = "N", default_value_t = grid::MAX_RUNS)]
    pub max_runs: usize,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The sweep directory (from `sweep plan`).
    pub dir: PathBuf,
    /// The entry to run, from 0. Default: $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX
    /// (Kubernetes Indexed Jobs).
    #[arg(long, value_name = "I", conflicts_with = "jobs")]
    pub index: Option<usize>,
    /// Run every unfinished entry here, N child processes at a time, one line per run as it
    /// ends (each child's output goes to DIR/logs/<id>.log). With N > 1 and RAYON_NUM_THREADS
    /// unset, each child gets RAYON_NUM_THREADS = CPU cores / N (at least 1), so the children
    /// share the cores instead of fighting over them.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Data directory (default: $MNIST_LAB_DATA, else ~/.cache/mnist-lab).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Never download: fail if the data is not already in the data directory.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub backend: BackendArg,
}

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Also write a report: FILE.html (self-contained) or FILE.md; the curves go next to it as
    /// <stem>.svg and <stem>.png.
    #[arg(long, value_name = "FILE.html|FILE.md")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SlurmArgs {
    /// The sweep directory (on a file system the compute nodes share).
    pub dir: PathBuf,
    /// At most K array tasks at once (`--array=0-N%K`); default: as many as Slurm allows.
    #[arg(long, value_name = "K")]
    pub max_parallel: Option<usize>,
    /// Time limit of each task (HH:MM:SS; default: the partition's). A task stopped by it is
    /// not requeued by Slurm: submit the script again and it resumes.
    #[arg(long, value_name = "HH:MM:SS")]
    pub time: Option<String>,
    /// CPUs per task; RAYON_NUM_THREADS follows it.
    #[arg(long, value_name = "C", default_value_t = 2)]
    pub cpus_per_task: usize,
    /// The partition to submit to (default: the cluster's default partition).
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
}

pub fn run(command: SweepCommand) -> Result<()> {
    match command {
        SweepCommand::Plan(args) => plan_cmd(args),
        SweepCommand::Run(args) => run_cmd(args),
        SweepCommand::Collect(args) => collect_cmd(args),
        SweepCommand::Slurm(args) => slurm_cmd(args),
    }
}

fn plan_cmd(args: PlanArgs) -> Result<()> {
    let mut progress = PlanProgress::stderr();
    let grid = Grid::load(&args.grid, args.max_runs, &mut progress)?;
    let plan = Plan::from_grid(&grid)?;
    let existed = plan.write(&args.out, &grid, &mut progress)?;
    progress.clear();
    let n = plan.runs.len();
    let points = n / plan.seeds.len().max(1);
    let dir = args.out.display();
    if existed {
        outln!(
            "{dir} already holds this plan: {n} runs ({points} grid points × {} seeds), nothing changed",
            plan.seeds.len()
        );
    } else {
        outln!("{n} runs planned ({points} grid points × {} seeds) in {dir}", plan.seeds.len());
    }
    outln!("run them here with `mnist-lab sweep run {dir} --jobs 2`, or on Slurm with `mnist-lab sweep slurm {dir}`");
    Ok(())
}

/// `$SLURM_ARRAY_TASK_ID`, else `$JOB_COMPLETION_INDEX`, with the variable's name.
fn index_from_env() -> Result<Option<(usize, &'static str)>> {
    for var in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return match v.trim().parse() {
                Ok(i) => Ok(Some((i, var))),
                Err(_) => Err(error::config(format!("${var} is `{v}`, not a run index"))),
            };
        }
    }
    Ok(None)
}

fn run_cmd(args: RunArgs) -> Result<()> {
    let plan = Plan::load(&args.dir)?;
    plan::check_folders(&args.dir)?;
    if let Some(jobs) = args.jobs {
        if jobs == 0 {
            return Err(error::config("--jobs must be at least 1"));
        }
        return run_all(&plan, jobs, &args);
    }
    let (index, source) = match args.index {
        Some(i) => (i, format!("--index {i}")),
        None => {
            let (i, var) = index_from_env()?.ok_or_else(|| {
                error::config(
                    "which run? give --index I (or set $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX), \
                     or --jobs N to run the whole plan here",
                )
            })?;
            (i, format!("${var}={i}"))
        }
    };
    if index >= plan.runs.len() {
        // Said with where the index came from: a job array wider than the plan gets this too.
        return Err(error::config(match plan.runs.len() {
            0 => format!("{source}: {} plans no runs", args.dir.display()),
            n => format!("{source} is out of range: {} plans {n} runs, 0 to {}", args.dir.display(), n - 1),
        }));
    }
    run_one(&plan, index, &args)
}

/// The error of an entry that is not what the plan made.
fn refused(desc: &str, why: &str) -> anyhow::Error {
    error::config(format!(
        "{desc}: not this sweep's own run ({why}); it is neither trained nor collected — move it away and run again"
    ))
}

fn describe(plan: &Plan, e: &Entry) -> String {
    format!("run {} of {} ({}: {}, seed {})", e.index, plan.runs.len(), e.id, plan.label(e), e.seed)
}

fn accuracy_of(run: &Path) -> String {
    RunDir::open(run)
        .and_then(|r| r.summary())
        .map(|s| format!("test accuracy {:.2} %, best epoch {}", s.test_accuracy * 100.0, s.best_epoch))
        .unwrap_or_else(|e| format!("unreadable summary: {e:#}"))
}

/// One entry: skip it when finished or held by another worker, else train or resume it.
fn run_one(plan: &Plan, index: usize, args: &RunArgs) -> Result<()> {
    let dir = &args.dir;
    let entry = &plan.runs[index];
    let desc = describe(plan, entry);
    let run_dir = dir.join(&entry.run);
    match plan::state(dir, entry) {
        State::Finished => {
            outln!("{desc}: already finished ({})", accuracy_of(&run_dir));
            return Ok(());
        }
        // Before the lock: a symbolic link there would have it written outside the sweep.
        State::Foreign(why) => return Err(refused(&desc, &why)),
        _ => {}
    }
    let Some(_lock) = plan::try_lock(dir, entry)? else {
        outln!(
            "{desc}: another worker is training it ({} is held); nothing to do here",
            plan::lock_path(dir, entry).display()
        );
        return Ok(());
    };
    // It may have changed between the first look and the lock.
    match plan::state(dir, entry) {
        State::Finished => {
            outln!("{desc}: already finished ({})", accuracy_of(&run_dir));
            return Ok(());
        }
        State::Foreign(why) => return Err(refused(&desc, &why)),
        State::Damaged(why) => {
            // Trained again below, from its last checkpoint when it has one; until then it
            // reads as unfinished rather than as results.
            let summary = run_dir.join(SUMMARY_FILE);
            fs::remove_file(&summary)
                .map_err(|e| error::runtime(format!("cannot remove {}: {e}", summary.display())))?;
            outln!("{desc}: its results are damaged ({why}); training it again");
        }
        _ => {}
    }
    let config_path = dir.join(&entry.config);
    let cfg = ExperimentConfig::from_file(&config_path)?;
    if plan::config_id(&cfg) != entry.id {
        return Err(error::config(format!(
            "{} does not match its id in plan.json (edited after planning?); plan the grid again into a new directory",
            config_path.display()
        )));
    }
    let mut train_args = TrainArgs {
        preset: None,
        epochs: None,
        batch_size: None,
        learning_rate: None,
        seed: None,
        data: DataArgs { dataset: None, data_dir: args.data_dir.clone(), offline: args.offline },
        out: None,
        resume: None,
        backend: args.backend.clone(),
        progress: Progress::Never,
        quiet: false,
    };
    if plan::has_checkpoint(&run_dir) {
        let done = crate::train::checkpoint::completed_epochs(&run_dir)?;
        outln!("{desc}: resuming after epoch {done} of {}", cfg.train.epochs);
        train_args.resume = Some(run_dir);
    } else {
        // Stopped before its first epoch ended: nothing in it is worth keeping.
        if run_dir.exists() {
            fs::remove_dir_all(&run_dir)
                .map_err(|e| error::runtime(format!("cannot clear {}: {e}", run_dir.display())))?;
        }
        outln!("{desc}: starting");
        let path = config_path
            .to_str()
            .ok_or_else(|| error::config(format!("{} is not valid UTF-8", config_path.display())))?;
        train_args.preset = Some(path.to_string());
        train_args.out = Some(run_dir);
    }
    train::run(train_args)
}

/// The datasets the plan's runs use, each once.
fn datasets(dir: &Path, entries: &[&Entry]) -> Result<Vec<Dataset>> {
    let mut out = Vec::new();
    for e in entries {
        let d = ExperimentConfig::from_file(&dir.join(&e.config))?.data.dataset;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

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
    fs::read_to_string(log)
        .ok()
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
    entry: &'a Entry,
    logs: &Path,
    args: &RunArgs,
    threads: Option<&str>,
) -> Result<Running<'a>> {
    let log = logs.join(format!("{}.log", entry.id));
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| error::runtime(format!("cannot open {}: {e}", log.display())))?;
    let err = out.try_clone().map_err(|e| error::runtime(format!("cannot open {}: {e}", log.display())))?;
    let mut cmd = Command::new(exe);
    cmd.arg("sweep").arg("run").arg(&args.dir).arg("--index").arg(entry.index.to_string());
    if let Some(d) = &args.data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    if args.offline {
        cmd.arg("--offline");
    }
    if let Some(b) = args.backend.backend {
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
fn how_it_ended(dir: &Path, r: &Running, status: std::process::ExitStatus) -> (Ended, String) {
    let run_dir = dir.join(&r.entry.run);
    let finished = plan::state(dir, r.entry) == State::Finished;
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

/// Every unfinished entry, `jobs` child processes (`sweep run DIR --index I`) at a time.
fn run_all(plan: &Plan, jobs: usize, args: &RunArgs) -> Result<()> {
    let dir = &args.dir;
    let n = plan.runs.len();
    let (mut todo, mut refused) = (Vec::new(), Vec::new());
    for e in &plan.runs {
        match plan::state(dir, e) {
            State::Finished => {}
            State::Foreign(why) => {
                errln!("warning: {}: not this sweep's own run ({why}); not trained", describe(plan, e));
                refused.push(e.index);
            }
            _ => todo.push(e),
        }
    }
    if todo.is_empty() && !refused.is_empty() {
        return Err(refused_error(dir, &refused));
    }
    if todo.is_empty() {
        outln!(
            "all {n} runs of {} already finished; `mnist-lab sweep collect {}` shows the results",
            dir.display(),
            dir.display()
        );
        return Ok(());
    }
    // Fetched once here rather than by every child at once.
    for dataset in datasets(dir, &todo)? {
        data::fetch::ensure(dataset, &data::data_dir(args.data_dir.as_deref(), dataset), args.offline)?;
    }
    let logs = dir.join(LOGS);
    fs::create_dir_all(&logs).map_err(|e| error::runtime(format!("cannot create {}: {e}", logs.display())))?;
    let exe = std::env::current_exe().map_err(|e| error::runtime(format!("cannot find this executable: {e}")))?;
    let threads = child_threads(jobs);
    outln!(
        "{} of {n} runs already finished; training {} with {jobs} at a time{} (logs in {})",
        n - todo.len() - refused.len(),
        todo.len(),
        threads.as_ref().map(|t| format!(", RAYON_NUM_THREADS={t} each")).unwrap_or_default(),
        logs.display()
    );

    // Ctrl-C reaches the children too (same process group): they checkpoint and stop; here no
    // new run starts. A SIGTERM (sent to this process alone, as `kill` and batch systems do) is
    // passed on to each child, with the same effect. A second signal exits at once.
    let stop = super::signals::Stop::install();

    let total = todo.len();
    let mut queue = todo.into_iter();
    // Dropped on any early return (or panic): the children still running are stopped, not orphaned.
    let mut running = Children(Vec::new());
    let mut passed_on = false;
    let (mut ended, mut failed, mut busy, mut stopped) = (0usize, Vec::new(), 0usize, 0usize);
    loop {
        while running.0.len() < jobs && !stop.requested() {
            let Some(entry) = queue.next() else { break };
            running.0.push(spawn_run(&exe, entry, &logs, args, threads.as_deref())?);
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
            ended += 1;
            let (how, what) = how_it_ended(dir, &r, status);
            match how {
                Ended::Finished => {}
                Ended::Busy => busy += 1,
                Ended::Stopped => stopped += 1,
                Ended::Failed => failed.push(r.entry.index),
            }
            outln!("[{ended}/{total}] {}: {what}", describe(plan, r.entry));
        }
    }

    tally(dir, jobs, total, busy, stopped, &failed, &stop)?;
    if !refused.is_empty() {
        return Err(refused_error(dir, &refused));
    }
    Ok(())
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

/// What `run_all` tells at the end: where the runs of other workers stand, and an error when not
/// every run here finished.
fn tally(
    dir: &Path,
    jobs: usize,
    total: usize,
    busy: usize,
    stopped: usize,
    failed: &[usize],
    stop: &super::signals::Stop,
) -> Result<()> {
    let again = format!("mnist-lab sweep run {} --jobs {jobs}", dir.display());
    if busy > 0 {
        outln!(
            "{busy} runs were being trained by other workers; `mnist-lab sweep collect {}` shows when they are done",
            dir.display()
        );
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

fn collect_cmd(args: CollectArgs) -> Result<()> {
    let is_html = match &args.out {
        None => None,
        Some(out) => match super::report::extension(out).as_deref() {
            Some("html" | "htm") => Some(true),
            Some("md" | "markdown") => Some(false),
            _ => {
                return Err(error::config(format!("--out {}: expected a .html or .md file", out.display())));
            }
        },
    };
    if let Some(out) = &args.out {
        for f in [out.clone(), out.with_extension("svg"), out.with_extension("png")] {
            check_destination(&f, None)?;
        }
    }
    let plan = Plan::load(&args.dir)?;
    plan::check_folders(&args.dir)?;
    let results = collect::gather(&args.dir, &plan)?;
    let markdown = results.markdown();
    out!("{markdown}");
    for w in results.warnings(&args.dir) {
        errln!("{w}");
    }
    let (Some(out), Some(is_html)) = (&args.out, is_html) else {
        return Ok(());
    };
    if let Some(parent) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| error::runtime(format!("cannot create {}: {e}", parent.display())))?;
    }
    let (svg, png) = (out.with_extension("svg"), out.with_extension("png"));
    let caption = "validation accuracy: mean ± std over seeds";
    plot::bands(&results.curves(), caption, "validation accuracy", &svg, &png)?;
    let title = format!("mnist-lab sweep {}", args.dir.display());
    let text = if is_html {
        let picture =
            fs::read_to_string(&svg).map_err(|e| error::runtime(format!("cannot read back {}: {e}", svg.display())))?;
        let title = crate::report::table::escape_html(&title);
        super::report::html_page(&title, &results.html(), "Validation accuracy, mean ± std over seeds", &picture)
    } else {
        format!("# {title}\n\n{markdown}\n![{caption}]({})\n", super::report::relative_to(&png, out))
    };
    write_atomic(out, text.as_bytes())?;
    errln!("wrote {}, {} and {}", out.display(), svg.display(), png.display());
    Ok(())
}

fn slurm_cmd(args: SlurmArgs) -> Result<()> {
    let plan = Plan::load(&args.dir)?;
    if let Some(t) = &args.time {
        slurm::check_time(t)?;
    }
    if args.max_parallel == Some(0) {
        return Err(error::config("--max-parallel must be at least 1"));
    }
    if args.cpus_per_task == 0 {
        return Err(error::config("--cpus-per-task must be at least 1"));
    }
    if let Some(p) = &args.partition
        && (p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.,".contains(c)))
    {
        return Err(error::config(format!("--partition {p:?} is not a partition name")));
    }
    let abs = |p: &Path, what: &str| {
        fs::canonicalize(p).map_err(|e| error::config(format!("cannot find {what} {}: {e}", p.display())))
    };
    let dir = slurm::check_path(&abs(&args.dir, "the sweep directory")?)?;
    // Refused before the data is fetched.
    slurm::sbatch_dir(&dir)?;
    let exe = std::env::current_exe().map_err(|e| error::runtime(format!("cannot find this executable: {e}")))?;
    let exe = slurm::check_path(&abs(&exe, "this executable")?)?;

    // The tasks read the data; have it complete now rather than fetched by every task at once.
    let entries: Vec<&Entry> = plan.runs.iter().collect();
    let mut data_root = None;
    for dataset in datasets(&args.dir, &entries)? {
        let d = data::data_dir(None, dataset);
        data::fetch::ensure(dataset, &d, false)?;
        let root = d.parent().map(Path::to_path_buf).unwrap_or_default();
        data_root = Some(abs(&root, "the data directory")?);
    }
    let data_root = slurm::check_path(&data_root.unwrap_or_default())?;

    let options = slurm::Options {
        runs: plan.runs.len(),
        max_parallel: args.max_parallel,
        time: args.time.as_deref(),
        cpus_per_task: args.cpus_per_task,
        partition: args.partition.as_deref(),
        job_name: "mnist-lab-sweep",
    };
    // Made (or refused) before anything is written.
    let script = slurm::script(&exe, &dir, &data_root, &options)?;
    let logs = args.dir.join(LOGS);
    fs::create_dir_all(&logs).map_err(|e| error::runtime(format!("cannot create {}: {e}", logs.display())))?;
    let script_path = args.dir.join(slurm::SCRIPT);
    write_atomic(&script_path, script.as_bytes())?;
    // Slurm's default MaxArraySize is 1001: indices 0 to 1000.
    if plan.runs.len() > 1001 {
        errln!(
            "warning: {} array tasks; Slurm's default MaxArraySize allows 1001 (ask for a larger one, or split the grid)",
            plan.runs.len()
        );
    }
    errln!("wrote {} ({} array tasks, logs in {dir}/logs)", script_path.display(), plan.runs.len());
    outln!("sbatch {}", slurm::quote_if_needed(&format!("{dir}/{}", slurm::SCRIPT)));
    Ok(())
}
