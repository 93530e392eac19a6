//! Section 6, going deeper: the gradients of a deep sigmoid network vanish on their way to the
//! first layers, ReLU's do not, and the 512-unit "monster" puts everything together.

use super::{Check, Claim, Figure, Metric, Seed, XAxis, line, pct};

/// First layer's mean |gradient| over the last layer's, in the first epoch: below this the
/// gradient has vanished, above [`REACHES`] it reaches the first layer.
const VANISHED: f64 = 0.05;
const REACHES: f64 = 0.1;

pub fn claims() -> Vec<Claim> {
    let gradients = |title, experiment| Figure {
        best_of: None,
        title,
        x: XAxis::Epoch,
        y: "log10 of the mean |gradient| of a layer's weights",
        series: vec![
            line("layer 1 (first)", experiment, Metric::LogGradient(0)),
            line("layer 2", experiment, Metric::LogGradient(1)),
            line("layer 3", experiment, Metric::LogGradient(2)),
            line("layer 4", experiment, Metric::LogGradient(3)),
            line("layer 5 (output)", experiment, Metric::LogGradient(4)),
        ],
    };
    vec![
        Claim {
            name: "Sigmoid gradients vanish in the first layers",
            claim: "σ' never exceeds 0.25, so in a deep sigmoid network the gradients shrink layer by layer and the first \
                    layers barely learn.",
            experiment: "`deep-sigmoid`: four hidden layers of 30 sigmoid units, each layer's mean |∂L/∂W| logged \
                         every epoch.",
            runs: &["deep-sigmoid"],
            figures: vec![gradients("deep-sigmoid: gradient by layer", "deep-sigmoid")],
            sweeps: Vec::new(),
            criterion: "in the first epoch the first layer's mean |gradient| is below 5 % of the output layer's",
            decided_on: "how far (in decades) the first layer's share of the output layer's gradient lies below 5 %",
            unit: "decades",
            judge: |s| ratio(s, "deep-sigmoid", |r| (VANISHED / r).log10()),
            rerun: "mnist-lab train deep-sigmoid --set model.init=normal --set model.init_std=0.5",
        },
        Claim {
            name: "ReLU gradients reach the first layers",
            claim: "ReLU, max(0, x), has derivative 1 where it is active: the gradients reach the first layers.",
            experiment: "`deep-relu` is `deep-sigmoid` with ReLU units (and He initialisation).",
            runs: &["deep-sigmoid", "deep-relu"],
            figures: vec![gradients("deep-relu: gradient by layer", "deep-relu")],
            sweeps: Vec::new(),
            criterion: "in the first epoch the first layer's mean |gradient| is above 10 % of the output layer's",
            decided_on: "how far (in decades) the first layer's share of the output layer's gradient lies above 10 %",
            unit: "decades",
            judge: |s| ratio(s, "deep-relu", |r| (r / REACHES).log10()),
            rerun: "mnist-lab train deep-relu --set model.hidden[0].activation=sigmoid",
        },
        Claim {
            name: "The monster reaches 98 %",
            claim: "Everything together (512-unit ReLU layers, dropout, softmax with cross-entropy, Adadelta) makes the \
                    best network of the lecture, and a deeper variant with four hidden layers trains as well.",
            experiment: "`monster`: 784-512-512-10, dropout 0.2, Adadelta, 20 epochs; `monster-deep`: four hidden \
                         layers of 512.",
            runs: &["baseline", "monster", "monster-deep"],
            figures: vec![Figure {
                best_of: None,
                title: "baseline, monster and the deeper monster: validation accuracy",
                x: XAxis::Epoch,
                y: "validation accuracy",
                series: vec![
                    line("baseline", "baseline", Metric::ValAccuracy),
                    line("monster", "monster", Metric::ValAccuracy),
                    line("monster-deep", "monster-deep", Metric::ValAccuracy),
                ],
            }],
            sweeps: Vec::new(),
            criterion: "both monsters reach at least 98 % on the test set (Keras' own example: 98.40 %) and beat the \
                        baseline",
            decided_on: "the lower monster's test accuracy less 98 % (or less the baseline's, if that is higher)",
            unit: "points",
            judge: monsters,
            rerun: "mnist-lab train monster --set model.hidden[0].dropout=0.5 --set model.hidden[1].dropout=0.5",
        },
    ]
}

/// The first layer's mean |gradient| over the last one's in the first epoch, through `decades`.
fn ratio(s: &Seed, experiment: &str, decades: fn(f64) -> f64) -> Option<Check> {
    let g = &s.get(experiment)?.history.epochs.first()?.grad_mean_abs;
    let (first, last) = (*g.first()?, *g.last()?);
    let r = first / last;
    Some(Check {
        // A gradient of exactly zero (dead units) or infinity still gives a number to average.
        difference: decades(if r.is_nan() { 1.0 } else { r.clamp(1e-12, 1e12) }),
        numbers: format!("{experiment}: first layer {first:.2e}, output layer {last:.2e}: ratio {r:.3}"),
    })
}

fn monsters(s: &Seed) -> Option<Check> {
    let base = s.get("baseline")?.summary.test_accuracy;
    let (m, d) = (s.get("monster")?.summary.test_accuracy, s.get("monster-deep")?.summary.test_accuracy);
    Some(Check {
        difference: 100.0 * (m.min(d) - 0.98f64.max(base)),
        numbers: format!("test accuracy monster {}, monster-deep {}, baseline {}", pct(m), pct(d), pct(base)),
    })
}
