//! The settings the lecture speaks of as a range — L2's strength, the dropout rate, each
//! optimizer's learning rate, the batch size — each swept over its values on one experiment, so
//! a claim about the range is judged over the range and not at one point of it. A point is
//! the experiment with one dotted config key changed (as `train --set` changes it), named
//! `{sweep}@{value}`; a point whose config is an experiment's own (λ = 0 is `overfit`) is that
//! experiment's run, not a second one.

use toml::Value;

use super::{RunResult, SGD, Seed};

/// One setting swept over its values on one experiment.
pub struct Sweep {
    /// What its points are called: `{name}@{value}`.
    pub name: &'static str,
    /// The experiment whose setting the points change.
    pub base: &'static str,
    /// The dotted config key swept.
    pub key: &'static str,
    pub values: &'static [f64],
    /// Whether the key takes an integer (a batch size).
    pub integer: bool,
}

impl Sweep {
    /// The experiment at value `v`.
    pub fn point(&self, v: f64) -> String {
        format!("{}@{}", self.name, label(v))
    }

    /// Every value with its experiment.
    pub fn points(&self) -> impl Iterator<Item = (f64, String)> + '_ {
        self.values.iter().map(|&v| (v, self.point(v)))
    }

    /// The key and value that make point `v` of the base experiment.
    pub fn setting(&self, v: f64) -> (String, Value) {
        let value = if self.integer { Value::Integer(v as i64) } else { Value::Float(v) };
        (self.key.to_string(), value)
    }

    /// `mnist-lab train …` for point `v`: the base's preset with the key set.
    pub fn command(&self, v: f64) -> String {
        let base = if self.base == SGD { "momentum --set optimizer.momentum=0" } else { self.base };
        format!("mnist-lab train {base} --set {}={}", self.key, label(v))
    }
}

/// A value as people write it: 0, 1e-5, 3e-4, 0.1, 1, 10, 1024.
pub fn label(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 { format!("{v:e}") } else { format!("{v}") }
}

/// L2's λ, two decades around where it helps on 1 000 images (0 is `overfit`, 5e-4 the `l2`
/// preset): the lecture's source finds its best strength near 5e-5 in Keras' per-batch terms.
pub const L2: Sweep = Sweep {
    name: "l2",
    base: "overfit",
    key: "train.l2",
    values: &[0.0, 1e-5, 3e-5, 1e-4, 3e-4, 5e-4, 1e-3],
    integer: false,
};

/// The dropout rate of the hidden layer on 1 000 images (0 is `overfit`, 0.5 the `dropout` preset).
pub const DROPOUT: Sweep = Sweep {
    name: "dropout",
    base: "overfit",
    key: "model.hidden[0].dropout",
    values: &[0.0, 0.1, 0.2, 0.3, 0.5, 0.7],
    integer: false,
};

/// Five decades of learning rate, the same for every optimizer: each one's useful rates lie
/// inside them (Adam's near 1e-3, SGD's near 0.1, Adadelta's near 1).
pub const RATES: &[f64] = &[1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0];

const fn rates(name: &'static str, base: &'static str) -> Sweep {
    Sweep { name, base, key: "optimizer.learning_rate", values: RATES, integer: false }
}

/// Every optimizer over [`RATES`], plain SGD first, then with momentum, then the adaptive ones.
pub const LEARNING_RATES: [Sweep; 6] = [
    rates("lr-sgd", SGD),
    rates("lr-momentum", "momentum"),
    rates("lr-adagrad", "adagrad"),
    rates("lr-rmsprop", "rmsprop"),
    rates("lr-adam", "adam"),
    rates("lr-adadelta", "adadelta"),
];

/// The batch size of plain SGD at 0.1 (8 is `batch-small`, 32 `sgd`, 1 024 `batch-large`).
pub const BATCH: Sweep =
    Sweep { name: "batch", base: SGD, key: "train.batch_size", values: &[8.0, 32.0, 128.0, 1024.0], integer: true };

/// Every sweep of the lecture.
pub fn all() -> Vec<&'static Sweep> {
    let mut out = vec![&L2, &DROPOUT];
    out.extend(LEARNING_RATES.iter());
    out.push(&BATCH);
    out
}

/// What a point of a sweep figure shows of a run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Final {
    /// Validation accuracy after the last epoch (a diverged run: none, drawn as missing).
    ValAccuracy,
    /// Σw² over the weights (biases left out, as L2 leaves them).
    WeightNorm,
    TestAccuracy,
}

