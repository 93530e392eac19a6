//! One session of training into a run directory, new or resumed from its last checkpoint, and the files a
//! finished run leaves behind. The caller says what to show ([`Event`]); warnings go to stderr.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use formats::config::{Activation, ExperimentConfig};
use formats::error;
use formats::history::{self, EpochMetrics, History};
use formats::summary::Summary;

use super::{CONFIG_FILE, DIVERGED_FILE, HISTORY_FILE, RunDir, Stop, check_out};
use crate::backend::{self, BackendName, Selected};
use crate::data::{self, MnistData, Split};
use crate::plot;
use crate::train::{self, Checkpoints, FitOptions, FitOutcome};

/// What to train.
pub enum Start {
    /// A new run of `cfg` into `out` (default: `artifacts/<preset>-<UTC timestamp>`).
    New { cfg: Box<ExperimentConfig>, out: Option<PathBuf> },
    /// An interrupted run, from its last checkpoint; `epochs` may extend it.
    Resume { dir: PathBuf, epochs: Option<usize> },
}

/// One training and where it runs.
pub struct TrainRun<'a> {
    pub start: Start,
    /// Default: $MNIST_LAB_DATA, else ~/.cache/mnist-lab.
    pub data_dir: Option<PathBuf>,
    /// Never download the data.
    pub offline: bool,
    /// Default: $BURN_DEVICE, else a GPU when one is found, else the CPU.
    pub backend: Option<BackendName>,
    /// indicatif's bar on stderr during each epoch.
    pub progress_bar: bool,
    /// Checked between batches; a stop keeps the last checkpoint.
    pub stop: &'a Stop,
}

