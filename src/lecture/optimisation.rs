//! Section 5, optimisation: the learning rate, momentum, the adaptive optimizers and the batch
//! size, each against plain SGD at 0.1 with batches of 32 (the `sgd` experiment).

use super::{Check, Claim, Figure, Metric, RunResult, SGD, Seed, XAxis, line, pct};

/// Points of validation accuracy that count as "slower" or "faster".
const MARGIN: f64 = 0.05;
const AHEAD: f64 = 0.01;
/// How close to hand-tuned SGD with momentum an optimizer at its default rate must end.
const CLOSE: f64 = 0.02;
const ADAPTIVE: [&str; 4] = ["adagrad", "rmsprop", "adam", "adadelta"];

pub fn claims() -> Vec<Claim> {
    vec![
        Claim {
            name: "Too small a learning rate is slow",
            claim: "A learning rate that is too small makes learning slow.",
            experiment: "SGD at 0.001 (`lr-small`) and at 0.1 (`sgd`); same network (100 sigmoid units, softmax), \
                         batches of 32, 10 epochs.",
            runs: &["lr-small", SGD],
            figures: vec![rates()],
            criterion: "after the last epoch, lr-small's validation accuracy is at least 5 points below sgd's",
            judge: too_small,
        },
        Claim {
            name: "Too large a learning rate is unstable",
            claim: "A learning rate that is too large makes learning unstable: it jumps around instead of settling.",
            experiment: "SGD at 10 (`lr-large`) and at 0.1 (`sgd`), otherwise the same.",
            runs: &["lr-large", SGD],
            figures: vec![rates()],
            criterion: "lr-large's validation accuracy drops from one epoch to the next more often than sgd's, and ends \
                        below it",
            judge: too_large,
        },
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
            criterion: "after the first epoch, momentum's validation accuracy is at least one point above sgd's",
            judge: momentum,
        },
        Claim {
            name: "Adaptive optimizers need no tuned rate",
            claim: "The adaptive optimizers (Adagrad, RMSprop, Adam, Adadelta) spare the manual tuning of the learning \
                    rate.",
            experiment: "The same network with each optimizer at the rate its preset gives it (Keras' defaults, 1.0 \
                         for Adadelta), beside hand-tuned SGD with momentum; 10 epochs each.",
            runs: &["momentum", "adagrad", "rmsprop", "adam", "adadelta"],
            figures: vec![
                race("the optimizers' race: validation accuracy by epoch", XAxis::Epoch),
                race("the optimizers' race: validation accuracy by training time", XAxis::Seconds),
            ],
            criterion: "each adaptive optimizer ends within 2 points of hand-tuned SGD with momentum",
            judge: adaptive,
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
            criterion: "batch-small's test accuracy is above batch-large's",
            judge: small_batches,
        },
    ]
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
        holds: small <= mid - MARGIN,
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
        holds: d_large > d_mid && a < b,
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
        holds: with >= without + AHEAD,
        numbers: format!("epoch-1 validation accuracy with momentum {} vs without {}", pct(with), pct(without)),
    })
}

fn adaptive(s: &Seed) -> Option<Check> {
    let tuned = last_val(s.get("momentum")?)?;
    let mut all = true;
    let mut parts = Vec::new();
    for name in ADAPTIVE {
        let acc = last_val(s.get(name)?)?;
        all &= acc >= tuned - CLOSE;
        parts.push(format!("{name} {}", pct(acc)));
    }
    Some(Check {
        holds: all,
        numbers: format!("final validation accuracy {} vs SGD with momentum {}", parts.join(", "), pct(tuned)),
    })
}

fn small_batches(s: &Seed) -> Option<Check> {
    let (small, large) = (s.get("batch-small")?.summary.test_accuracy, s.get("batch-large")?.summary.test_accuracy);
    Some(Check {
        holds: small > large,
        numbers: format!("test accuracy with batches of 8 {} vs of 1 024 {}", pct(small), pct(large)),
    })
}
