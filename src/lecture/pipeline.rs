//! The lecture from its flags to its handout: plan the experiments × seeds into a folder (a sweep
//! plan, so it resumes and `sweep slurm` sends it to a cluster), train what is not trained yet,
//! then judge every claim from the finished runs and write the handout.

use std::path::Path;

use anyhow::Result;
use formats::config::Dataset;
use formats::error;
use formats::idx::PIXELS;

use super::page::{self, Judged};
use super::{KEY, PROBES, gather, grid, sections};
use crate::sweep::entry::Worker;
use crate::sweep::local;
use crate::sweep::plan::{self, PLAN_FILE};
use crate::sweep::progress::Progress;
use crate::{backend, data};
use formats::plan::Plan;

/// The lecture planned into `dir`: its plan, and whether this call wrote it (else it was there).
pub struct Planned {
    pub plan: Plan,
    pub new: bool,
}

/// Plan every experiment × `seeds` into `dir`, each run's epochs capped at `max_epochs` when
/// given; a folder that holds the same plan is taken as it is, any other is refused.
pub fn plan(dir: &Path, seeds: &[u64], max_epochs: Option<usize>) -> Result<Planned> {
    let grid = grid(seeds, max_epochs)?;
    let plan = plan::from_grid(&grid)?;
    let mut progress = Progress::stderr();
    let existed = plan::write(&plan, dir, &grid, &mut progress)?;
    progress.clear();
    plan::check_folders(dir)?;
    Ok(Planned { plan, new: !existed })
}

/// Train the plan's runs that are not finished, `jobs` (≥ 1) at a time, each in a process of
/// its own; `say` gets each run's line.
pub fn train(dir: &Path, plan: &Plan, jobs: usize, worker: &Worker, say: &mut dyn FnMut(&str)) -> Result<()> {
    local::run_all(dir, plan, jobs, worker, say)
}

/// Judge every claim from the finished runs of the lecture in `dir` and write the handout
/// (lecture.html, lecture.md and their figures) there; the outputs are probed on `worker`'s
/// device.
pub fn handout(dir: &Path, worker: &Worker) -> Result<Handout> {
    let plan = load(dir)?;
    let raw =
        data::load_raw(Dataset::Mnist, &data::data_dir(worker.data_dir.as_deref(), Dataset::Mnist), worker.offline)?;
    let device = backend::select(worker.backend)?.device;
    let probes = &raw.test_images[..PROBES * PIXELS];
    let results = gather(dir, &plan, Some((probes, &device)))?;
    let judged = page::write(dir, &sections(), &results)?;
    let damaged = results
        .damaged
        .iter()
        .map(|(experiment, seed, why)| {
            format!("the run of {experiment} at seed {seed} is damaged and left out ({why})")
        })
        .collect();
    Ok(Handout { judged, damaged })
}

/// The handout written: every claim's verdict, and the runs left out as damaged (in words).
pub struct Handout {
    pub judged: Vec<Judged>,
    pub damaged: Vec<String>,
}

/// The lecture's plan in `dir`, refused when `dir` holds none or another sweep's.
pub fn load(dir: &Path) -> Result<Plan> {
    if !dir.join(PLAN_FILE).exists() {
        return Err(error::config(format!(
            "{} holds no lecture (no {PLAN_FILE}); `mnist-lab lecture --out {}` trains one",
            dir.display(),
            dir.display()
        )));
    }
    let plan = plan::load(dir)?;
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
