//! `fit`: the epoch loop, readable top to bottom like the lecture.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Result;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::checkpoint::{self, Progress};
use super::history::{EpochMetrics, History};
use super::loss::{loss, penalty};
use super::monitor::Tracker;
use super::optim;
use super::schedule::Schedule;
use crate::config::{ExperimentConfig, Loss, Output};
use crate::data::augment::Augmenter;
use crate::data::idx::{CLASSES, PIXELS};
use crate::data::{Batch, MnistData, Split};
use crate::error;
use crate::model::Mlp;

/// Batch size for evaluation passes (no gradients, so larger is fine).
const EVAL_BATCH: usize = 1000;

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

#[derive(Default)]
pub struct FitOptions<'a> {
    pub show_progress: bool,
    /// Write a checkpoint into this run directory after every epoch.
    pub checkpoint_run: Option<&'a Path>,
    /// Carry on from the latest checkpoint of `checkpoint_run`.
    pub resume: bool,
    /// Set (by a Ctrl-C handler) to stop after the current batch.
    pub interrupt: Option<&'a AtomicBool>,
}

/// Per-epoch seeds, so shuffling, augmentation and dropout need no saved generator state.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_add((epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
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
    train_device.seed(cfg.train.seed);
    let mut model = Mlp::new(&cfg.model, &train_device);
    let mut optimizer = optim::build(&cfg.optimizer);
    let mut schedule = Schedule::new(cfg.schedule.clone(), cfg.optimizer.learning_rate);
    let mut stopper = cfg.early_stopping.as_ref().map(|es| Tracker::new(es.monitor, es.min_delta));
    let mut best_model: Option<Mlp> = None;
    let mut stopped_early = false;
    let mut history = History::default();
    if let (true, Some(run)) = (opts.resume, opts.checkpoint_run) {
        let ck = checkpoint::load(run, cfg, &train_device, optimizer)?;
        (model, optimizer, best_model) = (ck.model, ck.optimizer, ck.best);
        history = ck.progress.history;
        schedule.state = ck.progress.schedule;
        stopper = ck.progress.early_stopping;
        stopped_early = ck.progress.stopped_early;
        for m in &history.epochs {
            on_epoch(m);
        }
    }
    let (loss_kind, output) = (cfg.train.loss, cfg.model.output);
    let batch_size = cfg.train.batch_size;
    let n = data.train.len;
    // Show the running loss about 20 times an epoch: each read is a device sync.
    let progress_every = (n / cfg.train.batch_size / 20).max(1);
    let mut interrupted = false;

    for epoch in history.epochs.len() + 1..=cfg.train.epochs {
        if stopped_early {
            break;
        }
        let start = Instant::now();
        let lr = schedule.lr(epoch);
        let seed = epoch_seed(cfg.train.seed, epoch);
        train_device.seed(seed);
        crate::model::dropout::seed(seed);
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let mut augmenter = cfg.augmentation.clone().map(|a| Augmenter::new(a, seed.wrapping_add(1)));
        // One small upload per epoch; batches are slices of it, gathered on the device.
        let perm: Tensor<1, Int> = Tensor::from_data(TensorData::new(order.clone(), [n]), device);
        let bar = progress_bar(opts.show_progress, n, epoch, cfg.train.epochs);
        // Sums stay on the device and are read back once per epoch: no host sync per batch.
        let mut loss_sum = Sum::default();
        let mut correct_sum = Sum::default();
        let mut grad_sums: Vec<Sum<Tensor<1>>> = Vec::new();
        let mut batches = 0usize;
        for batch_start in (0..n).step_by(batch_size) {
            let end = (batch_start + batch_size).min(n);
            let mut batch = data.train.gather(perm.clone().slice(batch_start..end));
            if let (Some(aug), Some(host)) = (augmenter.as_mut(), data.train_host.as_ref()) {
                let warped = aug.batch(host, &order[batch_start..end]);
                batch.images = Tensor::from_data(TensorData::new(warped, [end - batch_start, PIXELS]), device);
            }
            let Batch { images, targets, labels } = batch;
            let logits = model.forward(images);
            let mut objective = loss(loss_kind, output, logits.clone(), targets);
            // Keras adds the regularisation penalty to the reported loss too.
            if let Some(p) = penalty(&model, cfg.train.l1, cfg.train.l2) {
                objective = objective.add(p);
            }
            loss_sum.add(objective.clone().inner().mul_scalar((end - batch_start) as f64));
            correct_sum.add(count_correct(logits.inner(), labels));
            let grads = objective.backward();
            if cfg.train.log_gradients {
                grad_sums.resize_with(model.layers.len(), Sum::default);
                for (sum, layer) in grad_sums.iter_mut().zip(&model.layers) {
                    if let Some(g) = layer.weight.val().grad(&grads) {
                        sum.add(g.abs().mean());
                    }
                }
            }
            batches += 1;
            let grads = GradientsParams::from_grads(grads, &model);
            model = optimizer.step(lr, model, grads);
            bar.inc((end - batch_start) as u64);
            if !bar.is_hidden() && batches % progress_every == 0 {
                let seen = end as f64;
                let l = loss_sum.get_f64() / seen;
                let a = correct_sum.get_i64() as f64 / seen;
                bar.set_message(format!("loss: {l:.4} - accuracy: {a:.4}"));
            }
            if opts.interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) {
                interrupted = true;
                break;
            }
        }
        bar.finish_and_clear();
        if interrupted {
            break;
        }
        let train_loss = loss_sum.get_f64() / n as f64;
        let train_accuracy = correct_sum.get_i64() as f64 / n as f64;
        if !train_loss.is_finite() {
            return Err(error::runtime(format!(
                "training diverged: the loss became {train_loss} in epoch {epoch}; \
                 hint: try a smaller learning rate (now {lr})"
            )));
        }
        let (val_loss, val_accuracy) = match &data.valid {
            Some(split) => {
                let (l, a) = evaluate(&model.valid(), split, loss_kind, output);
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let metrics = EpochMetrics {
            epoch,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            learning_rate: lr,
            seconds: start.elapsed().as_secs_f64(),
            grad_mean_abs: grad_sums.into_iter().map(|s| s.get_f64() / batches as f64).collect(),
        };
        on_epoch(&metrics);
        history.epochs.push(metrics);
        schedule.epoch_end(val_loss, val_accuracy);

        // Early stopping: keep the best weights, stop after `patience` epochs without progress.
        if let (Some(tracker), Some(es)) = (stopper.as_mut(), cfg.early_stopping.as_ref()) {
            if tracker.update(val_loss, val_accuracy) && es.restore_best_weights {
                best_model = Some(model.clone());
            }
            stopped_early = tracker.wait >= es.patience && epoch < cfg.train.epochs;
        }
        if let Some(run) = opts.checkpoint_run {
            let progress =
                Progress::new(epoch, history.clone(), schedule.state.clone(), stopper.clone(), stopped_early);
            checkpoint::save(run, &model, &optimizer, best_model.as_ref(), &progress)?;
        }
    }
    let best_epoch = match &stopper {
        Some(t) => t.best.map_or(history.epochs.len(), |(_, e)| e),
        None => history.best_epoch().unwrap_or(0),
    };
    let model = best_model.unwrap_or(model);
    Ok(FitOutcome { model: model.valid(), history, best_epoch, stopped_early, interrupted })
}

