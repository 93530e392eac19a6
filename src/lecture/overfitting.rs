//! Section 3, overfitting: on 1 000 images the training loss keeps falling while the validation
//! loss rises; L2, dropout and early stopping each hold it back.

use super::sweeps::{self, DROPOUT, L2, Sweep};
use super::{Check, Claim, Figure, Final, Metric, RunResult, Seed, SweepFigure, XAxis, line, pct};

/// How much above its lowest the validation loss must end for "rises" to count, in %.
const RISE: f64 = 10.0;

pub fn claims() -> Vec<Claim> {
    let mut claims = overfitting();
    claims.extend(other_cures());
    claims
}

/// Overfitting itself, and L2 against it.
fn overfitting() -> Vec<Claim> {
    vec![
        Claim {
            name: "Overfitting: training loss falls, validation loss rises",
            claim: "A network that overfits keeps lowering its training loss while its validation loss turns and rises.",
            experiment: "`overfit`: 100 sigmoid units trained for 150 epochs on only 1 000 images.",
            runs: &["overfit"],
            figures: vec![Figure {
                best_of: None,
                title: "overfit: training vs validation loss",
                x: XAxis::Epoch,
                y: "loss",
                series: vec![
                    line("training loss", "overfit", Metric::TrainLoss),
                    line("validation loss", "overfit", Metric::ValLoss),
                ],
            }],
            sweeps: Vec::new(),
            criterion: "the validation loss ends at least 10 % above its lowest, while the training loss ends below \
                        where it was at that lowest point",
            decided_on: "the lesser of the validation loss's rise above its lowest, less 10 %, and the training \
                         loss's fall since that epoch (both in % of their value then)",
            unit: "%",
            judge: overfits,
            rerun: "mnist-lab train overfit --set data.train_limit=5000",
        },
        Claim {
            name: "L2 regularisation fights overfitting",
            claim: "L2 regularisation, a penalty λΣw² on large weights, fights overfitting.",
            experiment: "`overfit` with λ from 1e-5 to 1e-3 (`l2`, λ = 5e-4, is one of them), each point trained on \
                         the same 1 000 images for 150 epochs; λ = 0 is `overfit` itself.",
            runs: &["overfit", "l2"],
            figures: vec![val_accuracy("overfit vs L2: validation accuracy", "L2 (λ = 5e-4)", "l2")],
            sweeps: vec![
                sweep_figure("L2: final validation accuracy against λ", "validation accuracy", Final::ValAccuracy),
                sweep_figure("L2: Σw² of the weights against λ", "Σw² (weights)", Final::WeightNorm),
            ],
            criterion: "the λ > 0 with the best final validation accuracy gives a higher test accuracy than λ = 0 \
                        (chosen on the validation set, judged on the test set)",
            decided_on: "the test accuracy at the best λ > 0 less that at λ = 0",
            unit: "points",
            judge: |s| cures(s, &L2, "λ"),
            rerun: "mnist-lab train overfit --set train.l2=3e-5",
        },
    ]
}

/// Dropout and early stopping.
fn other_cures() -> Vec<Claim> {
    vec![
        Claim {
            name: "Dropout fights overfitting",
            claim: "Dropout, switching units off at random during training, fights overfitting.",
            experiment: "`overfit` with the hidden units dropped at rates 0.1 to 0.7 (`dropout`, 0.5, is one of \
                         them) at each training step; rate 0 is `overfit` itself.",
            runs: &["overfit", "dropout"],
            figures: vec![
                val_accuracy("overfit vs dropout: validation accuracy", "dropout 0.5", "dropout"),
                val_loss("overfit vs dropout: validation loss", "dropout 0.5", "dropout"),
            ],
            sweeps: vec![SweepFigure {
                title: "dropout: final validation accuracy against the rate",
                x: "dropout rate",
                y: "validation accuracy",
                series: vec![("dropout", &DROPOUT)],
                metric: Final::ValAccuracy,
            }],
            criterion: "the rate > 0 with the best final validation accuracy gives a higher test accuracy than no \
                        dropout (chosen on the validation set, judged on the test set)",
            decided_on: "the test accuracy at the best rate > 0 less that without dropout",
            unit: "points",
            judge: |s| cures(s, &DROPOUT, "rate"),
            rerun: "mnist-lab train dropout --set model.hidden[0].dropout=0.2",
        },
        Claim {
            name: "Early stopping stops at the lowest validation loss",
            claim: "Early stopping ends training when the validation loss no longer improves, and keeps the best \
                    weights.",
            experiment: "`early-stopping` is `overfit` with patience 5 on the validation loss, restoring the best \
                         epoch's weights.",
            runs: &["overfit", "early-stopping"],
            figures: vec![Figure {
                best_of: Some("early-stopping"),
                ..val_loss("overfit vs early stopping: validation loss", "early stopping", "early-stopping")
            }],
            sweeps: Vec::new(),
            criterion: "it stops before its epoch limit, patience epochs after the epoch of its lowest validation loss, \
                        and keeps that epoch",
            decided_on: "the epochs it stopped before its limit, less half an epoch (less the epochs it kept or \
                         stopped off the mark, where it did)",
            unit: "epochs",
            judge: stops_early,
            rerun: "mnist-lab train early-stopping --set early_stopping.patience=10",
        },
    ]
}

