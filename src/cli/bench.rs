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

use anyhow::Result;
use clap::{Args, ValueEnum};
use formats::error;

use super::DataArgs;
use crate::backend::BackendName;
use crate::bench::{self, Measurement, tables};
use crate::files::write_atomic;
use crate::run::check_destination;
use crate::{backend, data, presets};

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

pub fn run(args: BenchArgs) -> Result<()> {
    if let Some(pair) = &args.child {
        let m = bench::measure(&child_pair(pair, &args)?)?;
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
    let peak = bench::floor::fma_peak();
    results.iter_mut().for_each(|m| m.set_peak(&peak));
    let mut machine = bench::machine();
    machine["fma_peak"] = serde_json::json!(peak);
    outln!("{}", tables::machine_line(&machine));
    outln!("kernels: {}", machine["kernels"].as_str().unwrap_or("unknown"));
    outln!("FMA peak: {:.1} GFLOP/s ({}, {} threads)", peak.gflops, peak.isa, peak.threads);
    outln!();
    out!("{}", tables::epochs(&results));
    if results.iter().any(|m| m.phases.is_some()) {
        outln!();
        out!("{}", tables::phases(&results));
    }
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

/// `--child BACKEND:PRESET` and the flags beside it.
fn child_pair(pair: &str, args: &BenchArgs) -> Result<bench::Pair> {
    let (backend, preset) =
        pair.split_once(':').ok_or_else(|| error::config(format!("--child expects BACKEND:PRESET, got `{pair}`")))?;
    let backend = BackendName::from_str(backend, true)
        .map_err(|_| error::config(format!("--child: unknown backend `{backend}`")))?;
    Ok(bench::Pair {
        backend,
        preset: preset.to_string(),
        runs: args.runs as usize,
        warmup: args.epochs_warmup as usize,
        dataset: args.data.dataset,
        data_dir: args.data.data_dir.clone(),
        offline: args.data.offline,
    })
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
