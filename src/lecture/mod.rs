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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::Device;
use formats::config::{ExperimentConfig, OptimizerConfig};
use formats::history::History;
use formats::idx::PIXELS;
use formats::summary::Summary;
use toml::Value;

use crate::data::Split;
use crate::presets;
use crate::run::RunDir;
use crate::sweep::grid::{Grid, Resolved};
use crate::sweep::plan::{self, Plan, State};

/// The grid key every entry of the lecture's plan varies: the experiment's name.
pub const KEY: &str = "experiment";

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
    /// What must hold on a seed for the claim to hold there.
    pub criterion: &'static str,
    /// The criterion on one seed's runs, with the numbers that decided it; `None` when a run it
    /// needs has no results (yet).
    pub judge: fn(&Seed) -> Option<Check>,
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

/// What a claim's criterion found on one seed.
pub struct Check {
    pub holds: bool,
    /// The numbers that decided it, for people.
    pub numbers: String,
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

/// One seed's runs, by experiment.
pub struct Seed<'a> {
    pub seed: u64,
    pub runs: BTreeMap<&'a str, &'a RunResult>,
}

impl Seed<'_> {
    pub fn get(&self, experiment: &str) -> Option<&RunResult> {
        self.runs.get(experiment).copied()
    }

    /// [`RunResult::output_sums`] of `experiment`.
    pub fn output_sums(&self, experiment: &str) -> Option<(f64, f64)> {
        self.get(experiment)?.output_sums
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

/// The experiments the claims use: a preset, or a preset changed in one setting.
pub fn experiments() -> Vec<(&'static str, ExperimentConfig)> {
    const PRESETS: [&str; 23] = [
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
    let mut out: Vec<(&'static str, ExperimentConfig)> =
        PRESETS.iter().map(|&p| (p, presets::resolve(p).expect("a built-in preset").1)).collect();
    // Plain SGD at 0.1 with batches of 32: the momentum preset without momentum, and the middle
    // of the learning rates and batch sizes the lecture compares.
    let mut sgd = presets::resolve("momentum").expect("a built-in preset").1;
    if let OptimizerConfig::Sgd(s) = &mut sgd.optimizer {
        s.momentum = 0.0;
    }
    sgd.preset = SGD.into();
    sgd.lesson = "Plain SGD at 0.1, batches of 32: the reference for momentum, learning rates and batch sizes".into();
    out.push((SGD, sgd));
    out
}

/// The name of the plain-SGD twin of `momentum`.
pub const SGD: &str = "sgd";

/// The lecture as a sweep grid: every experiment × `seeds`, each run's epochs capped at
/// `max_epochs` when given (a quick look).
pub fn grid(seeds: &[u64], max_epochs: Option<usize>) -> Result<Grid> {
    let mut runs = Vec::new();
    for (name, cfg) in experiments() {
        for &seed in seeds {
            let mut config = cfg.clone();
            config.train.seed = seed;
            if let Some(cap) = max_epochs {
                config.train.epochs = config.train.epochs.min(cap);
            }
            config.validate()?;
            let toml = config.to_toml();
            runs.push(Resolved { point: vec![(KEY.into(), Value::String(name.into()))], seed, config, toml });
        }
    }
    Ok(Grid { base: "lecture".into(), keys: vec![KEY.into()], seeds: seeds.to_vec(), runs })
}

/// Every finished run of the lecture's plan in `dir`, by experiment name; the others counted.
pub struct Results {
    pub runs: Vec<(String, RunResult)>,
    pub seeds: Vec<u64>,
    /// Entries without results (not started, unfinished, diverged…).
    pub missing: usize,
}

/// The results of the plan in `dir`; `probes` (raw test images and a device) lets each run's
/// outputs be summed.
pub fn gather(dir: &Path, plan: &Plan, probes: Option<(&[u8], &Device)>) -> Result<Results> {
    let mut runs = Vec::new();
    let mut missing = 0;
    for entry in &plan.runs {
        let name = entry.point.first().map(plan::json_text).unwrap_or_default();
        if plan::state(dir, entry) != State::Finished {
            missing += 1;
            continue;
        }
        let Ok((summary, history)) = plan::results(dir, entry) else {
            missing += 1;
            continue;
        };
        let run_dir = dir.join(&entry.run);
        let config = ExperimentConfig::from_file(&run_dir.join(crate::run::CONFIG_FILE))?;
        let (output_sums, weight_norm) = match probes {
            Some((images, device)) => {
                let (sums, norm) = probe(&run_dir, &config, images, device)?;
                (Some(sums), Some(norm))
            }
            None => (None, None),
        };
        runs.push((name, RunResult { dir: run_dir, config, summary, history, output_sums, weight_norm }));
    }
    Ok(Results { runs, seeds: plan.seeds.clone(), missing })
}

impl Results {
    /// The runs of one seed.
    pub fn seed(&self, seed: u64) -> Seed<'_> {
        let runs =
            self.runs.iter().filter(|(_, r)| r.config.train.seed == seed).map(|(n, r)| (n.as_str(), r)).collect();
        Seed { seed, runs }
    }

    /// The runs of one experiment, over its seeds.
    pub fn of(&self, experiment: &str) -> Vec<&RunResult> {
        self.runs.iter().filter(|(n, _)| n == experiment).map(|(_, r)| r).collect()
    }
}

/// A claim's verdict over the seeds.
pub struct Verdict {
    /// Seeds where it held, and seeds judged.
    pub held: usize,
    pub judged: usize,
    /// Per judged seed: the seed, whether it held, and the numbers.
    pub seeds: Vec<(u64, Check)>,
}

impl Verdict {
    pub fn of(claim: &Claim, results: &Results) -> Self {
        let seeds: Vec<(u64, Check)> =
            results.seeds.iter().filter_map(|&s| (claim.judge)(&results.seed(s)).map(|c| (s, c))).collect();
        Verdict { held: seeds.iter().filter(|(_, c)| c.holds).count(), judged: seeds.len(), seeds }
    }

    /// "holds on 3 of 3 seeds", "fails on 3 of 3 seeds", "holds on 2 of 3 seeds" or "not run yet".
    pub fn status(&self) -> String {
        match (self.held, self.judged) {
            (_, 0) => "not run yet".into(),
            (0, n) => format!("fails on {n} of {n} seeds"),
            (h, n) => format!("holds on {h} of {n} seeds"),
        }
    }

    /// Whether the claim held on every seed judged (and some seed was).
    pub fn holds(&self) -> bool {
        self.judged > 0 && self.held == self.judged
    }
}

/// `x` as a percentage with two decimals.
pub fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}
