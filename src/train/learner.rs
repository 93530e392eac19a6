//! `fit`: the epoch loop, readable top to bottom like the lecture.

use std::time::Instant;

use anyhow::Result;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::history::{EpochMetrics, History};
use super::loss::{loss, penalty};
use super::optim;
use crate::config::{ExperimentConfig, Loss, Output};
use crate::data::{MnistData, Split};
use crate::error;
use crate::model::Mlp;

/// Batch size for evaluation passes (no gradients, so larger is fine).
const EVAL_BATCH: usize = 1000;

pub struct FitOutcome {
    /// The trained network, without autodiff.
    pub model: Mlp,
    pub history: History,
}

/// Train `cfg`'s network on `data` (resident on `device`), calling `on_epoch` after each epoch.
pub fn fit(
    cfg: &ExperimentConfig,
    data: &MnistData,
    device: &Device,
    show_progress: bool,
    mut on_epoch: impl FnMut(&EpochMetrics),
) -> Result<FitOutcome> {
    let train_device = device.clone().autodiff();
    train_device.seed(cfg.train.seed);
    let mut model = Mlp::new(&cfg.model, &train_device);
    let mut optimizer = optim::build(&cfg.optimizer);
    let mut rng = StdRng::seed_from_u64(cfg.train.seed);
    let (loss_kind, output) = (cfg.train.loss, cfg.model.output);
    let batch_size = cfg.train.batch_size;
    let n = data.train.len;
    let lr = cfg.optimizer.learning_rate;
    let mut history = History::default();
    let mut order: Vec<i64> = (0..n as i64).collect();

    for epoch in 1..=cfg.train.epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        // One small upload per epoch; batches are slices of it, gathered on the device.
        let perm: Tensor<1, Int> = Tensor::from_data(TensorData::new(order.clone(), [n]), device);
        let bar = progress_bar(show_progress, n, epoch, cfg.train.epochs);
        // Sums stay on the device and are read back once per epoch: no host sync per batch.
        let mut loss_sum: Option<Tensor<1>> = None;
        let mut correct_sum: Option<Tensor<1, Int>> = None;
        for batch_start in (0..n).step_by(batch_size) {
            let end = (batch_start + batch_size).min(n);
            let (x, targets, labels) = data.train.gather(perm.clone().slice(batch_start..end));
            let logits = model.forward(x);
            let mut objective = loss(loss_kind, output, logits.clone(), targets);
            if let Some(p) = penalty(&model, cfg.train.l1, cfg.train.l2) {
                objective = objective.add(p);
            }
            let weight = (end - batch_start) as f64;
            let batch_loss = objective.clone().inner().mul_scalar(weight);
            loss_sum = Some(match loss_sum {
                Some(s) => s.add(batch_loss),
                None => batch_loss,
            });
            let correct = count_correct(logits.inner(), labels);
            correct_sum = Some(match correct_sum {
                Some(s) => s.add(correct),
                None => correct,
            });
            let grads = GradientsParams::from_grads(objective.backward(), &model);
            model = optimizer.step(lr, model, grads);
            bar.inc((end - batch_start) as u64);
        }
        bar.finish_and_clear();
        let train_loss = loss_sum.map_or(0.0, |s| s.into_scalar::<f64>()) / n as f64;
        let train_accuracy = correct_sum.map_or(0, |s| s.into_scalar::<i64>()) as f64 / n as f64;
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
        };
        on_epoch(&metrics);
        history.epochs.push(metrics);
    }
    Ok(FitOutcome { model: model.valid(), history })
}

fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1, Int> {
    logits.argmax(1).squeeze_dim::<1>(1).equal(labels).int().sum()
}

/// Mean loss (without penalties) and accuracy of `model` on `split`.
pub fn evaluate(model: &Mlp, split: &Split, loss_kind: Loss, output: Output) -> (f64, f64) {
    let mut loss_sum: Option<Tensor<1>> = None;
    let mut correct_sum: Option<Tensor<1, Int>> = None;
    for start in (0..split.len).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(split.len);
        let (x, targets, labels) = split.rows(start, end);
        let logits = model.forward(x);
        let l = loss(loss_kind, output, logits.clone(), targets).mul_scalar((end - start) as f64);
        loss_sum = Some(match loss_sum {
            Some(s) => s.add(l),
            None => l,
        });
        let c = count_correct(logits, labels);
        correct_sum = Some(match correct_sum {
            Some(s) => s.add(c),
            None => c,
        });
    }
    let n = split.len as f64;
    (
        loss_sum.map_or(0.0, |s| s.into_scalar::<f64>()) / n,
        correct_sum.map_or(0, |s| s.into_scalar::<i64>()) as f64 / n,
    )
}

fn progress_bar(show: bool, n: usize, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "Epoch {prefix} {bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}]",
        )
        .expect("static template"),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
