//! `mnist-lab bench`'s measurements: one (backend, preset) pair timed in this process (the
//! command runs each in a fresh child), the machine it ran on, and the yardsticks of
//! [`floor`] (plain sgemm on the same shapes, and the FMA peak); [`tables`] prints them.

pub mod floor;
pub mod tables;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use formats::config::{Dataset, ExperimentConfig};
use formats::error;
use serde::{Deserialize, Serialize};

use crate::backend::BackendName;
use crate::train::FitOptions;
use crate::{backend, data, presets, train};

/// What one measurement times.
pub struct Pair {
    pub backend: BackendName,
    /// A preset name or a config file.
    pub preset: String,
    /// Timed repetitions (medians are reported).
    pub runs: usize,
    /// Epochs before the timed ones.
    pub warmup: usize,
    pub dataset: Option<Dataset>,
    pub data_dir: Option<PathBuf>,
    pub offline: bool,
}

/// One (backend, preset) measurement; all times in seconds, medians over `runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub backend: String,
    pub preset: String,
    pub train_images: usize,
    pub validation_images: usize,
    pub load_seconds: f64,
    pub first_epoch_seconds: f64,
    /// Median whole epoch (training + validation pass), warm-up epochs left out.
    pub epoch_seconds: f64,
    /// `epoch_seconds - validation_seconds`.
    pub train_seconds: f64,
    pub validation_seconds: f64,
    pub samples_per_second: f64,
    /// VmHWM of the child process in MiB; None off Linux.
    pub peak_rss_mb: Option<f64>,
    /// After all epochs; a sanity check that the timed network really learns.
    pub test_accuracy: f64,
    /// The training epoch's matrix products alone, as plain sgemm on the same threads (CPU
    /// backends): the machine's floor for this network.
    #[serde(default)]
    pub floor_seconds: Option<f64>,
    /// The training epoch's matrix products in GFLOP (6 per weight and image, 4 in the first layer).
    #[serde(default)]
    pub gflop_per_epoch: f64,
    /// `gflop_per_epoch / train_seconds`.
    #[serde(default)]
    pub gflops: f64,
    /// `gflops` against the machine's FMA peak on the same threads (CPU backends).
    #[serde(default)]
    pub percent_of_peak: Option<f64>,
    /// The floor's products against the same peak: as near as the kernels come on this machine.
    #[serde(default)]
    pub floor_percent_of_peak: Option<f64>,
    /// Where the training epoch's time went (CPU backends, whose ops run when called).
    #[serde(default)]
    pub phases: Option<PhaseFigures>,
    pub load_seconds_all: Vec<f64>,
    pub epoch_seconds_all: Vec<f64>,
    pub validation_seconds_all: Vec<f64>,
}

impl Measurement {
    /// Its products' share of the FMA `peak` (CPU backends, which have a floor), per pass too.
    pub fn set_peak(&mut self, peak: &floor::Peak) {
        let Some(floor) = self.floor_seconds else { return };
        self.percent_of_peak = Some(100.0 * self.gflops / peak.gflops);
        self.floor_percent_of_peak = Some(100.0 * self.gflop_per_epoch / floor / peak.gflops);
        if let Some(p) = self.phases.as_mut() {
            let of_peak = |gflop: f64, seconds: f64| (seconds > 0.0).then(|| 100.0 * gflop / seconds / peak.gflops);
            p.forward_percent_of_peak = of_peak(p.forward_gflop, p.forward_seconds);
            p.backward_percent_of_peak = of_peak(p.backward_gflop, p.backward_seconds);
        }
    }
}

/// A training epoch's time by phase, medians over the timed epochs, in seconds; the forward and
/// backward products' GFLOP and, once `bench` has measured the peak, their share of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseFigures {
    pub data_seconds: f64,
    pub forward_seconds: f64,
    pub backward_seconds: f64,
    pub optimizer_seconds: f64,
    /// The rest of `train_seconds`: the loss and accuracy sums, the step's bookkeeping.
    pub other_seconds: f64,
    pub forward_gflop: f64,
    pub backward_gflop: f64,
    pub forward_percent_of_peak: Option<f64>,
    pub backward_percent_of_peak: Option<f64>,
}

