//! `mnist-lab sweep`: plan a grid of settings × seeds into a directory, run its entries (one for
//! a scheduler, or all of them here, N child processes at a time), collect mean ± std per grid
//! point, and write a Slurm job-array script.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use formats::error;

use super::WorkerArgs;
use super::train;
use crate::report::page;
use crate::run::check_destination;
use crate::sweep::entry;
use crate::sweep::grid::{self, Grid};
use crate::sweep::plan::{self};
use crate::sweep::progress::Progress as PlanProgress;
use crate::sweep::{collect, local, slurm};

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
    #[command(flatten)]
    pub worker: WorkerArgs,
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
    let plan = plan::from_grid(&grid)?;
    let existed = plan::write(&plan, &args.out, &grid, &mut progress)?;
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

fn run_cmd(args: RunArgs) -> Result<()> {
    let worker = args.worker.worker();
    let plan = plan::load(&args.dir)?;
    plan::check_folders(&args.dir)?;
    if let Some(jobs) = args.jobs {
        if jobs == 0 {
            return Err(error::config("--jobs must be at least 1"));
        }
        return local::run_all(&args.dir, &plan, jobs, &worker, &mut |line| outln!("{line}"));
    }
    let (index, source) = match args.index {
        Some(i) => (i, format!("--index {i}")),
        None => {
            let (i, var) = entry::index_from_env()?.ok_or_else(|| {
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
    let done =
        entry::run_entry(&args.dir, &plan, index, &worker, &mut |line| outln!("{line}"), &mut |e| train::show(&e))?;
    if let Some(done) = done {
        train::finished(&done);
    }
    Ok(())
}

fn collect_cmd(args: CollectArgs) -> Result<()> {
    let is_html = match &args.out {
        None => None,
        Some(out) => match page::extension(out).as_deref() {
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
            // The pictures beside --out were named by mnist-lab, not by you: never a link's target.
            if f != *out {
                crate::files::not_a_link(&f)?;
            }
        }
    }
    let plan = plan::load(&args.dir)?;
    plan::check_folders(&args.dir)?;
    let results = collect::gather(&args.dir, &plan)?;
    out!("{}", results.markdown());
    for w in results.warnings(&args.dir) {
        errln!("{w}");
    }
    let (Some(out), Some(is_html)) = (&args.out, is_html) else {
        return Ok(());
    };
    let (svg, png) = results.write_report(&args.dir, out, is_html)?;
    errln!("wrote {}, {} and {}", out.display(), svg.display(), png.display());
    Ok(())
}

fn slurm_cmd(args: SlurmArgs) -> Result<()> {
    let plan = plan::load(&args.dir)?;
    let options = slurm::Options {
        runs: plan.runs.len(),
        max_parallel: args.max_parallel,
        time: args.time.as_deref(),
        cpus_per_task: args.cpus_per_task,
        partition: args.partition.as_deref(),
        job_name: "mnist-lab-sweep",
    };
    options.check()?;
    let (script_path, dir) = slurm::write(&args.dir, &plan, &options)?;
    if let Some(warning) = options.array_size_warning() {
        errln!("{warning}");
    }
    errln!("wrote {} ({} array tasks, logs in {dir}/logs)", script_path.display(), plan.runs.len());
    outln!("sbatch {}", slurm::quote_if_needed(&format!("{dir}/{}", slurm::SCRIPT)));
    Ok(())
}