/// What happens while a run trains, for the caller to show or not.
pub enum Event<'a> {
    /// The data is on the device and training starts.
    Loaded { cfg: &'a ExperimentConfig, backend: &'a Selected, mnist: &'a MnistData, seconds: f64 },
    /// An epoch ended (its line is in history.csv already).
    Epoch { metrics: &'a EpochMetrics, epochs: usize },
    /// Early stopping ended the run after `after` epochs and restored epoch `best`.
    StoppedEarly { after: usize, patience: usize, best: usize },
}

/// A finished run.
pub struct Finished {
    pub dir: PathBuf,
    pub summary: Summary,
}

/// Train `opts.start` to the end: the run directory gets config.toml first, history.csv every
/// epoch, checkpoints, and at the end the model, the test figures, the pictures and
/// summary.json. A stop request ends it with the command that resumes it; a divergence leaves
/// diverged.txt.
pub fn train_run(opts: TrainRun, on: &mut dyn FnMut(Event)) -> Result<Finished> {
    let stop = opts.stop;
    let (resumed, Fresh { cfg, out }) = resolve(opts.start)?;
    let backend = backend::select(opts.backend)?;
    let load_start = Instant::now();
    let dir = data::data_dir(opts.data_dir.as_deref(), cfg.data.dataset);
    let raw = data::load_raw(cfg.data.dataset, &dir, opts.offline)?;
    let mnist = MnistData::new(&raw, &cfg.data, cfg.augmentation.is_some(), &backend.device)?;
    drop(raw);
    let seconds = load_start.elapsed().as_secs_f64();

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
    let (run, resuming) = match resumed {
        Some((run, resuming)) => (run, resuming),
        None => (RunDir::create(out.as_deref(), &cfg.preset)?, false),
    };
    // An earlier session's divergence no longer describes the run once it trains again.
    let diverged = run.file(DIVERGED_FILE);
    if fs::symlink_metadata(&diverged).is_ok() {
        fs::remove_file(&diverged).map_err(|e| error::runtime(format!("cannot remove {}: {e}", diverged.display())))?;
    }
    // Written first (and again on resume, for a changed --epochs): the run is re-runnable.
    run.write(CONFIG_FILE, format!("# mnist-lab run, fully resolved\n{}", cfg.to_toml()).as_bytes())?;
    on(Event::Loaded { cfg: &cfg, backend: &backend, mnist: &mnist, seconds });
    let how = How { cfg: &cfg, mnist: &mnist, device: &backend.device, run: &run, resuming, stop };
    let outcome = train_epochs(&how, opts.progress_bar, on).map_err(|e| note_divergence(&run, e))?;
    if outcome.stopped_early {
        let patience = cfg.early_stopping.as_ref().map_or(0, |e| e.patience);
        on(Event::StoppedEarly { after: outcome.history.epochs.len(), patience, best: outcome.best_epoch });
    }
    let summary =
        write_results(&run, &cfg, &outcome, &mnist.test, backend.name).map_err(|e| note_divergence(&run, e))?;
    Ok(Finished { dir: run.path.clone(), summary })
}

/// The config to train, and a new run's folder.
struct Fresh {
    cfg: ExperimentConfig,
    out: Option<PathBuf>,
}

/// The run to resume (if any, locked, and whether it has a checkpoint to start from) and the
/// config to train.
fn resolve(start: Start) -> Result<(Option<(RunDir, bool)>, Fresh)> {
    match start {
        Start::New { cfg, out } => {
            if let Some(out) = &out {
                check_out(out)?;
            }
            cfg.validate()?;
            Ok((None, Fresh { cfg: *cfg, out }))
        }
        Start::Resume { dir, epochs } => {
            let (run, done) = RunDir::resume(&dir)?;
            if done.is_none() {
                errln!("warning: {} stopped before its first epoch ended; training it from epoch 1", dir.display());
            }
            let done = done.unwrap_or(0);
            if let Some(epochs) = epochs.filter(|&e| e < done) {
                return Err(error::config(format!(
                    "--epochs {epochs} is fewer than the {done} epochs {} has already trained",
                    dir.display()
                )));
            }
            let mut cfg = run.config()?;
            if let Some(epochs) = epochs {
                cfg.train.epochs = epochs;
            }
            cfg.validate()?;
            Ok((Some((run, done > 0)), Fresh { cfg, out: None }))
        }
    }
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

/// Everything `train_epochs` trains with.
struct How<'a> {
    cfg: &'a ExperimentConfig,
    mnist: &'a MnistData,
    device: &'a burn::tensor::Device,
    run: &'a RunDir,
    resuming: bool,
    stop: &'a Stop,
}

/// Train into the run (from its checkpoint when resuming), writing history.csv every epoch; a
/// stop request ends it with the command that resumes it.
fn train_epochs(how: &How, progress_bar: bool, on: &mut dyn FnMut(Event)) -> Result<FitOutcome> {
    let (cfg, run) = (how.cfg, how.run);
    let board_dir = run.file(train::tensorboard::DIR);
    let mut history = History::default();
    let mut warned_stalled = false;
    let opts = FitOptions {
        show_progress: progress_bar,
        checkpoints: if how.resuming { Checkpoints::Resume(&run.path) } else { Checkpoints::Save(&run.path) },
        interrupt: Some(how.stop.flag()),
        tensorboard: Some(&board_dir),
        phases: None,
    };
    let outcome = train::fit(cfg, how.mnist, how.device, &opts, |m: &EpochMetrics| {
        history.epochs.push(m.clone());
        on(Event::Epoch { metrics: m, epochs: cfg.train.epochs });
        if m.stalled && !std::mem::replace(&mut warned_stalled, true) {
            errln!("{}", stalled_warning(m, cfg));
        }
        // Written every epoch so an interrupted run still shows its curve.
        if let Err(e) = run.write(HISTORY_FILE, history.to_csv().as_bytes()) {
            errln!("warning: {e:#}");
        }
    })?;
    if outcome.interrupted {
        return Err(how.stop.error(&format!(
            "during epoch {}; {} complete epochs are checkpointed — continue with \
             `mnist-lab train --resume {}`",
            outcome.history.epochs.len() + 1,
            outcome.history.epochs.len(),
            run.path.display()
        )));
    }
    Ok(outcome)
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
    plot::learning_curves(&outcome.history, best, &title, &run.writable("curves.svg")?, &run.writable("curves.png")?)?;
    run.write("confusion.csv", matrix.to_csv().as_bytes())?;
    let (svg, png) = (run.writable("confusion.svg")?, run.writable("confusion.png")?);
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
            history::lr_text(m.learning_rate)
        );
    }
    let cause = if cfg.model.hidden.iter().any(|l| l.activation != Activation::Relu) {
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
        history::lr_text(m.learning_rate)
    )
}
