//! `mnist-lab bench`: time data loading, the warm-up epoch, steady epochs and validation of each
//! (backend, preset) pair.
//!
//! Each pair runs in a fresh child process (this executable with the hidden `--child` flag), so
//! its peak resident memory (VmHWM, process-wide and only ever growing) is its own and no
//! backend's caches or compiled kernels leak into the next measurement. The child prints one
//! JSON line; the parent prints a Markdown table and optionally writes everything as JSON.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use super::DataArgs;
use crate::artifacts::check_destination;
use crate::backend::BackendName;
use crate::files::write_atomic;
use crate::train::FitOptions;
use crate::{backend, data, error, presets, train};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Backend to measure, repeatable (default: every one compiled in).
    #[arg(long = "backend", value_enum, value_name = "B")]
    pub backends: Vec<BackendName>,
    /// Preset or config file to measure, repeatable (default: baseline and monster).
    #[arg(long = "preset", value_name = "P")]
    pub presets: Vec<String>,
    /// Timed repetitions: steady epochs, data loads and validation passes (medians are reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: u64,
    /// Epochs run before the steady ones; the first of them is reported as "first epoch".
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub epochs_warmup: u64,
    /// Also write the results and a machine description as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Internal: measure one `backend:preset` pair and print it as one JSON line.
    #[arg(long, hide = true, value_name = "BACKEND:PRESET")]
    pub child: Option<String>,
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
    pub load_seconds_all: Vec<f64>,
    pub epoch_seconds_all: Vec<f64>,
    pub validation_seconds_all: Vec<f64>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if let Some(pair) = &args.child {
        let m = measure(pair, &args)?;
        outln!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let backends = if args.backends.is_empty() { default_backends() } else { args.backends.clone() };
    let presets =
        if args.presets.is_empty() { vec!["baseline".into(), "monster".into()] } else { args.presets.clone() };
    // Check every name and fetch the data up front: a typo or a failed download is one clean
    // error (exit 2 or 3) before any measurement, and downloads never count as load time.
    for &b in &backends {
        backend::check_compiled(b)?;
    }
    if let Some(path) = &args.json {
        check_destination(path, None)?;
    }
    let mut datasets = Vec::new();
    for p in &presets {
        let dataset = args.data.dataset.unwrap_or(presets::resolve(p)?.1.data.dataset);
        if !datasets.contains(&dataset) {
            datasets.push(dataset);
        }
    }
    for dataset in datasets {
        data::fetch::ensure(dataset, &data::data_dir(args.data.data_dir.as_deref(), dataset), args.data.offline)?;
    }

    let exe = std::env::current_exe().map_err(|e| error::runtime(format!("cannot find my own executable: {e}")))?;
    let (mut results, mut failures) = (Vec::<Measurement>::new(), Vec::<Failure>::new());
    for &b in &backends {
        for p in &presets {
            errln!("bench: {b} / {p}: {} + {} epochs…", args.epochs_warmup, args.runs);
            match run_child(&exe, b, p, &args) {
                Ok(m) => results.push(m),
                Err(why) => {
                    errln!("bench: {b} / {p} failed: {why}");
                    failures.push(Failure { backend: b.to_string(), preset: p.clone(), error: why });
                }
            }
        }
    }

    // Measured after the children, on the threads they trained on, with nothing else running.
    let peak = super::floor::fma_peak();
    for m in results.iter_mut().filter(|m| m.floor_seconds.is_some()) {
        m.percent_of_peak = Some(100.0 * m.gflops / peak.gflops);
    }
    let mut machine = machine();
    machine["fma_peak"] = serde_json::json!(peak);
    outln!("{}", machine_line(&machine));
    outln!("FMA peak: {:.1} GFLOP/s ({}, {} threads)", peak.gflops, peak.isa, peak.threads);
    outln!();
    out!("{}", table(&results));
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "machine": machine,
            "settings": { "runs": args.runs, "epochs_warmup": args.epochs_warmup },
            "results": results,
            "failures": failures,
        });
        write_atomic(path, format!("{}\n", serde_json::to_string_pretty(&doc)?).as_bytes())?;
    }
    if !failures.is_empty() {
        let names: Vec<String> = failures.iter().map(|f| format!("{}/{}", f.backend, f.preset)).collect();
        return Err(error::runtime(format!("bench failed for {}", names.join(", "))));
    }
    Ok(())
}

/// Every compiled backend, but wgpu only where it finds an adapter (checked without bringing one
/// up: each measurement runs in a child of its own).
fn default_backends() -> Vec<BackendName> {
    let mut backends = backend::compiled();
    if backends.contains(&BackendName::Wgpu) && backend::adapters().is_empty() {
        errln!("warning: no wgpu adapter found: benchmarking the CPU backends only");
        backends.retain(|&b| b != BackendName::Wgpu);
    }
    backends
}

/// A backend × preset pair that did not finish.
#[derive(serde::Serialize)]
struct Failure {
    backend: String,
    preset: String,
    error: String,
}