/// A running sum kept on the device.
struct Sum<T>(Option<T>);

impl<T> Default for Sum<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<K: burn::tensor::kind::Numeric> Sum<Tensor<1, K>> {
    fn add(&mut self, t: Tensor<1, K>) {
        self.0 = Some(match self.0.take() {
            Some(s) => s.add(t),
            None => t,
        });
    }
}

/// Reading a sum back is a device sync: done once per epoch (and for the progress bar).
impl Sum<Tensor<1>> {
    fn get_f64(&self) -> f64 {
        self.0.clone().map_or(0.0, |s| s.into_scalar::<f64>())
    }
}

impl Sum<Tensor<1, Int>> {
    fn get_i64(&self) -> i64 {
        self.0.clone().map_or(0, |s| s.into_scalar::<i64>())
    }
}

fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1, Int> {
    logits.argmax(1).squeeze_dim::<1>(1).equal(labels).int().sum()
}

/// Mean loss (without penalties) and accuracy of `model` on `split`.
pub fn evaluate(model: &Mlp, split: &Split, loss_kind: Loss, output: Output) -> (f64, f64) {
    evaluation_pass(model, split, loss_kind, output, None)
}

/// [`evaluate`] plus the counts of (true label, predicted label), in the same forward pass.
pub fn evaluate_with_confusion(
    model: &Mlp,
    split: &Split,
    loss_kind: Loss,
    output: Output,
) -> (f64, f64, [[u64; CLASSES]; CLASSES]) {
    let mut matrix = [[0u64; CLASSES]; CLASSES];
    let (loss, accuracy) = evaluation_pass(model, split, loss_kind, output, Some(&mut matrix));
    (loss, accuracy, matrix)
}

/// One forward pass over `split`; filling `matrix` reads predictions back every batch, so
/// per-epoch validation leaves it out.
fn evaluation_pass(
    model: &Mlp,
    split: &Split,
    loss_kind: Loss,
    output: Output,
    mut matrix: Option<&mut [[u64; CLASSES]; CLASSES]>,
) -> (f64, f64) {
    let mut loss_sum = Sum::default();
    let mut correct_sum = Sum::default();
    for start in (0..split.len).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(split.len);
        let Batch { images, targets, labels } = split.rows(start, end);
        let logits = model.forward(images);
        loss_sum.add(loss(loss_kind, output, logits.clone(), targets).mul_scalar((end - start) as f64));
        if let Some(matrix) = matrix.as_deref_mut() {
            let read =
                |t: Tensor<1, Int>| t.into_data().convert::<i64>().try_into_vec::<i64>().expect("labels read back");
            let pred = read(logits.clone().argmax(1).squeeze_dim::<1>(1));
            for (t, p) in read(labels.clone()).iter().zip(&pred) {
                matrix[*t as usize][*p as usize] += 1;
            }
        }
        correct_sum.add(count_correct(logits, labels));
    }
    let n = split.len as f64;
    (loss_sum.get_f64() / n, correct_sum.get_i64() as f64 / n)
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
