//! `fit`: the epoch loop every lecture step trains through, and the training step inside it.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Result;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use formats::config::{ExperimentConfig, Output, TrainConfig};
use formats::error;
use formats::history::{EpochMetrics, History};
use formats::idx::PIXELS;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::evaluate::{Sum, count_correct, evaluate};
use super::loss::loss;
use super::max_norm;
use super::regularization::penalty;
use super::state::TrainingState;
use super::tensorboard::TensorBoard;
use crate::data::prefetch::Prefetch;
use crate::data::{Batch, MnistData};
use crate::model::Mlp;
use crate::random;

pub struct FitOutcome {
    /// The trained network (the best epoch's when early stopping restores it), without autodiff.
    pub model: Mlp,
    pub history: History,
    /// The epoch early stopping judged best, or the lowest validation loss without it.
    pub best_epoch: usize,
    pub stopped_early: bool,
    /// Stopped by the user (Ctrl-C) after a batch; the last checkpoint holds the last full epoch.
    pub interrupted: bool,
}

/// Whether `fit` writes a checkpoint into a run directory after every epoch, and whether it
/// starts from that directory's newest one.
#[derive(Debug, Default, Clone, Copy)]
pub enum Checkpoints<'a> {
    #[default]
    Off,
    Save(&'a Path),
    Resume(&'a Path),
}

#[derive(Default)]
pub struct FitOptions<'a> {
    pub show_progress: bool,
    pub checkpoints: Checkpoints<'a>,
    /// Set (by a Ctrl-C handler) to stop after the current batch.
    pub interrupt: Option<&'a AtomicBool>,
    /// Write TensorBoard event files into this folder.
    pub tensorboard: Option<&'a Path>,
    /// Each training epoch's [`Phases`], appended here when given (`bench`).
    pub phases: Option<&'a Mutex<Vec<Phases>>>,
}

/// Where a training epoch's time went, in seconds: what `bench` compares with the FMA peak. On
/// the CPU backends each op runs when it is called; a GPU backend queues its ops, so there these
/// time the queueing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    /// Gathering the batches (and waiting for augmented ones).
    pub data: f64,
    /// The forward pass and the loss.
    pub forward: f64,
    /// The backward pass: every gradient.
    pub backward: f64,
    /// The optimizer's step (and max-norm).
    pub optimizer: f64,
}

impl Phases {
    fn add(&mut self, o: &Phases) {
        self.data += o.data;
        self.forward += o.forward;
        self.backward += o.backward;
        self.optimizer += o.optimizer;
    }
}

/// Train `cfg`'s network on `data` (resident on `device`), calling `on_epoch` after each epoch.
pub fn fit(
    cfg: &ExperimentConfig,
    data: &MnistData,
    device: &Device,
    opts: &FitOptions,
    mut on_epoch: impl FnMut(&EpochMetrics),
) -> Result<FitOutcome> {
    let train_device = device.clone().autodiff();
    let mut state = match opts.checkpoints {
        Checkpoints::Resume(run) => TrainingState::restore(run, cfg, &train_device)?,
        _ => TrainingState::new(cfg, &train_device),
    };
    state.history.epochs.iter().for_each(&mut on_epoch);
    let mut board = opts.tensorboard.map(|dir| TensorBoard::create(dir, data.valid.is_some())).transpose()?;
    let mut interrupted = false;
    for epoch in state.next_epoch()..=cfg.train.epochs {
        if state.stopped_early {
            break;
        }
        let start = Instant::now();
        let lr = state.schedule.lr(epoch);
        // Seeds drawn from the epoch alone: a resumed run repeats an uninterrupted one.
        let seed = random::epoch_seed(cfg.train.seed, epoch);
        train_device.seed(seed);
        random::seed(seed);
        // One pass over the shuffled training images, a step per batch.
        let (model, sums) = train_epoch(state.model, &mut state.optimizer, cfg, data, epoch, seed, lr, opts);
        state.model = model;
        let Some(sums) = sums else {
            interrupted = true;
            break;
        };
        if let Some(log) = opts.phases {
            log.lock().unwrap_or_else(|e| e.into_inner()).push(sums.phases);
        }
        // Then how the network does on images it never trains on.
        let validation = data.valid.as_ref().map(|v| evaluate(&state.model.valid(), v, cfg));
        let metrics = sums.metrics(epoch, lr, data.train.len, validation, start.elapsed().as_secs_f64());
        check_finite(&metrics, &state.model)?;
        on_epoch(&metrics);
        // Logged before the checkpoint: a kill in between loses no step, and the resumed run
        // leaves out the steps already logged (`TensorBoard::create`).
        if let Some(board) = board.as_mut() {
            board.on_epoch_end(&metrics, &state.model, &sums.last_gradients)?;
        }
        state.end_epoch(metrics, epoch == cfg.train.epochs);
        if let Checkpoints::Save(run) | Checkpoints::Resume(run) = opts.checkpoints {
            state.save(run)?;
        }
    }
    Ok(FitOutcome {
        best_epoch: state.best_epoch(),
        stopped_early: state.stopped_early,
        history: state.history.clone(),
        interrupted,
        model: state.into_model().valid(),
    })
}

