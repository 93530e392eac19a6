//! Section 1, moving to Keras: the lecture's baseline network reaches about 96.6 %.

use super::{Check, Claim, Figure, Metric, Seed, XAxis, line, pct};

/// The lecture's own figure for the baseline's test accuracy.
pub const LECTURE_BASELINE: f64 = 0.966;

pub fn claims() -> Vec<Claim> {
    vec![Claim {
        name: "The Keras baseline reaches about 96.6 %",
        claim: "The Keras baseline (784 inputs, 30 sigmoid units, 10 sigmoid outputs, mean squared error, plain \
                SGD) reaches about 96.6 % on the test set.",
        experiment: "`baseline`: the lecture's network and settings (SGD at 3.0, batches of 10, 30 epochs, Glorot \
                     initialisation as Keras draws it).",
        runs: &["baseline"],
        figures: vec![Figure {
            best_of: None,
            title: "baseline: validation accuracy",
            x: XAxis::Epoch,
            y: "validation accuracy",
            series: vec![line("baseline", "baseline", Metric::ValAccuracy)],
        }],
        sweeps: Vec::new(),
        criterion: "the test accuracy is within one percentage point of the lecture's 96.6 %",
        decided_on: "one point less the distance of the test accuracy from 96.6 %",
        unit: "points",
        judge,
        rerun: "mnist-lab train baseline --set optimizer.learning_rate=1.0",
    }]
}

fn judge(s: &Seed) -> Option<Check> {
    let acc = s.get("baseline")?.summary.test_accuracy;
    Some(Check {
        difference: 1.0 - 100.0 * (acc - LECTURE_BASELINE).abs(),
        numbers: format!("test accuracy {} (the lecture: 96.6 %)", pct(acc)),
    })
}
