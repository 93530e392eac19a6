//! Section 4, data augmentation: rotated and shifted copies of the images are more data, the
//! best cure for overfitting.

use super::{Check, Claim, Figure, Metric, Seed, XAxis, line, pct};

/// Test accuracy points augmentation must gain for "generalises better" to count.
const GAIN: f64 = 0.01;

pub fn claims() -> Vec<Claim> {
    vec![Claim {
        name: "Augmented data generalises better",
        claim: "More data is the best cure for overfitting, and rotated and shifted copies of the images make more of it.",
        experiment: "`augmentation` is `overfit` (the same 1 000 images) with every image rotated by up to 12° and \
                     shifted by up to 2.5 pixels, drawn anew each epoch.",
        runs: &["overfit", "augmentation"],
        figures: vec![Figure {
            best_of: None,
            title: "overfit vs augmented: validation accuracy",
            x: XAxis::Epoch,
            y: "validation accuracy",
            series: vec![
                line("overfit", "overfit", Metric::ValAccuracy),
                line("augmentation", "augmentation", Metric::ValAccuracy),
            ],
        }],
        sweeps: Vec::new(),
        criterion: "augmentation's test accuracy is at least one point above overfit's",
        decided_on: "augmentation's test accuracy less overfit's, less one point",
        unit: "points",
        judge,
        rerun: "mnist-lab train augmentation --set augmentation.rotation=20 --set augmentation.shift=3",
    }]
}

fn judge(s: &Seed) -> Option<Check> {
    let (plain, more) = (s.get("overfit")?.summary.test_accuracy, s.get("augmentation")?.summary.test_accuracy);
    Some(Check {
        difference: 100.0 * (more - plain - GAIN),
        numbers: format!("test accuracy augmentation {} vs overfit {}", pct(more), pct(plain)),
    })
}
