use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use super::{DataArgs, Progress};
use crate::artifacts::{CONFIG_FILE, HISTORY_FILE, RunDir, Summary};
use crate::train::{EpochMetrics, History};
use crate::{backend, data, presets, train};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A preset name (`mnist-lab list`) or a path to a config .toml.
    pub preset: String,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub learning_rate: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Run directory (default: artifacts/<preset>-<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// flex, ndarray or wgpu (default: BURN_DEVICE, else the first compiled in).
    #[arg(long)]
    pub backend: Option<String>,
    /// Progress bar: auto shows it only on a terminal.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Progress,
    /// No progress bar and no per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let (preset, mut cfg) = presets::resolve(&args.preset)?;
    if let Some(v) = args.epochs {
        cfg.train.epochs = v;
    }
    if let Some(v) = args.batch_size {
        cfg.train.batch_size = v;
    }
    if let Some(v) = args.learning_rate {
        cfg.optimizer.learning_rate = v;
    }
    if let Some(v) = args.seed {
        cfg.train.seed = v;
    }
    if let Some(v) = args.data.dataset {
        cfg.data.dataset = v;
    }
    cfg.validate()?;
    let (device, backend_name) = backend::select(args.backend.as_deref())?;

    let load_start = Instant::now();
    let dir = data::data_dir(args.data.data_dir.as_deref(), cfg.data.dataset);
    let raw = data::load_raw(cfg.data.dataset, &dir, args.data.offline)?;
    let mnist = data::MnistData::new(&raw, &cfg.data, cfg.augmentation.is_some(), &device);
    drop(raw);
    let load_seconds = load_start.elapsed().as_secs_f64();

    let run = RunDir::create(args.out.as_deref(), &preset)?;
    run.write(CONFIG_FILE, format!("# mnist-lab run of `{preset}`, fully resolved\n{}", cfg.to_toml()).as_bytes())?;
    let show_bar = !args.quiet
        && match args.progress {
            Progress::Always => true,
            Progress::Never => false,
            Progress::Auto => std::io::stderr().is_terminal(),
        };
    if !args.quiet {
        println!(
            "{preset}: {} on {backend_name}, {} training / {} validation / {} test images (loaded in {load_seconds:.2} s)",
            cfg.data.dataset.name(),
            mnist.train.len,
            mnist.valid.as_ref().map_or(0, |v| v.len),
            mnist.test.len
        );
    }

    let start = Instant::now();
    let mut history = History::default();
    let epochs = cfg.train.epochs;
    let outcome = train::fit(&cfg, &mnist, &device, show_bar, |m: &EpochMetrics| {
        history.epochs.push(m.clone());
        if !args.quiet {
            println!("{}", epoch_line(m, epochs));
        }
        // Written every epoch so an interrupted run still shows its curve.
        if let Err(e) = run.write(HISTORY_FILE, history.to_csv().as_bytes()) {
            eprintln!("warning: {e:#}");
        }
    })?;
    let train_seconds = start.elapsed().as_secs_f64();
    if outcome.stopped_early && !args.quiet {
        println!(
            "early stopping after epoch {}: no improvement for {} epochs; best epoch {}",
            outcome.history.epochs.len(),
            cfg.early_stopping.as_ref().map_or(0, |e| e.patience),
            outcome.best_epoch
        );
    }
    run.write(HISTORY_FILE, outcome.history.to_csv().as_bytes())?;
    run.save_model(&outcome.model)?;

    let (test_loss, test_accuracy) =
        train::evaluate(&outcome.model, &mnist.test, cfg.train.loss, cfg.model.output);
    let summary = Summary {
        preset,
        dataset: cfg.data.dataset.name().to_string(),
        backend: backend_name,
        epochs_run: outcome.history.epochs.len(),
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early,
        test_accuracy,
        test_loss,
        train_seconds,
        seconds_per_epoch: outcome.history.seconds_per_epoch(),
    };
    run.write_summary(&summary)?;
    println!("test accuracy: {:.2} % ({test_accuracy:.4})  test loss: {test_loss:.6}", test_accuracy * 100.0);
    println!("run directory: {}", run.path.display());
    Ok(())
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