impl Final {
    pub fn of(self, r: &RunResult) -> Option<f64> {
        match self {
            Final::ValAccuracy => r.val_accuracy_at(usize::MAX),
            Final::WeightNorm => r.weight_norm,
            Final::TestAccuracy => Some(r.summary.test_accuracy),
        }
    }
}

/// A final figure of each run against the swept value: one line per sweep, the mean over the
/// seeds in a band of ± one standard deviation, the value on a log scale; a value of 0 (which
/// a log scale cannot place) is drawn as a level line across.
pub struct SweepFigure {
    pub title: &'static str,
    /// The swept value's name ("λ").
    pub x: &'static str,
    pub y: &'static str,
    pub series: Vec<(&'static str, &'static Sweep)>,
    pub metric: Final,
}

/// The sweep's value whose run has the highest validation accuracy on this seed (0 excluded when
/// `positive`), with that run; diverged or missing points are passed over.
pub fn best<'a>(s: &'a Seed, sweep: &Sweep, positive: bool) -> Option<(f64, &'a RunResult)> {
    sweep
        .points()
        .filter(|(v, _)| !positive || *v > 0.0)
        .filter_map(|(v, name)| Some((v, s.get(&name)?)))
        .filter_map(|(v, r)| Some((v, r, r.val_accuracy_at(usize::MAX)?)))
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(v, r, _)| (v, r))
}

/// How many decades of the sweep's values keep the final validation accuracy within `within`
/// of the best on this seed: the band around the best point, its edges placed where the
/// accuracy crosses best − `within` (linear in log10 of the value between two points); a run
/// that diverged counts as chance level. `None` when a point has no result yet.
pub fn band_width(s: &Seed, sweep: &Sweep, within: f64) -> Option<f64> {
    let mut points = Vec::new();
    for (v, name) in sweep.points() {
        let acc = match s.get(&name) {
            Some(r) => r.val_accuracy_at(usize::MAX)?,
            None if s.diverged(&name) => 0.1,
            None => return None,
        };
        points.push((v.log10(), acc));
    }
    width(&points, within)
}

/// The band's width over `points` (log10 value, accuracy), sorted by value.
fn width(points: &[(f64, f64)], within: f64) -> Option<f64> {
    let b = (0..points.len()).max_by(|&i, &j| points[i].1.total_cmp(&points[j].1))?;
    let floor = points[b].1 - within;
    let edge = |inside: usize, outside: usize| {
        let ((x0, y0), (x1, y1)) = (points[inside], points[outside]);
        x0 + (x1 - x0) * (y0 - floor) / (y0 - y1)
    };
    let mut lo = b;
    while lo > 0 && points[lo - 1].1 >= floor {
        lo -= 1;
    }
    let mut hi = b;
    while hi + 1 < points.len() && points[hi + 1].1 >= floor {
        hi += 1;
    }
    let left = if lo > 0 { edge(lo, lo - 1) } else { points[0].0 };
    let right = if hi + 1 < points.len() { edge(hi, hi + 1) } else { points[hi].0 };
    Some(right - left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_named_by_their_value() {
        assert_eq!(L2.point(0.0), "l2@0");
        assert_eq!(L2.point(3e-5), "l2@3e-5");
        assert_eq!(LEARNING_RATES[0].point(0.1), "lr-sgd@0.1");
        assert_eq!(BATCH.point(1024.0), "batch@1024");
        assert_eq!(BATCH.setting(128.0), ("train.batch_size".to_string(), Value::Integer(128)));
        assert_eq!(L2.command(1e-4), "mnist-lab train overfit --set train.l2=1e-4");
        assert_eq!(BATCH.command(8.0), "mnist-lab train momentum --set optimizer.momentum=0 --set train.batch_size=8");
    }

    #[test]
    fn the_band_is_interpolated_between_points() {
        // Best 0.97 at 1e-2; within one point: 0.96 and up. At 1e-3 0.965 (in); 1e-4 0.90 (out):
        // the left edge where 0.965 → 0.90 crosses 0.96: 1/13 of the way from -3 to -4.
        let points = [(-4.0, 0.90), (-3.0, 0.965), (-2.0, 0.97), (-1.0, 0.95)];
        let w = width(&points, 0.01).unwrap();
        let left = -3.0 - 0.005 / 0.065;
        let right = -2.0 + 0.01 / 0.02;
        assert!((w - (right - left)).abs() < 1e-12, "{w}");
        // A band that reaches the end of the sweep stops there.
        assert_eq!(width(&[(-1.0, 0.97), (0.0, 0.97)], 0.01), Some(1.0));
        assert_eq!(width(&[(0.0, 0.5)], 0.01), Some(0.0));
    }
}