/// The child's work: one backend, one preset, in this (fresh) process.
pub fn measure(what: &Pair) -> Result<Measurement> {
    let backend::Selected { device, name: backend_name, .. } = backend::select(Some(what.backend))?;
    let backend_name = backend_name.to_string();
    let (name, mut cfg) = presets::resolve(&what.preset)?;
    let (runs, warmup) = (what.runs, what.warmup);
    cfg.train.epochs = warmup + runs;
    if let Some(dataset) = what.dataset {
        cfg.data.dataset = dataset;
    }
    // Timing needs every epoch to run; the data split (data.validation) is kept as configured.
    cfg.early_stopping = None;
    cfg.validate()?;

    let dir = data::data_dir(what.data_dir.as_deref(), cfg.data.dataset);
    let (mnist, load_seconds_all) = load_timed(&cfg, &dir, what.offline, &device, runs)?;

    let phase_log = Mutex::new(Vec::new());
    let opts = FitOptions { phases: Some(&phase_log), ..FitOptions::default() };
    let outcome = train::fit(&cfg, &mnist, &device, &opts, |m| {
        errln!("{backend_name}/{name} epoch {}: {:.2} s", m.epoch, m.seconds);
    })?;
    let epochs: Vec<f64> = outcome.history.epochs.iter().map(|e| e.seconds).collect();
    if epochs.len() != warmup + runs {
        return Err(error::runtime(format!("expected {} epochs, fit ran {}", warmup + runs, epochs.len())));
    }
    // fit's epoch time includes one validation pass; time that pass alone to split it off.
    let validation_seconds_all: Vec<f64> = match &mnist.valid {
        Some(split) => (0..runs)
            .map(|_| {
                let start = Instant::now();
                train::evaluate(&outcome.model, split, &cfg);
                start.elapsed().as_secs_f64()
            })
            .collect(),
        None => vec![0.0],
    };
    let (_, test_accuracy) = train::evaluate(&outcome.model, &mnist.test, &cfg);
    let floor_seconds = backend::is_host(&device).then(|| floor::epoch_seconds(&cfg, mnist.train.len));
    let gflop_per_epoch = floor::epoch_gflop(&cfg, mnist.train.len);

    let epoch_seconds_all = epochs[warmup..].to_vec();
    let epoch_seconds = median(&epoch_seconds_all);
    let validation_seconds = median(&validation_seconds_all);
    let train_seconds = (epoch_seconds - validation_seconds).max(f64::EPSILON);
    let phase_log = phase_log.into_inner().unwrap_or_else(|e| e.into_inner());
    let phases = (backend::is_host(&device) && phase_log.len() == epochs.len())
        .then(|| phase_figures(&phase_log[warmup..], &cfg, mnist.train.len, train_seconds));
    Ok(Measurement {
        backend: backend_name,
        preset: name,
        train_images: mnist.train.len,
        validation_images: mnist.valid.as_ref().map_or(0, |v| v.len),
        load_seconds: median(&load_seconds_all),
        first_epoch_seconds: epochs[0],
        epoch_seconds,
        train_seconds,
        validation_seconds,
        samples_per_second: mnist.train.len as f64 / train_seconds,
        peak_rss_mb: peak_rss_mb(),
        test_accuracy,
        floor_seconds,
        gflop_per_epoch,
        gflops: gflop_per_epoch / train_seconds,
        percent_of_peak: None,
        floor_percent_of_peak: None,
        phases,
        load_seconds_all,
        epoch_seconds_all,
        validation_seconds_all,
    })
}

/// The data loaded onto `device` `runs` times, one copy resident at a time as in `train`, and
/// each load's seconds; the last copy is kept.
fn load_timed(
    cfg: &ExperimentConfig,
    dir: &Path,
    offline: bool,
    device: &Device,
    runs: usize,
) -> Result<(data::MnistData, Vec<f64>)> {
    let mut load_seconds_all = Vec::new();
    let mut mnist = None;
    for _ in 0..runs {
        drop(mnist.take());
        let start = Instant::now();
        let raw = data::load_raw(cfg.data.dataset, dir, offline)?;
        let loaded = data::MnistData::new(&raw, &cfg.data, cfg.augmentation.is_some(), device)?;
        // Reading a value back waits for the upload on asynchronous (GPU) backends.
        let _ = loaded.test.labels().sum().into_scalar::<i64>();
        load_seconds_all.push(start.elapsed().as_secs_f64());
        mnist = Some(loaded);
    }
    Ok((mnist.expect("runs >= 1"), load_seconds_all))
}

/// The medians of the `timed` epochs' phases, the rest of `train_seconds` as "other".
fn phase_figures(
    timed: &[train::Phases],
    cfg: &ExperimentConfig,
    train_len: usize,
    train_seconds: f64,
) -> PhaseFigures {
    let med = |f: fn(&train::Phases) -> f64| median(&timed.iter().map(f).collect::<Vec<_>>());
    let (data, forward, backward, optimizer) =
        (med(|p| p.data), med(|p| p.forward), med(|p| p.backward), med(|p| p.optimizer));
    let (forward_gflop, backward_gflop) = floor::epoch_gflop_by_pass(cfg, train_len);
    PhaseFigures {
        data_seconds: data,
        forward_seconds: forward,
        backward_seconds: backward,
        optimizer_seconds: optimizer,
        other_seconds: (train_seconds - data - forward - backward - optimizer).max(0.0),
        forward_gflop,
        backward_gflop,
        forward_percent_of_peak: None,
        backward_percent_of_peak: None,
    }
}

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Peak resident set size of this process (VmHWM, kB in /proc) in MiB; None where there is no /proc.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// What the figures were measured on, for the JSON and the header line.
pub fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines().find_map(|l| {
            l.split_once([':', '='])
                .filter(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
        })
    };
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = field(&cpuinfo, "model name").or_else(|| field(&cpuinfo, "Hardware")).unwrap_or_else(|| "unknown".into());
    let distro = field(&read("/etc/os-release"), "PRETTY_NAME");
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let os = [
        Some(format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)),
        distro,
        Some(kernel).filter(|k| !k.is_empty()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
        .unwrap_or_default();
    serde_json::json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "os": os,
        "mnist_lab_version": env!("CARGO_PKG_VERSION"),
        "kernels": crate::cpu::kernels(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        // Thread-count knobs change CPU timings; recorded when set.
        "rayon_num_threads": std::env::var("RAYON_NUM_THREADS").ok(),
        "date": date,
    })
}
