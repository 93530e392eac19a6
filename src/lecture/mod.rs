//! `mnist-lab lecture`: every claim of the lecture put to the test. The experiments are the
//! presets (and one plain-SGD twin), each trained once per seed as one sweep plan, so an
//! interrupted lecture resumes and `sweep slurm` sends the same plan to a cluster. Each claim
//! ([`Claim`], one file per lecture section) names its experiments, draws its figure over the
//! seeds and judges itself on every seed from the runs' files; [`page`] writes the handout.

mod augmentation;
mod baseline;
mod depth;
mod loss;
mod optimisation;
mod overfitting;
pub mod page;
pub mod pipeline;
pub mod sweeps;
pub mod verdict;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::Device;
use formats::config::{ExperimentConfig, OptimizerConfig, dotted};
use formats::history::History;
use formats::idx::PIXELS;
use formats::summary::Summary;
use toml::Value;

use crate::data::Split;
use crate::presets;
use crate::run::RunDir;
use crate::sweep::grid::{Grid, Resolved};
use crate::sweep::plan::{self, State};
use formats::plan::Plan;

pub use sweeps::{Final, Sweep, SweepFigure};
pub use verdict::{Check, Outcome, Verdict};

/// The grid key every entry of the lecture's plan varies: the experiment's name.
pub const KEY: &str = formats::plan::EXPERIMENT;

/// The lecture's sections, in its order, each with its claims.
pub fn sections() -> Vec<Section> {
    vec![
        Section { number: 1, title: "Moving to Keras: the baseline", claims: baseline::claims() },
        Section { number: 2, title: "Loss functions and initialisation", claims: loss::claims() },
        Section { number: 3, title: "Overfitting and its cures", claims: overfitting::claims() },
        Section { number: 4, title: "Data augmentation", claims: augmentation::claims() },
        Section { number: 5, title: "Optimisation", claims: optimisation::claims() },
        Section { number: 6, title: "Going deeper", claims: depth::claims() },
    ]
}

/// The presets in the lecture's order, under their section's heading ("1. Moving to Keras…");
/// the presets no claim uses come last, under "Beyond the lecture".
pub fn presets_by_section() -> Vec<(String, Vec<&'static str>)> {
    let mut seen: Vec<&'static str> = Vec::new();
    let mut out = Vec::new();
    for section in sections() {
        let mut names = Vec::new();
        for claim in &section.claims {
            let used = claim
                .runs
                .iter()
                .copied()
                .chain(claim.figures.iter().flat_map(|f| f.series.iter().map(|s| s.experiment)));
            for name in used {
                if name != SGD && !seen.contains(&name) {
                    seen.push(name);
                    names.push(name);
                }
            }
        }
        out.push((format!("{}. {}", section.number, section.title), names));
    }
    let rest: Vec<&'static str> = presets::PRESETS.iter().map(|(n, _)| *n).filter(|n| !seen.contains(n)).collect();
    if !rest.is_empty() {
        out.push(("Beyond the lecture".into(), rest));
    }
    out
}

pub struct Section {
    pub number: usize,
    pub title: &'static str,
    pub claims: Vec<Claim>,
}

/// One claim of the lecture and the experiment that tests it.
pub struct Claim {
    /// A short name for the verdict table.
    pub name: &'static str,
    /// The claim in one sentence, as the lecture makes it.
    pub claim: &'static str,
    /// The experiments compared and the one setting that differs between them.
    pub experiment: &'static str,
    /// Experiments whose test accuracy is listed under the figure (with Keras' and the lecture's).
    pub runs: &'static [&'static str],
    pub figures: Vec<Figure>,
    /// Final figures against a swept setting, for a claim about a range.
    pub sweeps: Vec<SweepFigure>,
    /// What must hold on a seed for the claim to hold there.
    pub criterion: &'static str,
    /// The difference the verdict is decided on, in words: above zero where the criterion holds.
    pub decided_on: &'static str,
    /// Its unit ("points" of accuracy, "decades", "epochs", …).
    pub unit: &'static str,
    /// The criterion on one seed's runs: the difference and the numbers that decided it; `None`
    /// when a run it needs has no results (yet).
    pub judge: fn(&Seed) -> Option<Check>,
    /// The command that reruns the claim's experiment with its knob turned.
    pub rerun: &'static str,
}