/// What one training step reports, kept on the device.
pub struct StepStats {
    /// The batch's mean loss, penalties included (what Keras reports), shape [1].
    pub loss: Tensor<1>,
    /// How many of the batch's images the network got right before the step.
    pub correct: Tensor<1, Int>,
    /// Mean |∂L/∂W| of each layer's weights (only when `log_gradients`).
    pub grad_mean_abs: Vec<Tensor<1>>,
    /// ∂L/∂W of each layer (only when asked for).
    pub gradients: Vec<Tensor<2>>,
    /// The step's forward, backward and optimizer times.
    pub phases: Phases,
}

/// One step of gradient descent on `batch`: the four lines every lecture step shares.
/// `keep_gradients` hands the weights' gradients back (for TensorBoard's histograms).
pub fn train_step(
    model: Mlp,
    optimizer: &mut ModuleOptimizer,
    batch: Batch,
    train: &TrainConfig,
    output: Output,
    lr: f64,
    keep_gradients: bool,
) -> (Mlp, StepStats) {
    let start = Instant::now();
    // 1. Forward: the network's logits for the batch.
    let logits = model.forward_train(batch.images);
    // 2. Loss: how far the outputs are from the targets, plus the weight penalty (L1/L2).
    let mut objective = loss(train.loss, output, logits.clone(), batch.targets);
    if let Some(p) = penalty(&model, train.l1, train.l2) {
        objective = objective.add(p);
    }
    let forward_done = Instant::now();
    // 3. Backward: the gradient of the loss for every weight.
    let grads = objective.backward();
    let layer_grads = || model.layers.iter().filter_map(|l| l.weight.val().grad(&grads));
    let grad_mean_abs = match train.log_gradients {
        true => layer_grads().map(|g| g.abs().mean()).collect(),
        false => Vec::new(),
    };
    let gradients = if keep_gradients { layer_grads().collect() } else { Vec::new() };
    let backward_done = Instant::now();
    // 4. Step: the optimizer moves every weight against its gradient.
    let grads = GradientsParams::from_grads(grads, &model);
    let model = max_norm::apply(optimizer.step(lr, model, grads));
    let phases = Phases {
        data: 0.0,
        forward: (forward_done - start).as_secs_f64(),
        backward: (backward_done - forward_done).as_secs_f64(),
        optimizer: backward_done.elapsed().as_secs_f64(),
    };
    let correct = count_correct(logits.inner(), batch.labels);
    (model, StepStats { loss: objective.inner(), correct, grad_mean_abs, gradients, phases })
}

/// Sums over one epoch's batches, on the device.
#[derive(Default)]
struct EpochSums {
    loss: Sum<Tensor<1>>,
    /// The loss over the first half of the epoch's images (`first_half_len` of them): compared
    /// with the second half's, it tells a network that still learns from one that stopped.
    first_half_loss: Sum<Tensor<1>>,
    first_half_len: usize,
    correct: Sum<Tensor<1, Int>>,
    grads: Vec<Sum<Tensor<1>>>,
    /// The last batch's weight gradients, when TensorBoard wants them.
    last_gradients: Vec<Tensor<2>>,
    batches: usize,
    phases: Phases,
}

impl EpochSums {
    /// The epoch's row of the history: means over the `n` training images, and the validation
    /// (loss, accuracy) when there is a validation split.
    fn metrics(&self, epoch: usize, lr: f64, n: usize, validation: Option<(f64, f64)>, seconds: f64) -> EpochMetrics {
        let (loss, first_half) = (self.loss.get_f64(), self.first_half_loss.get_f64());
        let train_loss = loss / n as f64;
        let train_accuracy = self.correct.get_i64() as f64 / n as f64;
        // At chance level with the same mean loss over both halves: nothing is learning any more.
        let halves = (self.first_half_len > 0 && self.first_half_len < n)
            .then(|| (first_half / self.first_half_len as f64, (loss - first_half) / (n - self.first_half_len) as f64));
        let stalled = train_accuracy <= CHANCE
            && halves.is_some_and(|(a, b)| (a - b).abs() <= STALL_TOLERANCE * a.abs().max(f64::MIN_POSITIVE));
        EpochMetrics {
            epoch,
            train_loss,
            train_accuracy,
            val_loss: validation.map(|v| v.0),
            val_accuracy: validation.map(|v| v.1),
            learning_rate: lr,
            seconds,
            grad_mean_abs: self.grads.iter().map(|s| s.get_f64() / self.batches as f64).collect(),
            stalled,
        }
    }
}

