use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use super::signals::Stop;
use super::{BackendArg, DataArgs, Progress};
use crate::artifacts::{self, CONFIG_FILE, DIVERGED_FILE, HISTORY_FILE, RunDir, Summary};
use crate::backend::BackendName;
use crate::config::ExperimentConfig;
use crate::data::Split;
use crate::report::plot;
use crate::train::{Checkpoints, EpochMetrics, FitOptions, FitOutcome, History};
use crate::{backend, data, error, presets, train};

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
    let (resumed, cfg) = resolve(&args)?;
    let backend = backend::select(args.backend.backend)?;
    let load_start = Instant::now();
    let dir = data::data_dir(args.data.data_dir.as_deref(), cfg.data.dataset);
    let raw = data::load_raw(cfg.data.dataset, &dir, args.data.offline)?;
    let mnist = data::MnistData::new(&raw, &cfg.data, cfg.augmentation.is_some(), &backend.device)?;
    drop(raw);
    let load_seconds = load_start.elapsed().as_secs_f64();

    // A new run's directory is made only now, with the data and the device in hand; a resumed
    // one was already locked and tidied by `resolve`, its checkpoints untouched.
    if stop.requested() {
        let what = match &resumed {
            Some((run, _)) => format!(
                "before training started; {} keeps its checkpoints — continue with `mnist-lab train --resume {}`",
                run.path.display(),
                run.path.display()
            ),
            None => "before training started; nothing was written".into(),
        };
        return Err(stop.error(&what));
    }
    let resuming = resumed.as_ref().is_some_and(|r| r.1);
    let run = match resumed {
        Some((run, _)) => run,
        None => RunDir::create(args.out.as_deref(), &cfg.preset)?,
    };
    // An earlier session's divergence no longer describes the run once it trains again.
    let diverged = run.file(DIVERGED_FILE);
    if fs::symlink_metadata(&diverged).is_ok() {
        fs::remove_file(&diverged).map_err(|e| error::runtime(format!("cannot remove {}: {e}", diverged.display())))?;
    }
    // Written first (and again on resume, for a changed --epochs): the run is re-runnable.
    run.write(CONFIG_FILE, format!("# mnist-lab run, fully resolved\n{}", cfg.to_toml()).as_bytes())?;
    if !args.quiet {
        let on = backend.adapter.as_ref().map(|a| format!(" ({a})")).unwrap_or_default();
        outln!(
            "{}: {} on {}{on}, {} training / {} validation / {} test images (loaded in {load_seconds:.2} s)",
            cfg.preset,
            cfg.data.dataset.name(),
            backend.name,
            mnist.train.len,
            mnist.valid.as_ref().map_or(0, |v| v.len),
            mnist.test.len
        );
    }
    let outcome =
        fit(&args, &cfg, &mnist, &backend.device, &run, resuming, &stop).map_err(|e| note_divergence(&run, e))?;
    if outcome.stopped_early && !args.quiet {
        outln!(
            "early stopping after epoch {}: no improvement for {} epochs; restored epoch {}",
            outcome.history.epochs.len(),
            cfg.early_stopping.as_ref().map_or(0, |e| e.patience),
            outcome.best_epoch
        );
    }
    let summary =
        write_results(&run, &cfg, &outcome, &mnist.test, backend.name).map_err(|e| note_divergence(&run, e))?;
    let (accuracy, loss) = (summary.test_accuracy, summary.test_loss);
    outln!("test accuracy: {:.2} % ({accuracy:.4})  test loss: {loss:.6}", accuracy * 100.0);
    outln!("run directory: {}", run.path.display());
    Ok(())
}

/// A run that diverged says so in its folder (`sweep collect` lists it as diverged rather than
/// unfinished or not started); the error then goes on as it was.
fn note_divergence(run: &RunDir, err: anyhow::Error) -> anyhow::Error {
    if error::is_diverged(&err)
        && let Err(e) = run.write(DIVERGED_FILE, format!("{err:#}\n").as_bytes())
    {
        errln!("warning: {e:#}");
    }
    err
}

/// Train `cfg` into `run` (from its checkpoint when `resuming`), writing history.csv every
/// epoch; a stop request ends it with the command that resumes it.
fn fit(
    args: &TrainArgs,
    cfg: &ExperimentConfig,
    mnist: &data::MnistData,
    device: &burn::tensor::Device,
    run: &RunDir,
    resuming: bool,
    stop: &Stop,
) -> Result<FitOutcome> {
    let board_dir = run.file(train::tensorboard::DIR);
    let mut history = History::default();
    let mut warned_stalled = false;
    let opts = FitOptions {
        show_progress: show_progress_bar(args),
        checkpoints: if resuming { Checkpoints::Resume(&run.path) } else { Checkpoints::Save(&run.path) },
        interrupt: Some(stop.flag()),
        tensorboard: Some(&board_dir),
    };
    let outcome = train::fit(cfg, mnist, device, &opts, |m: &EpochMetrics| {
        history.epochs.push(m.clone());
        if !args.quiet {
            outln!("{}", epoch_line(m, cfg.train.epochs));
        }
        if m.stalled && !std::mem::replace(&mut warned_stalled, true) {
            errln!("{}", stalled_warning(m, cfg));
        }
        // Written every epoch so an interrupted run still shows its curve.
        if let Err(e) = run.write(HISTORY_FILE, history.to_csv().as_bytes()) {
            errln!("warning: {e:#}");
        }
    })?;
    if outcome.interrupted {
        return Err(stop.error(&format!(
            "during epoch {}; {} complete epochs are checkpointed — continue with \
             `mnist-lab train --resume {}`",
            outcome.history.epochs.len() + 1,
            outcome.history.epochs.len(),
            run.path.display()
        )));
    }
    Ok(outcome)
}