/// A sweep of L2's λ, the value on a log scale.
fn sweep_figure(title: &'static str, y: &'static str, metric: Final) -> SweepFigure {
    SweepFigure { title, x: "λ", y, series: vec![("L2", &L2)], metric }
}

/// Validation accuracy of `overfit` beside that of `experiment`.
fn val_accuracy(title: &'static str, label: &'static str, experiment: &'static str) -> Figure {
    Figure {
        best_of: None,
        title,
        x: XAxis::Epoch,
        y: "validation accuracy",
        series: vec![line("overfit", "overfit", Metric::ValAccuracy), line(label, experiment, Metric::ValAccuracy)],
    }
}

/// Validation loss of `overfit` beside that of `experiment`.
fn val_loss(title: &'static str, label: &'static str, experiment: &'static str) -> Figure {
    Figure {
        best_of: None,
        title,
        x: XAxis::Epoch,
        y: "validation loss",
        series: vec![line("overfit", "overfit", Metric::ValLoss), line(label, experiment, Metric::ValLoss)],
    }
}

/// The epoch (from 1) of the lowest validation loss, and that loss.
fn lowest_val_loss(r: &RunResult) -> Option<(usize, f64)> {
    r.history.epochs.iter().filter_map(|e| e.val_loss.map(|l| (e.epoch, l))).min_by(|a, b| a.1.total_cmp(&b.1))
}

fn overfits(s: &Seed) -> Option<Check> {
    let r = s.get("overfit")?;
    let (at, low) = lowest_val_loss(r)?;
    let last = r.history.epochs.last()?;
    let train_then = r.history.epochs.get(at - 1)?.train_loss;
    let end = last.val_loss?;
    let rise = 100.0 * (end / low - 1.0) - RISE;
    let fall = 100.0 * (1.0 - last.train_loss / train_then);
    Some(Check {
        difference: rise.min(fall),
        numbers: format!(
            "validation loss {low:.3} at epoch {at} (its lowest), {end:.3} at epoch {}; training loss {train_then:.3} → {:.4}",
            last.epoch, last.train_loss
        ),
    })
}

/// The gap between validation and training loss after the last epoch.
fn final_gap(r: &RunResult) -> Option<f64> {
    let last = r.history.epochs.last()?;
    Some(last.val_loss? - last.train_loss)
}

/// The sweep's best value above 0 (by final validation accuracy) against 0, on the test set; and
/// the first value past the best whose validation accuracy falls below 0's.
fn cures(s: &Seed, sweep: &Sweep, what: &str) -> Option<Check> {
    let plain = s.get(&sweep.point(0.0))?;
    let (best, cured) = sweeps::best(s, sweep, true)?;
    let (a, b) = (plain.summary.test_accuracy, cured.summary.test_accuracy);
    let mut numbers = format!(
        "best {what} {} (final validation accuracy {}): test accuracy {} vs {} at {what} = 0; validation − training \
         loss {:.3} vs {:.3}",
        sweeps::label(best),
        pct(cured.val_accuracy_at(usize::MAX)?),
        pct(b),
        pct(a),
        final_gap(cured)?,
        final_gap(plain)?
    );
    if let (Some(x), Some(y)) = (cured.weight_norm, plain.weight_norm) {
        numbers.push_str(&format!("; Σw² {x:.0} vs {y:.0}"));
    }
    let plain_val = plain.val_accuracy_at(usize::MAX)?;
    let hurts = sweep.points().filter(|(v, _)| *v > best).find_map(|(v, name)| {
        let acc = s.get(&name)?.val_accuracy_at(usize::MAX)?;
        (acc < plain_val).then_some((v, acc))
    });
    match hurts {
        Some((v, acc)) => numbers.push_str(&format!(
            "; from {what} = {} it hurts: validation accuracy {} vs {} at 0",
            sweeps::label(v),
            pct(acc),
            pct(plain_val)
        )),
        None => numbers.push_str(&format!("; no {what} swept past the best falls below 0's")),
    }
    Some(Check { difference: 100.0 * (b - a), numbers })
}

fn stops_early(s: &Seed) -> Option<Check> {
    let r = s.get("early-stopping")?;
    let run = r.summary.epochs_run;
    let limit = r.config.train.epochs;
    let patience = r.config.early_stopping.as_ref()?.patience;
    let (lowest, loss) = lowest_val_loss(r)?;
    let kept = r.summary.best_epoch;
    let plain = s.get("overfit")?.summary.test_accuracy;
    // Off the mark: the epochs between the one kept and the lowest, and between the stop and
    // patience epochs after the one kept.
    let off = kept.abs_diff(lowest) + (kept + patience).abs_diff(run);
    let early = if r.summary.stopped_early { limit.saturating_sub(run) } else { 0 };
    Some(Check {
        difference: early as f64 - 0.5 - off as f64,
        numbers: format!(
            "stopped after epoch {run} of {limit}, kept epoch {kept} (lowest validation loss {loss:.3} at epoch \
             {lowest}); test accuracy {} vs overfit's {} after all its epochs",
            pct(r.summary.test_accuracy),
            pct(plain)
        ),
    })
}