/// A picture of a claim: each series' mean over the seeds, in a band of ± one standard deviation.
pub struct Figure {
    pub title: &'static str,
    pub x: XAxis,
    /// What the y axis shows (all series share it).
    pub y: &'static str,
    pub series: Vec<Series>,
    /// The experiment whose best epoch (early stopping's pick) is marked, rounded mean over seeds.
    pub best_of: Option<&'static str>,
}

/// One line of a figure: a metric of one experiment.
pub struct Series {
    pub label: &'static str,
    pub experiment: &'static str,
    pub metric: Metric,
}

/// A [`Series`] of one experiment's metric.
pub const fn line(label: &'static str, experiment: &'static str, metric: Metric) -> Series {
    Series { label, experiment, metric }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    Epoch,
    /// Training time so far.
    Seconds,
    /// Weight updates so far (batches).
    Updates,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    TrainAccuracy,
    ValAccuracy,
    ValLoss,
    TrainLoss,
    /// log10 of the mean |gradient| of one layer's weights (0 = the first).
    LogGradient(usize),
}

/// One finished run.
pub struct RunResult {
    pub dir: PathBuf,
    pub config: ExperimentConfig,
    pub summary: Summary,
    pub history: History,
    /// The smallest and largest sum of the ten outputs over the probe images.
    pub output_sums: Option<(f64, f64)>,
    /// Σw² over the weights of every layer (biases left out, as L2 leaves them).
    pub weight_norm: Option<f64>,
}

impl RunResult {
    /// Validation accuracy after epoch `epoch` (from 1), or after the last epoch run.
    pub fn val_accuracy_at(&self, epoch: usize) -> Option<f64> {
        let e = self.history.epochs.get(epoch.min(self.history.epochs.len()).checked_sub(1)?)?;
        e.val_accuracy
    }

    /// Images in one epoch of training (the batches that make its weight updates).
    pub fn train_images(&self) -> usize {
        let d = &self.config.data;
        let total = formats::idx::TRAIN_LEN.saturating_sub(d.validation);
        d.train_limit.map_or(total, |l| l.min(total))
    }
}

/// One seed's runs, by experiment (a sweep's point under its own name too).
pub struct Seed<'a> {
    pub seed: u64,
    pub runs: BTreeMap<&'a str, &'a RunResult>,
    /// Experiments whose run diverged on this seed.
    pub diverged: BTreeSet<&'a str>,
}

impl Seed<'_> {
    pub fn get(&self, experiment: &str) -> Option<&RunResult> {
        self.runs.get(experiment).copied()
    }

    /// [`RunResult::output_sums`] of `experiment`.
    pub fn output_sums(&self, experiment: &str) -> Option<(f64, f64)> {
        self.get(experiment)?.output_sums
    }

    /// Whether `experiment`'s run diverged (it has no results: a sweep counts it at chance level).
    pub fn diverged(&self, experiment: &str) -> bool {
        self.diverged.contains(experiment)
    }
}

/// Test images the outputs are probed on (the first of the MNIST test set).
pub const PROBES: usize = 1000;

/// The smallest and largest sum of the network's ten outputs over `images` (raw bytes, 784
/// each), and Σw² of its weights.
fn probe(run: &Path, config: &ExperimentConfig, images: &[u8], device: &Device) -> Result<((f64, f64), f64)> {
    let model = RunDir::open(run)?.load_model(config, device)?;
    let n = images.len() / PIXELS;
    let probes = Split::float(images, &vec![0; n], device).rows(0, n);
    let sums = model.outputs(model.forward(probes.images)).sum_dim(1).into_data();
    let sums: Vec<f64> = sums.iter::<f32>().map(f64::from).collect();
    let lo = sums.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = sums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let norm = model
        .layers
        .iter()
        .map(|l| l.weight.val().into_data().iter::<f32>().map(|w| f64::from(w) * f64::from(w)).sum::<f64>())
        .sum();
    Ok(((lo, hi), norm))
}