/// The run to resume (if any, locked, and whether it has a checkpoint to start from) and the
/// config to train, overrides applied.
fn resolve(args: &TrainArgs) -> Result<(Option<(RunDir, bool)>, ExperimentConfig)> {
    if let Some(out) = &args.out {
        artifacts::check_out(out)?;
    }
    let (run, cfg) = match &args.resume {
        Some(dir) => {
            let (run, done) = RunDir::resume(dir)?;
            if done.is_none() {
                errln!("warning: {} stopped before its first epoch ended; training it from epoch 1", dir.display());
            }
            let done = done.unwrap_or(0);
            if let Some(epochs) = args.epochs.filter(|&e| e < done) {
                return Err(error::config(format!(
                    "--epochs {epochs} is fewer than the {done} epochs {} has already trained",
                    dir.display()
                )));
            }
            let cfg = run.config()?;
            let resume = done > 0;
            (Some((run, resume)), cfg)
        }
        None => (None, presets::resolve(args.preset.as_deref().unwrap_or_default())?.1),
    };
    Ok((run, with_overrides(cfg, args)?))
}

fn show_progress_bar(args: &TrainArgs) -> bool {
    !args.quiet
        && match args.progress {
            Progress::Always => true,
            Progress::Never => false,
            Progress::Auto => std::io::stderr().is_terminal(),
        }
}

/// The trained network's files: history, weights, test-set figures, pictures and the summary.
fn write_results(
    run: &RunDir,
    cfg: &ExperimentConfig,
    outcome: &FitOutcome,
    test: &Split,
    backend: BackendName,
) -> Result<Summary> {
    let (test_loss, test_accuracy, matrix) = train::evaluate_with_confusion(&outcome.model, test, cfg);
    // The network's outputs overflowed on a test image: no figure of this run would mean anything.
    if !test_loss.is_finite() {
        return Err(error::runtime(format!(
            "{}: the test loss is {test_loss} after epoch {}; its model and summary are not written \
             (hint: try a smaller learning rate)",
            error::DIVERGED,
            outcome.history.epochs.len()
        )));
    }
    run.write(HISTORY_FILE, outcome.history.to_csv().as_bytes())?;
    run.save_model(&outcome.model)?;
    run.write(crate::export::SAFETENSORS_FILE, &crate::export::safetensors_bytes(&outcome.model, cfg)?)?;
    let title = format!("{} ({}, {backend})", cfg.preset, cfg.data.dataset.name());
    let best = Some(outcome.best_epoch);
    plot::learning_curves(&outcome.history, best, &title, &run.file("curves.svg"), &run.file("curves.png"))?;
    run.write("confusion.csv", matrix.to_csv().as_bytes())?;
    let (svg, png) = (run.file("confusion.svg"), run.file("confusion.png"));
    plot::confusion_matrix(&matrix, &format!("{title}: test set"), &svg, &png)?;
    let epochs = outcome.history.epochs.len();
    train::tensorboard::TensorBoard::confusion_matrix(&run.file(train::tensorboard::DIR), epochs, &png)?;
    let summary = Summary {
        preset: cfg.preset.clone(),
        dataset: cfg.data.dataset.name().to_string(),
        backend: backend.to_string(),
        epochs_run: outcome.history.epochs.len(),
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early,
        test_accuracy,
        test_loss,
        // From the history, so a resumed run counts the time of all its sessions alike.
        train_seconds: outcome.history.epochs.iter().map(|e| e.seconds).sum(),
        seconds_per_epoch: outcome.history.seconds_per_epoch(),
    };
    run.write_summary(&summary)?;
    Ok(summary)
}

/// `cfg` with the command line's overrides applied (with --resume only --epochs is allowed).
fn with_overrides(mut cfg: ExperimentConfig, args: &TrainArgs) -> Result<ExperimentConfig> {
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
    cfg.validate()?;
    Ok(cfg)
}

/// Said once, at the first epoch that ends at chance level with a loss that stopped moving.
fn stalled_warning(m: &EpochMetrics, cfg: &ExperimentConfig) -> String {
    // Below this no optimizer here moves an f32 weight of the usual size within an epoch.
    const TINY_RATE: f64 = 1e-6;
    if m.learning_rate < TINY_RATE {
        return format!(
            "warning: epoch {} ended at chance level (training accuracy {:.1} %) with a loss that stopped \
             moving ({:.4}): the learning rate ({}) is too small to move the weights; the lecture's rates \
             lie between 0.001 and 3 (--learning-rate)",
            m.epoch,
            m.train_accuracy * 100.0,
            m.train_loss,
            crate::train::history::lr_text(m.learning_rate)
        );
    }
    let cause = if cfg.model.hidden.iter().any(|l| l.activation != crate::config::Activation::Relu) {
        "the sigmoid/tanh units are likely saturated (stuck at 0 or 1, where their gradient vanishes)"
    } else {
        "the ReLU units are likely dead (never active, so no gradient reaches them)"
    };
    format!(
        "warning: epoch {} ended at chance level (training accuracy {:.1} %) with a loss that stopped \
         moving ({:.4}): {cause}, usually from a learning rate that is too large (now {}); try one 10–1000× \
         smaller with --learning-rate",
        m.epoch,
        m.train_accuracy * 100.0,
        m.train_loss,
        crate::train::history::lr_text(m.learning_rate)
    )
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
