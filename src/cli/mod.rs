//! The command line: one file per subcommand.

mod bench;
mod data;
mod devices;
mod eval;
mod export;
mod import;
mod lecture;
mod list;
mod predict;
mod report;
mod sweep;
mod train;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use formats::config::Dataset;

use crate::backend::BackendName;
use crate::sweep::entry::Worker;

#[derive(Parser, Debug)]
#[command(
    name = "mnist-lab",
    version,
    about = "Every network of the 'improving neural networks' lecture, trained on MNIST with Burn"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a preset (see `list`) or a config file; writes a run directory.
    Train(train::TrainArgs),
    /// Reload a run's model and print its test accuracy and loss.
    Eval(eval::EvalArgs),
    /// Classify your own digit images (PNG/JPEG) with a trained run.
    Predict(predict::PredictArgs),
    /// Write a run's weights as safetensors (PyTorch layout), Burn's burnpack, an ONNX or a Keras model.
    Export(export::ExportArgs),
    /// Bring a Keras MLP (.keras) in as a run directory: eval, predict, report and export then work on it.
    Import(import::ImportArgs),
    /// Compare runs: a Markdown table and an overlay of their validation curves.
    Report(report::ReportArgs),
    /// Every claim of the lecture tested over seeds: trains its experiments, writes a handout
    /// (lecture.html, lecture.md) with a figure and a computed verdict per claim.
    Lecture(lecture::LectureArgs),
    /// List the presets with the lesson each one shows.
    List {
        /// Only the names, one per line (for `for p in $(mnist-lab list --names)`).
        #[arg(long)]
        names: bool,
    },
    /// Time data loading and epochs of `baseline` and `monster` on each backend.
    Bench(bench::BenchArgs),
    /// The compiled backends, every GPU adapter found, and the one `train` would pick.
    Devices(BackendArg),
    /// Sweeps: a grid of settings × seeds, run here or by Slurm, collected into mean ± std.
    Sweep {
        #[command(subcommand)]
        command: sweep::SweepCommand,
    },
    /// Manage the datasets.
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
}

/// Where the data comes from; shared by every subcommand that reads it.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset (default: the config's, mnist for most presets).
    #[arg(long, value_enum)]
    pub dataset: Option<Dataset>,
    /// Data directory (default: $MNIST_LAB_DATA, else ~/.cache/mnist-lab).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Never download: fail if the data is not already in the data directory.
    #[arg(long)]
    pub offline: bool,
}

/// Where the runs of a plan get their data and device (`sweep run`, `lecture`); the dataset is
/// each run's own.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// Data directory (default: $MNIST_LAB_DATA, else ~/.cache/mnist-lab).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Never download: fail if the data is not already in the data directory.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub backend: BackendArg,
}

impl WorkerArgs {
    pub fn worker(&self) -> Worker {
        Worker { data_dir: self.data_dir.clone(), offline: self.offline, backend: self.backend.backend }
    }
}

/// The backend to run on; shared by every subcommand that computes.
#[derive(Args, Debug, Clone, Default)]
pub struct BackendArg {
    /// Default: $BURN_DEVICE, else a GPU when built with `--features wgpu` and one is found,
    /// else the CPU.
    #[arg(long, value_enum)]
    pub backend: Option<BackendName>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Auto,
    Always,
    Never,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Export(args) => export::run(args),
        Command::Import(args) => import::run(args),
        Command::Report(args) => report::run(args),
        Command::Lecture(args) => lecture::run(args),
        Command::List { names } => list::run(names),
        Command::Bench(args) => bench::run(args),
        Command::Devices(args) => devices::run(args),
        Command::Sweep { command } => sweep::run(command),
        Command::Data { command } => data::run(command),
    }
}
