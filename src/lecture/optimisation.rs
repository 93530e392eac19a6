//! Section 5, optimisation: the learning rate, momentum, the adaptive optimizers and the batch
//! size, each against plain SGD at 0.1 with batches of 32 (the `sgd` experiment).

use super::sweeps::{self, BATCH, LEARNING_RATES};
use super::{Check, Claim, Figure, Final, Metric, RunResult, SGD, Seed, SweepFigure, XAxis, line, pct};

/// Points of validation accuracy that count as "slower" or "faster".
const MARGIN: f64 = 0.05;
const AHEAD: f64 = 0.01;
/// How near its own best a rate must end to lie in an optimizer's band.
const WITHIN: f64 = 0.01;

pub fn claims() -> Vec<Claim> {
    let mut claims = learning_rate();
    claims.extend(optimizers());
    claims
}

/// The learning rate: too small, too large.
fn learning_rate() -> Vec<Claim> {
    vec![
        Claim {
            name: "Too small a learning rate is slow",
            claim: "A learning rate that is too small makes learning slow.",
            experiment: "SGD at 0.001 (`lr-small`) and at 0.1 (`sgd`); same network (100 sigmoid units, softmax), \
                         batches of 32, 10 epochs.",
            runs: &["lr-small", SGD],
            figures: vec![rates()],
            sweeps: vec![plain_sgd()],
            criterion: "after the last epoch, lr-small's validation accuracy is at least 5 points below sgd's",
            decided_on: "sgd's final validation accuracy less lr-small's, less 5 points",
            unit: "points",
            judge: too_small,
            rerun: "mnist-lab train lr-small --set train.epochs=50",
        },
        Claim {
            name: "Too large a learning rate is unstable",
            claim: "A learning rate that is too large makes learning unstable: it jumps around instead of settling.",
            experiment: "SGD at 10 (`lr-large`) and at 0.1 (`sgd`), otherwise the same.",
            runs: &["lr-large", SGD],
            figures: vec![rates()],
            sweeps: vec![plain_sgd()],
            criterion: "lr-large's validation accuracy ends below sgd's (how often each drops from one epoch to the \
                        next is listed)",
            decided_on: "sgd's final validation accuracy less lr-large's",
            unit: "points",
            judge: too_large,
            rerun: "mnist-lab train lr-large --set optimizer.learning_rate=3",
        },
    ]
}

/// Momentum, the adaptive optimizers, the batch size.
fn optimizers() -> Vec<Claim> {
    vec![
        Claim {
            name: "Momentum speeds SGD up",
            claim: "Momentum speeds SGD up along the direction the gradients keep pointing in.",
            experiment: "`momentum` is `sgd` with momentum 0.9.",
            runs: &[SGD, "momentum"],
            figures: vec![Figure {
                best_of: None,
                title: "SGD 0.1 with and without momentum: validation accuracy",
                x: XAxis::Epoch,
                y: "validation accuracy",
                series: vec![
                    line("SGD 0.1", SGD, Metric::ValAccuracy),
                    line("SGD 0.1 + momentum 0.9", "momentum", Metric::ValAccuracy),
                ],
            }],
            sweeps: Vec::new(),
            criterion: "after the first epoch, momentum's validation accuracy is at least one point above sgd's",
            decided_on: "momentum's epoch-1 validation accuracy less sgd's, less one point",
            unit: "points",
            judge: momentum,
            rerun: "mnist-lab train momentum --set optimizer.momentum=0.5",
        },
        Claim {
            name: "Adaptive optimizers need no tuned rate",
            claim: "The adaptive optimizers (Adagrad, RMSprop, Adam, Adadelta) spare the manual tuning of the learning \
                    rate.",
            experiment: "The same network (100 sigmoid units, softmax, batches of 32, 10 epochs) with each optimizer \
                         at learning rates from 1e-4 to 10, a decade apart; plain SGD and SGD with momentum 0.9 \
                         beside Adagrad, RMSprop, Adam and Adadelta. The race below runs each at the rate its \
                         preset gives it (Keras' defaults, 1.0 for Adadelta).",
            runs: &["momentum", "adagrad", "rmsprop", "adam", "adadelta"],
            figures: vec![
                race("the optimizers' race: validation accuracy by epoch", XAxis::Epoch),
                race("the optimizers' race: validation accuracy by training time", XAxis::Seconds),
            ],
            sweeps: vec![SweepFigure {
                title: "every optimizer against its learning rate: final validation accuracy",
                x: "learning rate",
                y: "validation accuracy",
                series: LABELS.iter().copied().zip(LEARNING_RATES.iter()).collect(),
                metric: Final::ValAccuracy,
            }],
            criterion: "over the same five decades of learning rate, the band of rates that end within one point of \
                        their optimizer's best is wider for the adaptive optimizers than for plain SGD",
            decided_on: "the adaptive optimizers' mean band width less plain SGD's",
            unit: "decades",
            judge: adaptive,
            rerun: "mnist-lab train adam --set optimizer.learning_rate=0.01",
        },
        Claim {
            name: "Small batches generalise better",
            claim: "The batch size changes the dynamics: small batches make noisier steps and tend to generalise \
                    better.",
            experiment: "SGD at 0.1 with batches of 8 (`batch-small`), 32 (`sgd`) and 1 024 (`batch-large`), 10 epochs \
                         each: the small batches make 128 times as many weight updates as the large ones.",
            runs: &["batch-small", SGD, "batch-large"],
            figures: vec![
                batches("batch sizes: validation accuracy by epoch", XAxis::Epoch),
                batches("batch sizes: validation accuracy by weight update", XAxis::Updates),
            ],
            sweeps: vec![SweepFigure {
                title: "batch size: final validation accuracy (10 epochs of SGD at 0.1)",
                x: "batch size",
                y: "validation accuracy",
                series: vec![("SGD 0.1", &BATCH)],
                metric: Final::ValAccuracy,
            }],
            criterion: "batch-small's test accuracy is above batch-large's",
            decided_on: "batch-small's test accuracy less batch-large's",
            unit: "points",
            judge: small_batches,
            rerun: "mnist-lab train batch-large --set train.epochs=50",
        },
    ]
}

