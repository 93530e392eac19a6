//! `mnist-lab lecture`: train the lecture's experiments over seeds (a sweep plan in DIR, so it
//! resumes, and `sweep slurm DIR` sends it to a cluster), then write the handout.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::WorkerArgs;
use crate::config::Dataset;
use crate::data::idx::PIXELS;
use crate::lecture::{self, KEY, PROBES, page};
use crate::sweep::local;
use crate::sweep::plan::{self, PLAN_FILE, Plan};
use crate::sweep::progress::Progress;
use crate::{backend, data, error};

#[derive(Args, Debug)]
pub struct LectureArgs {
    /// The lecture's folder: its runs (a sweep plan) and the handout, lecture.html and lecture.md.
    #[arg(long, value_name = "DIR", default_value = "lecture")]
    pub out: PathBuf,
    /// Seeds per experiment: 1, 2, …, N.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub seeds: u64,
    /// Trainings at a time, each in a process of its own sharing the cores.
    #[arg(long, value_name = "J", default_value_t = 1)]
    pub jobs: usize,
    /// Cap every run's epochs (a quick look: the verdicts then judge shortened runs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_epochs: Option<u64>,
    /// Only plan the runs into DIR (for `mnist-lab sweep slurm DIR`), train nothing.
    #[arg(long, conflicts_with = "jobs")]
    pub plan_only: bool,
    /// Train nothing: write the handout from the runs of DIR that have finished (here, or on a
    /// cluster after `mnist-lab sweep slurm DIR`).
    #[arg(long, conflicts_with_all = ["seeds", "jobs", "max_epochs", "plan_only"])]
    pub report_only: bool,
    #[command(flatten)]
    pub worker: WorkerArgs,
}

pub fn run(args: LectureArgs) -> Result<()> {
    let dir = &args.out;
    let worker = args.worker.worker();
    let trained = if args.report_only {
        Ok(())
    } else {
        if args.jobs == 0 {
            return Err(error::config("--jobs must be at least 1"));
        }
        let seeds: Vec<u64> = (1..=args.seeds).collect();
        let grid = lecture::grid(&seeds, args.max_epochs.map(|n| n as usize))?;
        let plan = Plan::from_grid(&grid)?;
        let mut progress = Progress::stderr();
        let existed = plan.write(dir, &grid, &mut progress)?;
        progress.clear();
        if !existed {
            outln!(
                "{} runs planned in {} ({} experiments × {} seeds)",
                plan.runs.len(),
                dir.display(),
                plan.runs.len() / seeds.len(),
                seeds.len()
            );
        }
        plan::check_folders(dir)?;
        if args.plan_only {
            // The same plan again: the same seeds and cap, or the folder refuses it as another.
            let cap = args.max_epochs.map(|n| format!(" --max-epochs {n}")).unwrap_or_default();
            let dir = dir.display();
            outln!(
                "train them here with `mnist-lab lecture --out {dir} --seeds {}{cap}`, or on Slurm with \
                 `mnist-lab sweep slurm {dir}`",
                args.seeds
            );
            return Ok(());
        }
        local::run_all(dir, &plan, args.jobs, &worker, &mut |line| outln!("{line}"))
    };
    // An interrupted lecture stops here; it resumes where it stopped.
    if let Err(e) = &trained
        && matches!(error::kind_of(e), error::Kind::Interrupted | error::Kind::Terminated)
    {
        return trained;
    }
    let plan = load_lecture(dir)?;
    let raw =
        data::load_raw(Dataset::Mnist, &data::data_dir(worker.data_dir.as_deref(), Dataset::Mnist), worker.offline)?;
    let device = backend::select(worker.backend)?.device;
    let probes = &raw.test_images[..PROBES * PIXELS];
    let results = lecture::gather(dir, &plan, Some((probes, &device)))?;
    let judged = page::write(dir, &lecture::sections(), &results)?;
    out!("{}", page::verdict_table(&judged));
    errln!("wrote {} and {}", dir.join(page::HTML).display(), dir.join(page::MARKDOWN).display());
    // Runs that failed are said after the handout of the others is written.
    trained
}

/// The lecture's plan in `dir`, refused when `dir` holds none or another sweep's.
fn load_lecture(dir: &std::path::Path) -> Result<Plan> {
    if !dir.join(PLAN_FILE).exists() {
        return Err(error::config(format!(
            "{} holds no lecture (no {PLAN_FILE}); `mnist-lab lecture --out {}` trains one",
            dir.display(),
            dir.display()
        )));
    }
    let plan = Plan::load(dir)?;
    if plan.keys != [KEY] {
        return Err(error::config(format!(
            "{} holds a sweep, not a lecture; `mnist-lab sweep collect {}` reports it",
            dir.display(),
            dir.display()
        )));
    }
    plan::check_folders(dir)?;
    Ok(plan)
}