/// Training accuracy at or below this is chance level for ten classes, give or take.
const CHANCE: f64 = 0.15;
/// Relative difference of the two half-epochs' mean losses below which the loss "stopped moving".
const STALL_TOLERANCE: f64 = 1e-3;

/// One pass over the training split in a shuffled order; `None` when interrupted.
#[allow(clippy::too_many_arguments)]
fn train_epoch(
    mut model: Mlp,
    optimizer: &mut ModuleOptimizer,
    cfg: &ExperimentConfig,
    data: &MnistData,
    epoch: usize,
    seed: u64,
    lr: f64,
    opts: &FitOptions,
) -> (Mlp, Option<EpochSums>) {
    let n = data.train.len;
    let device = data.train.labels().device();
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    // One small upload per epoch; batches are slices of it, gathered on the device.
    let perm: Tensor<1, Int> = Tensor::from_data(TensorData::new(order.clone(), [n]), &device);
    // Augmented batches are warped on the thread pool, a few batches ahead of the step.
    let mut augmented = Prefetch::epoch(cfg, data, &order, seed.wrapping_add(1));
    let bar = progress_bar(opts.show_progress, n, epoch, cfg.train.epochs);
    // Show the running loss about 20 times an epoch: each read is a device sync.
    let progress_every = (n / cfg.train.batch_size / 20).max(1);
    let mut sums = EpochSums::default();
    for start in (0..n).step_by(cfg.train.batch_size) {
        let end = (start + cfg.train.batch_size).min(n);
        let gathering = Instant::now();
        let mut batch = data.train.gather(perm.clone().slice(start..end));
        if let Some(warped) = augmented.as_mut().and_then(Prefetch::next_batch) {
            batch.images = Tensor::from_data(TensorData::new(warped, [end - start, PIXELS]), &device);
        }
        sums.phases.data += gathering.elapsed().as_secs_f64();
        let keep = end == n && opts.tensorboard.is_some();
        let (next, step) = train_step(model, optimizer, batch, &cfg.train, cfg.model.output, lr, keep);
        model = next;
        let batch_loss = step.loss.mul_scalar((end - start) as f64);
        if end <= n / 2 {
            sums.first_half_loss.add(batch_loss.clone());
            sums.first_half_len = end;
        }
        sums.loss.add(batch_loss);
        sums.correct.add(step.correct);
        sums.grads.resize_with(step.grad_mean_abs.len(), Sum::default);
        sums.grads.iter_mut().zip(step.grad_mean_abs).for_each(|(s, g)| s.add(g));
        sums.last_gradients = step.gradients;
        sums.phases.add(&step.phases);
        sums.batches += 1;
        bar.inc((end - start) as u64);
        if !bar.is_hidden() && sums.batches % progress_every == 0 {
            let seen = end as f64;
            let (l, a) = (sums.loss.get_f64() / seen, sums.correct.get_i64() as f64 / seen);
            bar.set_message(format!("loss: {l:.4} - accuracy: {a:.4}"));
        }
        if opts.interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) {
            bar.finish_and_clear();
            return (model, None);
        }
    }
    bar.finish_and_clear();
    (model, Some(sums))
}

/// A loss that became NaN or ∞ ends the run: nothing after it would mean anything. So do
/// weights that did in the epoch's last step, which no loss of this epoch has seen yet.
fn check_finite(m: &EpochMetrics, model: &Mlp) -> Result<()> {
    let weights = || model.non_finite().map(|p| format!("weights {p}"));
    let losses = [("training loss", Some(m.train_loss)), ("validation loss", m.val_loss)];
    let bad = losses.iter().find_map(|(what, v)| v.filter(|v| !v.is_finite()).map(|v| format!("{what} became {v}")));
    if let Some(what) = bad.or_else(|| weights().map(|w| format!("{w} became NaN or infinite"))) {
        return Err(error::runtime(format!(
            "{}: the {what} in epoch {}; hint: try a smaller learning rate (now {})",
            error::DIVERGED,
            m.epoch,
            formats::history::lr_text(m.learning_rate)
        )));
    }
    Ok(())
}

fn progress_bar(show: bool, n: usize, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "Epoch {prefix} {bar:25} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}",
        )
        .expect("static template"),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
