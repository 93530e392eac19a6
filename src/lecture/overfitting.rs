//! Section 3, overfitting: on 1 000 images the training loss keeps falling while the validation
//! loss rises; L2, dropout and early stopping each hold it back.

use super::{Check, Claim, Figure, Metric, RunResult, Seed, XAxis, line, pct};

/// How much above its lowest the validation loss must end for "rises" to count.
const RISE: f64 = 1.1;

pub fn claims() -> Vec<Claim> {
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
            criterion: "the validation loss ends at least 10 % above its lowest, while the training loss ends below \
                        where it was at that lowest point",
            judge: overfits,
        },
        Claim {
            name: "L2 regularisation fights overfitting",
            claim: "L2 regularisation, a penalty λΣw² on large weights, fights overfitting.",
            experiment: "`l2` is `overfit` with λ = 0.0005.",
            runs: &["overfit", "l2"],
            figures: vec![
                val_accuracy("overfit vs L2: validation accuracy", "L2 (λ = 0.0005)", "l2"),
                val_loss("overfit vs L2: validation loss (L2's includes its penalty)", "L2 (λ = 0.0005)", "l2"),
            ],
            criterion: "after the last epoch, l2's validation accuracy is above overfit's",
            judge: |s| cures(s, "l2"),
        },
        Claim {
            name: "Dropout fights overfitting",
            claim: "Dropout, switching units off at random during training, fights overfitting.",
            experiment: "`dropout` is `overfit` with half the hidden units dropped at each training step.",
            runs: &["overfit", "dropout"],
            figures: vec![
                val_accuracy("overfit vs dropout: validation accuracy", "dropout 0.5", "dropout"),
                val_loss("overfit vs dropout: validation loss", "dropout 0.5", "dropout"),
            ],
            criterion: "after the last epoch, dropout's validation accuracy is above overfit's",
            judge: |s| cures(s, "dropout"),
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
            criterion: "it stops before its epoch limit, patience epochs after the epoch of its lowest validation loss, \
                        and keeps that epoch",
            judge: stops_early,
        },
    ]
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
    Some(Check {
        holds: end >= low * RISE && last.train_loss < train_then,
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

fn cures(s: &Seed, cure: &str) -> Option<Check> {
    let (plain, cured) = (s.get("overfit")?, s.get(cure)?);
    let (a, b) = (plain.val_accuracy_at(usize::MAX)?, cured.val_accuracy_at(usize::MAX)?);
    let mut numbers = format!(
        "final validation accuracy {cure} {} vs overfit {}; validation − training loss {:.3} vs {:.3}",
        pct(b),
        pct(a),
        final_gap(cured)?,
        final_gap(plain)?
    );
    if let (Some(x), Some(y)) = (cured.weight_norm, plain.weight_norm) {
        numbers.push_str(&format!("; Σw² {x:.0} vs {y:.0}"));
    }
    Some(Check { holds: b > a, numbers })
}

fn stops_early(s: &Seed) -> Option<Check> {
    let r = s.get("early-stopping")?;
    let run = r.summary.epochs_run;
    let limit = r.config.train.epochs;
    let patience = r.config.early_stopping.as_ref()?.patience;
    let (lowest, loss) = lowest_val_loss(r)?;
    let kept = r.summary.best_epoch;
    let plain = s.get("overfit")?.summary.test_accuracy;
    Some(Check {
        holds: r.summary.stopped_early && run < limit && kept == lowest && kept + patience == run,
        numbers: format!(
            "stopped after epoch {run} of {limit}, kept epoch {kept} (lowest validation loss {loss:.3} at epoch \
             {lowest}); test accuracy {} vs overfit's {} after all its epochs",
            pct(r.summary.test_accuracy),
            pct(plain)
        ),
    })
}
