//! Section 2, loss functions and initialisation: large initial weights saturate the sigmoids,
//! cross-entropy cancels σ'(z), and softmax outputs are probabilities.

use super::{Check, Claim, Figure, Metric, Seed, XAxis, line, pct};

/// How far the first epoch must pull ahead for "learns faster" to count.
const FASTER: f64 = 0.03;
/// How far from 1 a sum of f32 probabilities may stray by rounding alone.
const ROUNDING: f64 = 1e-5;

pub fn claims() -> Vec<Claim> {
    vec![
        Claim {
            name: "Large initial weights saturate the sigmoids and slow learning",
            claim: "Weights initialised too large drive the sigmoids into saturation (σ(z) ≈ 0 or 1, where σ'(z) ≈ 0), \
                    so gradient descent starts slowly.",
            experiment: "`init-large` draws the weights from N(0, 1), `scaled-normal` from N(0, 1/n_in); everything \
                         else is the baseline's (MSE, SGD at 3.0).",
            runs: &["init-large", "scaled-normal"],
            figures: vec![Figure {
                best_of: None,
                title: "N(0, 1) vs N(0, 1/n_in) initial weights: validation accuracy",
                x: XAxis::Epoch,
                y: "validation accuracy",
                series: vec![
                    line("N(0, 1): init-large", "init-large", Metric::ValAccuracy),
                    line("N(0, 1/n_in): scaled-normal", "scaled-normal", Metric::ValAccuracy),
                ],
            }],
            sweeps: Vec::new(),
            criterion: "after the first epoch, scaled-normal's validation accuracy is at least 3 points above init-large's",
            decided_on: "scaled-normal's epoch-1 validation accuracy less init-large's, less 3 points",
            unit: "points",
            judge: |s| first_epoch_ahead(s, "scaled-normal", "init-large"),
            rerun: "mnist-lab train init-large --set model.init_std=3",
        },
        Claim {
            name: "Cross-entropy learns fast from a saturated start",
            claim: "Cross-entropy cancels the σ'(z) factor in the output layer's gradient, which removes the slow start \
                    of saturated units.",
            experiment: "`init-large` (MSE) and `cross-entropy` (binary cross-entropy) start from the same saturated \
                         N(0, 1) weights with the same rate; only the loss differs.",
            runs: &["init-large", "cross-entropy"],
            figures: vec![Figure {
                best_of: None,
                title: "MSE vs cross-entropy from the same N(0, 1) start: validation accuracy",
                x: XAxis::Epoch,
                y: "validation accuracy",
                series: vec![
                    line("MSE: init-large", "init-large", Metric::ValAccuracy),
                    line("cross-entropy", "cross-entropy", Metric::ValAccuracy),
                ],
            }],
            sweeps: Vec::new(),
            criterion: "after the first epoch, cross-entropy's validation accuracy is at least 3 points above MSE's",
            decided_on: "cross-entropy's epoch-1 validation accuracy less init-large's, less 3 points",
            unit: "points",
            judge: |s| first_epoch_ahead(s, "cross-entropy", "init-large"),
            rerun: "mnist-lab train cross-entropy --set optimizer.learning_rate=0.5",
        },
        Claim {
            name: "Softmax outputs are probabilities",
            claim: "For several classes, a softmax output layer with categorical cross-entropy gives probabilities: \
                    the ten outputs are positive and sum to one.",
            experiment: "`softmax` (softmax outputs, categorical cross-entropy) beside `baseline` (ten independent \
                         sigmoids, MSE), each run's outputs summed over the first 1 000 test images.",
            runs: &["baseline", "softmax"],
            figures: vec![Figure {
                best_of: None,
                title: "sigmoid outputs + MSE vs softmax + cross-entropy: validation accuracy",
                x: XAxis::Epoch,
                y: "validation accuracy",
                series: vec![
                    line("sigmoid + MSE: baseline", "baseline", Metric::ValAccuracy),
                    line("softmax + cross-entropy: softmax", "softmax", Metric::ValAccuracy),
                ],
            }],
            sweeps: Vec::new(),
            criterion: "softmax's outputs sum to 1 within 1e-5 on every image, while the sigmoids' sums stray from 1 \
                        by more than that",
            decided_on: "the lesser of how far (in decades) softmax's largest |sum − 1| lies below 1e-5 and the \
                         sigmoids' above it",
            unit: "decades",
            judge: probabilities,
            rerun: "mnist-lab train softmax --set model.hidden[0].units=10",
        },
    ]
}

/// `fast`'s first-epoch validation accuracy at least [`FASTER`] above `slow`'s.
fn first_epoch_ahead(s: &Seed, fast: &str, slow: &str) -> Option<Check> {
    let (f, w) = (s.get(fast)?.val_accuracy_at(1)?, s.get(slow)?.val_accuracy_at(1)?);
    Some(Check {
        difference: 100.0 * (f - w - FASTER),
        numbers: format!("epoch-1 validation accuracy {fast} {} vs {slow} {}", pct(f), pct(w)),
    })
}

fn probabilities(s: &Seed) -> Option<Check> {
    let (soft_lo, soft_hi) = s.output_sums("softmax")?;
    let (sig_lo, sig_hi) = s.output_sums("baseline")?;
    let off = |lo: f64, hi: f64| (1.0 - lo).abs().max((hi - 1.0).abs());
    // In decades from the 1e-5 line; f32 rounding can make softmax's sums exactly 1.
    let decades = |x: f64| x.max(1e-12).log10() - ROUNDING.log10();
    Some(Check {
        difference: (-decades(off(soft_lo, soft_hi))).min(decades(off(sig_lo, sig_hi))),
        numbers: format!("output sums: softmax {soft_lo:.6} to {soft_hi:.6}, sigmoids {sig_lo:.3} to {sig_hi:.3}"),
    })
}