/// The experiments the claims use: a preset, the plain-SGD twin of `momentum`, or a sweep's point
/// (an experiment changed in one setting); and the points that are an experiment already under
/// another name (λ = 0 is `overfit`), trained once.
pub struct Lineup {
    pub experiments: Vec<(String, ExperimentConfig)>,
    /// A sweep's point → the experiment it is.
    pub aliases: BTreeMap<String, String>,
}

/// The lecture's presets, in its order.
const LECTURE_PRESETS: [&str; 23] = [
    "baseline",
    "init-large",
    "scaled-normal",
    "cross-entropy",
    "softmax",
    "overfit",
    "l2",
    "dropout",
    "early-stopping",
    "augmentation",
    "lr-small",
    "lr-large",
    "momentum",
    "adagrad",
    "rmsprop",
    "adam",
    "adadelta",
    "batch-small",
    "batch-large",
    "deep-sigmoid",
    "deep-relu",
    "monster",
    "monster-deep",
];

pub fn lineup() -> Lineup {
    let mut experiments: Vec<(String, ExperimentConfig)> =
        LECTURE_PRESETS.iter().map(|&p| (p.to_string(), presets::resolve(p).expect("a built-in preset").1)).collect();
    // Plain SGD at 0.1 with batches of 32: the momentum preset without momentum, and the middle
    // of the learning rates and batch sizes the lecture compares.
    let mut sgd = presets::resolve("momentum").expect("a built-in preset").1;
    if let OptimizerConfig::Sgd(s) = &mut sgd.optimizer {
        s.momentum = 0.0;
    }
    sgd.preset = SGD.into();
    sgd.lesson = "Plain SGD at 0.1, batches of 32: the reference for momentum, learning rates and batch sizes".into();
    experiments.push((SGD.into(), sgd));
    let mut aliases = BTreeMap::new();
    for sweep in sweeps::all() {
        let base = experiments.iter().find(|(n, _)| n == sweep.base).expect("a sweep of an experiment").1.clone();
        for (v, name) in sweep.points() {
            let mut config = dotted::set(&base, &[sweep.setting(v)]).expect("a sweep's setting fits its experiment");
            let same = experiments.iter().find(|(_, c)| same_training(c, &config));
            if let Some((existing, _)) = same {
                aliases.insert(name, existing.clone());
                continue;
            }
            config.preset = name.clone();
            config.lesson = format!("{} with {} = {}", sweep.base, sweep.key, sweeps::label(v));
            experiments.push((name, config));
        }
    }
    Lineup { experiments, aliases }
}

/// Whether two configs train the same network the same way (their names and lessons aside;
/// every run's seed is the plan's).
fn same_training(a: &ExperimentConfig, b: &ExperimentConfig) -> bool {
    let strip = |c: &ExperimentConfig| {
        let mut c = c.clone();
        (c.preset, c.lesson, c.train.seed) = (String::new(), String::new(), 0);
        c
    };
    strip(a) == strip(b)
}

/// The name of the plain-SGD twin of `momentum`.
pub const SGD: &str = "sgd";

/// The lecture as a sweep grid: every experiment × `seeds`, each run's epochs capped at
/// `max_epochs` when given (a quick look).
pub fn grid(seeds: &[u64], max_epochs: Option<usize>) -> Result<Grid> {
    let mut runs = Vec::new();
    for (name, cfg) in lineup().experiments {
        for &seed in seeds {
            let mut config = cfg.clone();
            config.train.seed = seed;
            if let Some(cap) = max_epochs {
                config.train.epochs = config.train.epochs.min(cap);
            }
            config.validate()?;
            let toml = config.to_toml();
            runs.push(Resolved { point: vec![(KEY.into(), Value::String(name.clone()))], seed, config, toml });
        }
    }
    Ok(Grid { base: "lecture".into(), keys: vec![KEY.into()], seeds: seeds.to_vec(), runs })
}

