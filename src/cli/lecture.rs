//! `mnist-lab lecture`: train the lecture's experiments over seeds (a sweep plan in DIR, so it
//! resumes, and `sweep slurm DIR` sends it to a cluster), then write the handout.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use formats::error;

use super::WorkerArgs;
use crate::lecture::{page, pipeline};

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
        let seeds: Vec<u64> = (1..=args.seeds).collect();
        if args.jobs == 0 {
            return Err(error::config("--jobs must be at least 1"));
        }
        let planned = pipeline::plan(dir, &seeds, args.max_epochs.map(|n| n as usize))?;
        if planned.new {
            outln!(
                "{} runs planned in {} ({} experiments × {} seeds)",
                planned.plan.runs.len(),
                dir.display(),
                planned.plan.runs.len() / seeds.len(),
                seeds.len()
            );
        }
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
        pipeline::train(dir, &planned.plan, args.jobs, &worker, &mut |line| outln!("{line}"))
    };
    // An interrupted lecture stops here; it resumes where it stopped.
    if let Err(e) = &trained
        && matches!(error::kind_of(e), error::Kind::Interrupted | error::Kind::Terminated)
    {
        return trained;
    }
    let handout = pipeline::handout(dir, &worker)?;
    for damaged in &handout.damaged {
        errln!("warning: {damaged}");
    }
    out!("{}", page::verdict_table(&handout.judged));
    errln!("wrote {} and {}", dir.join(page::HTML).display(), dir.join(page::MARKDOWN).display());
    // Runs that failed are said after the handout of the others is written.
    trained
}
