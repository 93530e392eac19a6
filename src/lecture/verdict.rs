//! A claim's verdict over the seeds: the difference it is decided on, paired by seed (each seed's
//! runs share their shuffles and initial draws), its mean ± standard deviation over the seeds,
//! and one of three outcomes. The claim holds when the 95 % interval of the mean difference
//! (Student's t, `mean ± t·sd/√n`) lies above zero, fails when it lies below, and is not decided
//! while it straddles zero; one seed has no spread to measure, so it decides nothing.

use super::{Claim, Results};

/// What a claim's criterion found on one seed.
pub struct Check {
    /// The quantity the verdict is decided on, in the claim's [`Claim::unit`], with the
    /// criterion's margin taken off: above zero where the criterion holds on this seed.
    pub difference: f64,
    /// The numbers behind it, for people.
    pub numbers: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Holds,
    Fails,
    /// The interval of the mean straddles zero, or there is one seed only.
    NotDecided,
    /// No seed has the runs the claim needs.
    NotRun,
}

/// A claim's verdict over the seeds.
pub struct Verdict {
    /// Per judged seed: the seed and what its runs gave.
    pub seeds: Vec<(u64, Check)>,
    pub outcome: Outcome,
    /// The mean difference over the judged seeds, and its standard deviation (two seeds or more).
    pub mean: f64,
    pub sd: Option<f64>,
    /// For a claim not decided at two seeds or more: how many seeds would decide a difference
    /// this large at this spread (`None`: more than [`MAX_SEEDS`], or no difference at all).
    pub seeds_needed: Option<usize>,
    /// The claim's unit, for the text.
    pub unit: &'static str,
}

/// The most seeds a verdict suggests; a claim that would need more is as good as not there.
pub const MAX_SEEDS: usize = 100;

impl Verdict {
    pub fn of(claim: &Claim, results: &Results) -> Self {
        let seeds: Vec<(u64, Check)> =
            results.seeds.iter().filter_map(|&s| (claim.judge)(&results.seed(s)).map(|c| (s, c))).collect();
        let differences: Vec<f64> = seeds.iter().map(|(_, c)| c.difference).collect();
        let (outcome, mean, sd, seeds_needed) = decide(&differences);
        Verdict { seeds, outcome, mean, sd, seeds_needed, unit: claim.unit }
    }

    /// "holds at 3 seeds", "fails at 3 seeds", "not decided at 3 seeds", "not run yet".
    pub fn status(&self) -> String {
        let n = self.seeds.len();
        let at = format!("at {n} seed{}", if n == 1 { "" } else { "s" });
        match self.outcome {
            Outcome::Holds => format!("holds {at}"),
            Outcome::Fails => format!("fails {at}"),
            Outcome::NotDecided => format!("not decided {at}"),
            Outcome::NotRun => "not run yet".into(),
        }
    }

    /// The difference decided on: "+9.53 ± 0.41 points over 3 seeds", and for a claim not
    /// decided, how many seeds would decide it.
    pub fn difference(&self) -> String {
        let n = self.seeds.len();
        if n == 0 {
            return String::new();
        }
        let mut text = match self.sd {
            Some(sd) => format!("{} ± {} {} over {n} seeds", signed(self.mean), number(sd), self.unit),
            None => format!("{} {} on one seed", signed(self.mean), self.unit),
        };
        if self.outcome == Outcome::NotDecided {
            text.push_str(&match (n, self.seeds_needed) {
                (1, _) => "; a second seed would be needed to measure the spread".to_string(),
                (_, Some(k)) => format!("; about {k} seeds would decide it"),
                (_, None) => format!("; more than {MAX_SEEDS} seeds would be needed to tell it from zero"),
            });
        }
        text
    }

    /// Whether the claim holds (decided so).
    pub fn holds(&self) -> bool {
        self.outcome == Outcome::Holds
    }

    /// The page's class for the outcome: holds, fails, open.
    pub fn class(&self) -> &'static str {
        match self.outcome {
            Outcome::Holds => "holds",
            Outcome::Fails => "fails",
            Outcome::NotDecided | Outcome::NotRun => "open",
        }
    }
}

/// The outcome of per-seed `differences`, their mean and standard deviation, and the seeds that
/// would decide a difference left undecided.
pub fn decide(differences: &[f64]) -> (Outcome, f64, Option<f64>, Option<usize>) {
    let n = differences.len();
    if n == 0 {
        return (Outcome::NotRun, 0.0, None, None);
    }
    let mean = differences.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (Outcome::NotDecided, mean, None, None);
    }
    let var = differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    let half = |k: usize| t95(k - 1) * sd / (k as f64).sqrt();
    let outcome = if mean - half(n) > 0.0 {
        Outcome::Holds
    } else if mean + half(n) < 0.0 {
        Outcome::Fails
    } else {
        Outcome::NotDecided
    };
    let needed = (outcome == Outcome::NotDecided && mean != 0.0)
        .then(|| (n + 1..=MAX_SEEDS).find(|&k| half(k) < mean.abs()))
        .flatten();
    (outcome, mean, Some(sd), needed)
}

/// Student's t at 97.5 % (a two-sided 95 % interval) for `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        // Within 0.002 of the exact value beyond 30 degrees of freedom.
        _ => 1.96 + 2.5 / df as f64,
    }
}

/// `x` with its sign and three significant digits at most ("+9.53", "−0.041").
fn signed(x: f64) -> String {
    let text = number(x.abs());
    if x < 0.0 { format!("−{text}") } else { format!("+{text}") }
}

fn number(x: f64) -> String {
    match x {
        0.0 => "0".into(),
        x if x >= 100.0 => format!("{x:.0}"),
        x if x >= 10.0 => format!("{x:.1}"),
        x if x >= 0.01 => format!("{x:.2}"),
        x => format!("{x:.1e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_outcomes_from_the_interval_of_the_mean() {
        // 10 ± 0.5 over 3 seeds: far from zero.
        let (o, m, sd, _) = decide(&[9.5, 10.0, 10.5]);
        assert_eq!(o, Outcome::Holds);
        assert!((m - 10.0).abs() < 1e-12 && (sd.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(decide(&[-9.5, -10.0, -10.5]).0, Outcome::Fails);
        // Mean 0.4, sd 0.5 at 3 seeds: t·sd/√n = 4.303·0.5/1.732 = 1.24 > 0.4.
        let (o, _, _, needed) = decide(&[-0.1, 0.4, 0.9]);
        assert_eq!(o, Outcome::NotDecided);
        // The smallest k with t(k−1)·0.5/√k < 0.4: k = 9 (2.306·0.5/3 = 0.384).
        assert_eq!(needed, Some(9));
        // One seed decides nothing, however large the difference.
        assert_eq!(decide(&[50.0]), (Outcome::NotDecided, 50.0, None, None));
        assert_eq!(decide(&[]).0, Outcome::NotRun);
        // No spread at all: any difference off zero is decided.
        assert_eq!(decide(&[1e-6, 1e-6]).0, Outcome::Holds);
        assert_eq!(decide(&[0.0, 0.0]), (Outcome::NotDecided, 0.0, Some(0.0), None));
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(signed(9.534), "+9.53");
        assert_eq!(signed(-0.041), "−0.04");
        assert_eq!(signed(123.4), "+123");
        assert_eq!(number(4.2e-6), "4.2e-6");
        assert_eq!(t95(2), 4.303);
        assert!((t95(60) - 2.000).abs() < 0.003, "{}", t95(60));
    }
}