/// Run one pair in a child; its stderr is forwarded live (epoch lines, errors), its last stdout
/// line is the measurement. Err is the child's error line, for the report.
fn run_child(
    exe: &std::path::Path,
    backend: BackendName,
    preset: &str,
    args: &BenchArgs,
) -> Result<Measurement, String> {
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "--child", &format!("{backend}:{preset}")]).args([
        "--runs",
        &args.runs.to_string(),
        "--epochs-warmup",
        &args.epochs_warmup.to_string(),
    ]);
    if let Some(dir) = &args.data.data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    if let Some(dataset) = args.data.dataset {
        cmd.args(["--dataset", dataset.name()]);
    }
    if args.data.offline {
        cmd.arg("--offline");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let mut last_error = None;
    // The child writes a single short line to stdout, so reading stderr first cannot deadlock.
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            errln!("  {line}");
            if let Some(msg) = line.strip_prefix("error: ") {
                last_error = Some(msg.to_string());
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| format!("waiting for the child: {e}"))?;
    if !out.status.success() {
        return Err(last_error.unwrap_or_else(|| format!("child exited with {}", out.status)));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or("the child printed no result")?;
    serde_json::from_str(line).map_err(|e| format!("unreadable child result: {e}"))
}

/// The child's work: one backend, one preset, in this (fresh) process.
fn measure(pair: &str, args: &BenchArgs) -> Result<Measurement> {
    let (backend_name, preset) =
        pair.split_once(':').ok_or_else(|| error::config(format!("--child expects BACKEND:PRESET, got `{pair}`")))?;
    let backend_name = BackendName::from_str(backend_name, true)
        .map_err(|_| error::config(format!("--child: unknown backend `{backend_name}`")))?;
    let backend::Selected { device, name: backend_name, .. } = backend::select(Some(backend_name))?;
    let backend_name = backend_name.to_string();
    let (name, mut cfg) = presets::resolve(preset)?;
    let (runs, warmup) = (args.runs as usize, args.epochs_warmup as usize);
    cfg.train.epochs = warmup + runs;
    if let Some(dataset) = args.data.dataset {
        cfg.data.dataset = dataset;
    }
    // Timing needs every epoch to run; the data split (data.validation) is kept as configured.
    cfg.early_stopping = None;
    cfg.validate()?;

    let dir = data::data_dir(args.data.data_dir.as_deref(), cfg.data.dataset);
    let mut load_seconds_all = Vec::new();
    let mut mnist = None;
    for _ in 0..runs {
        drop(mnist.take()); // one copy resident at a time, as in `train`
        let start = Instant::now();
        let raw = data::load_raw(cfg.data.dataset, &dir, args.data.offline)?;
        let loaded = data::MnistData::new(&raw, &cfg.data, cfg.augmentation.is_some(), &device)?;
        // Reading a value back waits for the upload on asynchronous (GPU) backends.
        let _ = loaded.test.labels().sum().into_scalar::<i64>();
        load_seconds_all.push(start.elapsed().as_secs_f64());
        mnist = Some(loaded);
    }
    let mnist = mnist.expect("runs >= 1");

    let outcome = train::fit(&cfg, &mnist, &device, &FitOptions::default(), |m| {
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
    let floor_seconds = backend::is_host(&device).then(|| super::floor::epoch_seconds(&cfg, mnist.train.len));
    let gflop_per_epoch = super::floor::epoch_gflop(&cfg, mnist.train.len);

    let epoch_seconds_all = epochs[warmup..].to_vec();
    let epoch_seconds = median(&epoch_seconds_all);
    let validation_seconds = median(&validation_seconds_all);
    let train_seconds = (epoch_seconds - validation_seconds).max(f64::EPSILON);
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
        load_seconds_all,
        epoch_seconds_all,
        validation_seconds_all,
    })
}

fn median(xs: &[f64]) -> f64 {
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

fn table(results: &[Measurement]) -> String {
    let mut out = String::from(
        "| backend | preset | load s | first epoch s | epoch s (train) | validation s | samples/s | peak MB | sgemm floor s | × floor | GFLOP/epoch | GFLOP/s | % of FMA peak |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in results {
        let peak = m.peak_rss_mb.map_or("n/a".to_string(), |mb| format!("{mb:.0}"));
        let floor = m.floor_seconds.map_or("n/a".to_string(), |f| format!("{f:.2}"));
        let ratio = m.floor_seconds.map_or("n/a".to_string(), |f| format!("{:.2}", m.train_seconds / f));
        let of_peak = m.percent_of_peak.map_or("n/a".to_string(), |p| format!("{p:.0} %"));
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.3} | {:.0} | {peak} | {floor} | {ratio} | {:.1} | {:.1} | {of_peak} |\n",
            m.backend,
            m.preset,
            m.load_seconds,
            m.first_epoch_seconds,
            m.train_seconds,
            m.validation_seconds,
            m.samples_per_second,
            m.gflop_per_epoch,
            m.gflops
        ));
    }
    out
}

fn machine() -> serde_json::Value {
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
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        // Thread-count knobs change CPU timings; recorded when set.
        "rayon_num_threads": std::env::var("RAYON_NUM_THREADS").ok(),
        "date": date,
    })
}

fn machine_line(m: &serde_json::Value) -> String {
    let s = |k: &str| m[k].as_str().unwrap_or("").to_string();
    format!(
        "mnist-lab {} ({} build) on {}, {} cores, {}; {}",
        s("mnist_lab_version"),
        s("build"),
        s("cpu"),
        m["cores"],
        s("os"),
        s("date")
    )
}
