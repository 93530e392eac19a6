use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use formats::config::{ExperimentConfig, dotted};
use formats::error;
use formats::history::EpochMetrics;

use super::{BackendArg, DataArgs, Progress};
use crate::presets;
use crate::run::{self, Event, Finished, Start, Stop, TrainRun};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A preset name (`mnist-lab list`) or a path to a config .toml.
    #[arg(required_unless_present = "resume")]
    pub preset: Option<String>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub learning_rate: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Set any config key, repeatable, as a sweep grid writes it: `--set train.l2=1e-4
    /// --set model.hidden[0].dropout=0.3` (a bare word is a string: `--set optimizer.name=adam`).
    #[arg(long = "set", value_name = "KEY=VALUE", conflicts_with = "resume")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Run directory (default: artifacts/<preset>-<UTC timestamp>).
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint (`--epochs` may extend it).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["preset", "batch_size", "learning_rate", "seed", "dataset"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArg,
    /// Progress bar: auto shows it only on a terminal.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Progress,
    /// No progress bar and no per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: TrainArgs) -> Result<()> {
    // From the start, so a signal while the data loads stops before training does.
    let stop = Stop::install();
    let start = match &args.resume {
        Some(dir) => Start::Resume { dir: dir.clone(), epochs: args.epochs },
        None => {
            if let Some(out) = &args.out {
                run::check_out(out)?;
            }
            let cfg = presets::resolve(args.preset.as_deref().unwrap_or_default())?.1;
            let cfg = with_settings(cfg, &args)?;
            Start::New { cfg: Box::new(with_overrides(cfg, &args)), out: args.out.clone() }
        }
    };
    let opts = TrainRun {
        start,
        data_dir: args.data.data_dir.clone(),
        offline: args.data.offline,
        backend: args.backend.backend,
        progress_bar: show_progress_bar(&args),
        stop: &stop,
    };
    let quiet = args.quiet;
    let done = run::train_run(opts, &mut |event| {
        if !quiet {
            show(&event);
        }
    })?;
    finished(&done);
    Ok(())
}

/// The last two lines of a finished run.
pub fn finished(done: &Finished) {
    let (accuracy, loss) = (done.summary.test_accuracy, done.summary.test_loss);
    outln!("test accuracy: {:.2} % ({accuracy:.4})  test loss: {loss:.6}", accuracy * 100.0);
    outln!("run directory: {}", done.dir.display());
}

/// The line of a training event: what Keras prints.
pub fn show(event: &Event) {
    match event {
        Event::Loaded { cfg, backend, mnist, seconds } => {
            let on = backend.adapter.as_ref().map(|a| format!(" ({a})")).unwrap_or_default();
            outln!(
                "{}: {} on {}{on}, {} training / {} validation / {} test images (loaded in {seconds:.2} s)",
                cfg.preset,
                cfg.data.dataset.name(),
                backend.name,
                mnist.train.len,
                mnist.valid.as_ref().map_or(0, |v| v.len),
                mnist.test.len
            );
        }
        Event::Epoch { metrics, epochs } => outln!("{}", epoch_line(metrics, *epochs)),
        Event::StoppedEarly { after, patience, best } => {
            outln!("early stopping after epoch {after}: no improvement for {patience} epochs; restored epoch {best}")
        }
    }
}

fn show_progress_bar(args: &TrainArgs) -> bool {
    !args.quiet
        && match args.progress {
            Progress::Always => true,
            Progress::Never => false,
            Progress::Auto => std::io::stderr().is_terminal(),
        }
}

/// `cfg` with every `--set KEY=VALUE` applied and checked; a key also given by its own flag
/// (`train.epochs` and `--epochs`) is refused rather than one of them silently winning.
fn with_settings(cfg: ExperimentConfig, args: &TrainArgs) -> Result<ExperimentConfig> {
    if args.set.is_empty() {
        return Ok(cfg);
    }
    let flags = [
        ("train.epochs", args.epochs.is_some(), "--epochs"),
        ("train.batch_size", args.batch_size.is_some(), "--batch-size"),
        ("optimizer.learning_rate", args.learning_rate.is_some(), "--learning-rate"),
        ("train.seed", args.seed.is_some(), "--seed"),
        ("data.dataset", args.data.dataset.is_some(), "--dataset"),
    ];
    let mut pairs: Vec<(String, toml::Value)> = Vec::new();
    for item in &args.set {
        let Some((key, value)) = item.split_once('=') else {
            return Err(error::config(format!(
                "--set {item}: expected KEY=VALUE, a dotted config key (like `train.l2=1e-4`)"
            )));
        };
        let key = key.trim();
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(error::config(format!("--set {key} is given twice")));
        }
        if let Some((_, _, flag)) = flags.iter().find(|(k, given, _)| *k == key && *given) {
            return Err(error::config(format!("--set {key} and {flag} set the same key; give one of them")));
        }
        pairs.push((key.to_string(), dotted::parse_value(value.trim())));
    }
    dotted::set(&cfg, &pairs).map_err(|e| error::config(format!("--set {e}")))
}

/// `cfg` with the command line's overrides applied (checked when the run starts).
fn with_overrides(mut cfg: ExperimentConfig, args: &TrainArgs) -> ExperimentConfig {
    if let Some(v) = args.epochs {
        cfg.train.epochs = v;
    }
    if let Some(v) = args.batch_size {
        cfg.train.batch_size = v;
    }
    if let Some(v) = args.learning_rate {
        cfg.optimizer.set_learning_rate(v);
    }
    if let Some(v) = args.seed {
        cfg.train.seed = v;
    }
    if let Some(v) = args.data.dataset {
        cfg.data.dataset = v;
    }
    cfg
}

/// Keras' one-line epoch summary.
fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    let mut line = format!(
        "Epoch {}/{epochs} - {:.1}s - loss: {:.4} - accuracy: {:.4}",
        m.epoch, m.seconds, m.train_loss, m.train_accuracy
    );
    if let (Some(l), Some(a)) = (m.val_loss, m.val_accuracy) {
        line.push_str(&format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}"));
    }
    line
}