/// The optimizers' names in the figure, in [`LEARNING_RATES`]' order.
const LABELS: [&str; 6] = ["SGD", "SGD + momentum 0.9", "Adagrad", "RMSprop", "Adam", "Adadelta"];

/// Plain SGD's final validation accuracy against its learning rate.
fn plain_sgd() -> SweepFigure {
    SweepFigure {
        title: "plain SGD against its learning rate: final validation accuracy",
        x: "learning rate",
        y: "validation accuracy",
        series: vec![("SGD", &LEARNING_RATES[0])],
        metric: Final::ValAccuracy,
    }
}

/// SGD at the three learning rates, by epoch.
fn rates() -> Figure {
    Figure {
        best_of: None,
        title: "learning rates 0.001, 0.1 and 10: validation accuracy",
        x: XAxis::Epoch,
        y: "validation accuracy",
        series: vec![
            line("0.001: lr-small", "lr-small", Metric::ValAccuracy),
            line("0.1: sgd", SGD, Metric::ValAccuracy),
            line("10: lr-large", "lr-large", Metric::ValAccuracy),
        ],
    }
}

/// The optimizers at their default rates beside SGD with momentum, along `x`.
fn race(title: &'static str, x: XAxis) -> Figure {
    Figure {
        best_of: None,
        title,
        x,
        y: "validation accuracy",
        series: vec![
            line("SGD 0.1 + momentum 0.9", "momentum", Metric::ValAccuracy),
            line("Adagrad", "adagrad", Metric::ValAccuracy),
            line("RMSprop", "rmsprop", Metric::ValAccuracy),
            line("Adam", "adam", Metric::ValAccuracy),
            line("Adadelta", "adadelta", Metric::ValAccuracy),
        ],
    }
}

/// The three batch sizes, along `x`.
fn batches(title: &'static str, x: XAxis) -> Figure {
    Figure {
        best_of: None,
        title,
        x,
        y: "validation accuracy",
        series: vec![
            line("batches of 8", "batch-small", Metric::ValAccuracy),
            line("batches of 32", SGD, Metric::ValAccuracy),
            line("batches of 1 024", "batch-large", Metric::ValAccuracy),
        ],
    }
}

fn last_val(r: &RunResult) -> Option<f64> {
    r.val_accuracy_at(usize::MAX)
}

fn too_small(s: &Seed) -> Option<Check> {
    let (small, mid) = (last_val(s.get("lr-small")?)?, last_val(s.get(SGD)?)?);
    Some(Check {
        difference: 100.0 * (mid - small - MARGIN),
        numbers: format!("final validation accuracy at 0.001 {} vs at 0.1 {}", pct(small), pct(mid)),
    })
}

/// Epochs whose validation accuracy is below the epoch before.
fn drops(r: &RunResult) -> usize {
    let acc: Vec<f64> = r.history.epochs.iter().filter_map(|e| e.val_accuracy).collect();
    acc.windows(2).filter(|w| w[1] < w[0]).count()
}

fn too_large(s: &Seed) -> Option<Check> {
    let (large, mid) = (s.get("lr-large")?, s.get(SGD)?);
    let (a, b) = (last_val(large)?, last_val(mid)?);
    let (d_large, d_mid) = (drops(large), drops(mid));
    Some(Check {
        difference: 100.0 * (b - a),
        numbers: format!(
            "validation accuracy dropped after {d_large} epochs at 10 vs {d_mid} at 0.1; final {} vs {}",
            pct(a),
            pct(b)
        ),
    })
}

fn momentum(s: &Seed) -> Option<Check> {
    let (with, without) = (s.get("momentum")?.val_accuracy_at(1)?, s.get(SGD)?.val_accuracy_at(1)?);
    Some(Check {
        difference: 100.0 * (with - without - AHEAD),
        numbers: format!("epoch-1 validation accuracy with momentum {} vs without {}", pct(with), pct(without)),
    })
}

/// Each optimizer's band of rates within [`WITHIN`] of its best, adaptive against plain SGD.
fn adaptive(s: &Seed) -> Option<Check> {
    let widths: Vec<f64> =
        LEARNING_RATES.iter().map(|sweep| sweeps::band_width(s, sweep, WITHIN)).collect::<Option<_>>()?;
    let adaptive = widths[2..].iter().sum::<f64>() / (widths.len() - 2) as f64;
    let parts: Vec<String> = LABELS.iter().zip(&widths).map(|(name, w)| format!("{name} {w:.2}")).collect();
    Some(Check {
        difference: adaptive - widths[0],
        numbers: format!(
            "decades of learning rate within one point of the best: {} (adaptive mean {adaptive:.2})",
            parts.join(", ")
        ),
    })
}

fn small_batches(s: &Seed) -> Option<Check> {
    let (small, large) = (s.get("batch-small")?.summary.test_accuracy, s.get("batch-large")?.summary.test_accuracy);
    Some(Check {
        difference: 100.0 * (small - large),
        numbers: format!("test accuracy with batches of 8 {} vs of 1 024 {}", pct(small), pct(large)),
    })
}