/// Every finished run of the lecture's plan in `dir`, by experiment name; the others counted.
pub struct Results {
    pub runs: Vec<(String, RunResult)>,
    pub seeds: Vec<u64>,
    /// Entries without results (not started, unfinished, diverged, damaged…).
    pub missing: usize,
    /// (experiment, seed) of every run that diverged.
    pub diverged: Vec<(String, u64)>,
    /// Runs whose files do not read back: (experiment, seed, why). Reported, not fatal.
    pub damaged: Vec<(String, u64, String)>,
    /// A sweep's point → the experiment it is (see [`Lineup`]).
    pub aliases: BTreeMap<String, String>,
}

/// The results of the plan in `dir`; `probes` (raw test images and a device) lets each run's
/// outputs be summed. A run whose files are damaged is set aside, named, and the others go on.
pub fn gather(dir: &Path, plan: &Plan, probes: Option<(&[u8], &Device)>) -> Result<Results> {
    let (mut runs, mut diverged, mut damaged) = (Vec::new(), Vec::new(), Vec::new());
    let mut missing = 0;
    for entry in &plan.runs {
        let name = entry.point.first().map(formats::plan::json_text).unwrap_or_default();
        match plan::state(dir, plan, entry) {
            State::Finished => {}
            State::Diverged(_) => {
                diverged.push((name, entry.seed));
                missing += 1;
                continue;
            }
            State::Damaged(why) => {
                damaged.push((name, entry.seed, why));
                missing += 1;
                continue;
            }
            _ => {
                missing += 1;
                continue;
            }
        }
        match finished_run(dir, entry, probes) {
            Ok(run) => runs.push((name, run)),
            Err(e) => {
                damaged.push((name, entry.seed, formats::plan::one_line(&format!("{e:#}"))));
                missing += 1;
            }
        }
    }
    Ok(Results { runs, seeds: plan.seeds.clone(), missing, diverged, damaged, aliases: lineup().aliases })
}

/// One finished entry's results, its outputs probed when `probes` are given.
fn finished_run(dir: &Path, entry: &formats::plan::Entry, probes: Option<(&[u8], &Device)>) -> Result<RunResult> {
    let (summary, history) = plan::results(dir, entry)?;
    let run_dir = dir.join(&entry.run);
    let config = ExperimentConfig::from_file(&run_dir.join(crate::run::CONFIG_FILE))?;
    let (output_sums, weight_norm) = match probes {
        Some((images, device)) => {
            let (sums, norm) = probe(&run_dir, &config, images, device)?;
            (Some(sums), Some(norm))
        }
        None => (None, None),
    };
    Ok(RunResult { dir: run_dir, config, summary, history, output_sums, weight_norm })
}

impl Results {
    /// The runs of one seed, a sweep's points under their own names too.
    pub fn seed(&self, seed: u64) -> Seed<'_> {
        let mut runs: BTreeMap<&str, &RunResult> =
            self.runs.iter().filter(|(_, r)| r.config.train.seed == seed).map(|(n, r)| (n.as_str(), r)).collect();
        let mut diverged: BTreeSet<&str> =
            self.diverged.iter().filter(|(_, s)| *s == seed).map(|(n, _)| n.as_str()).collect();
        for (alias, name) in &self.aliases {
            if let Some(r) = runs.get(name.as_str()).copied() {
                runs.insert(alias, r);
            }
            if diverged.contains(name.as_str()) {
                diverged.insert(alias);
            }
        }
        Seed { seed, runs, diverged }
    }

    /// The runs of one experiment (or sweep point), over its seeds.
    pub fn of(&self, experiment: &str) -> Vec<&RunResult> {
        let name = self.aliases.get(experiment).map_or(experiment, String::as_str);
        self.runs.iter().filter(|(n, _)| n == name).map(|(_, r)| r).collect()
    }
}

/// `x` as a percentage with two decimals.
pub fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}
