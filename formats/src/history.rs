//! Per-epoch metrics, Keras' `History`: what `history.csv` holds, its reader, and the range
//! checks every history read back (from history.csv or a checkpoint) goes through.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub learning_rate: f64,
    pub seconds: f64,
    /// Mean |∂L/∂W| of each layer's weights over the epoch's batches (empty unless logged).
    #[serde(default)]
    pub grad_mean_abs: Vec<f64>,
    /// Ended at chance level with a loss that stopped moving (saturated units, usually): worth a
    /// warning, not part of the history.
    #[serde(skip)]
    pub stalled: bool,
}

impl EpochMetrics {
    /// The ranges training can produce: losses ≥ 0, accuracies in [0, 1] (validation loss and
    /// accuracy both present or both absent), a learning rate > 0, seconds ≥ 0, everything
    /// finite. `nan_loss` lets a loss (or gradient mean) be NaN: how older history.csv files
    /// recorded a diverged epoch.
    pub fn check(&self, nan_loss: bool) -> Result<(), String> {
        let loss = |name: &str, v: f64| match v {
            v if v.is_nan() && nan_loss => Ok(()),
            v if v.is_finite() && v >= 0.0 => Ok(()),
            v => Err(format!("{name} is {v:?}; a loss is a finite number ≥ 0")),
        };
        let fraction = |name: &str, v: f64| match v {
            v if (0.0..=1.0).contains(&v) => Ok(()),
            v => Err(format!("{name} is {v:?}, not in [0, 1]")),
        };
        if self.epoch == 0 {
            return Err("epoch 0; epochs count from 1".into());
        }
        loss("train_loss", self.train_loss)?;
        fraction("train_accuracy", self.train_accuracy)?;
        match (self.val_loss, self.val_accuracy) {
            (Some(l), Some(a)) => {
                loss("val_loss", l)?;
                fraction("val_accuracy", a)?;
            }
            (None, None) => {}
            _ => return Err("val_loss and val_accuracy must both be given or both be empty".into()),
        }
        // 0 is a rate a schedule reaches (exponential decay underflows, min_lr = 0), as in Keras.
        if !(self.learning_rate >= 0.0 && self.learning_rate.is_finite()) {
            return Err(format!("learning_rate is {:?}; it must be a finite number ≥ 0", self.learning_rate));
        }
        if !(self.seconds >= 0.0 && self.seconds.is_finite()) {
            return Err(format!("seconds is {:?}; it must be a finite number ≥ 0", self.seconds));
        }
        for (i, g) in self.grad_mean_abs.iter().enumerate() {
            loss(&format!("grad_mean_abs_layer{i}"), *g)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<EpochMetrics>,
}

pub const CSV_HEADER: &str = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds";

impl History {
    /// The contract's CSV; validation columns are empty when there is no validation split.
    pub fn to_csv(&self) -> String {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        let layers = self.epochs.first().map_or(0, |e| e.grad_mean_abs.len());
        let mut out = String::from(CSV_HEADER);
        for i in 0..layers {
            out.push_str(&format!(",grad_mean_abs_layer{i}"));
        }
        out.push('\n');
        for e in &self.epochs {
            out.push_str(&format!(
                "{},{:.6},{:.6},{},{},{},{:.3}",
                e.epoch,
                e.train_loss,
                e.train_accuracy,
                opt(e.val_loss),
                opt(e.val_accuracy),
                e.learning_rate,
                e.seconds
            ));
            for g in &e.grad_mean_abs {
                out.push_str(&format!(",{g:.6e}"));
            }
            out.push('\n');
        }
        out
    }

    /// The epoch (1-based) with the lowest validation loss, or the lowest training loss when
    /// there is no validation split.
    pub fn best_epoch(&self) -> Option<usize> {
        let key = |e: &EpochMetrics| e.val_loss.unwrap_or(e.train_loss);
        self.epochs.iter().min_by(|a, b| key(a).total_cmp(&key(b))).map(|e| e.epoch)
    }

    /// Epochs numbered 1, 2, 3… in order, each within range ([`EpochMetrics::check`]).
    pub fn check(&self, nan_loss: bool) -> Result<(), String> {
        for (i, e) in self.epochs.iter().enumerate() {
            if e.epoch != i + 1 {
                return Err(format!("epoch {} where epoch {} should be", e.epoch, i + 1));
            }
            e.check(nan_loss).map_err(|why| format!("epoch {}: {why}", e.epoch))?;
        }
        Ok(())
    }

    /// Mean seconds per epoch, leaving out the first (warm-up) when there are more.
    pub fn seconds_per_epoch(&self) -> f64 {
        let rest = if self.epochs.len() > 1 { &self.epochs[1..] } else { &self.epochs[..] };
        if rest.is_empty() {
            return 0.0;
        }
        rest.iter().map(|e| e.seconds).sum::<f64>() / rest.len() as f64
    }
}

/// Read the contract's `history.csv`: the seven fixed columns in order, then any extra columns;
/// `grad_mean_abs_layer*` ones are kept, others ignored. Empty validation cells mean "no split".
pub fn read_history_csv(path: &Path) -> Result<History> {
    let text = crate::read::read_to_string(path, crate::read::HISTORY)?;
    parse_history_csv(&text, &path.display().to_string())
}

/// [`read_history_csv`] on text; `origin` names the file in errors. Every row is range-checked
/// ([`EpochMetrics::check`], NaN losses allowed) and epochs must count 1, 2, 3…
pub fn parse_history_csv(text: &str, origin: &str) -> Result<History> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(error::data(format!("{origin}: empty file, expected the header `{CSV_HEADER}`")));
    };
    let names: Vec<&str> = header.trim().split(',').map(str::trim).collect();
    let fixed: Vec<&str> = CSV_HEADER.split(',').collect();
    if names.len() < fixed.len() || names[..fixed.len()] != fixed[..] {
        return Err(error::data(format!(
            "{origin}:1: header must start with `{CSV_HEADER}`, found `{}`",
            shown(header)
        )));
    }
    let grads: Vec<usize> =
        (fixed.len()..names.len()).filter(|&i| names[i].starts_with("grad_mean_abs_layer")).collect();

    let mut epochs = Vec::new();
    for (i, line) in lines {
        let at = format!("{origin}:{}", i + 1);
        let cells: Vec<&str> = line.trim().split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(error::data(format!("{at}: {} fields, the header has {}", cells.len(), names.len())));
        }
        let num = |c: usize| -> Result<f64> {
            cells[c]
                .parse::<f64>()
                .map_err(|_| error::data(format!("{at}: `{}` is not a number ({})", shown(cells[c]), shown(names[c]))))
        };
        let opt = |c: usize| {
            if cells[c].is_empty() { Ok(None) } else { num(c).map(Some) }
        };
        let epoch: usize =
            cells[0].parse().map_err(|_| error::data(format!("{at}: `{}` is not an epoch number", shown(cells[0]))))?;
        let e = EpochMetrics {
            epoch,
            train_loss: num(1)?,
            train_accuracy: num(2)?,
            val_loss: opt(3)?,
            val_accuracy: opt(4)?,
            learning_rate: num(5)?,
            seconds: num(6)?,
            grad_mean_abs: grads.iter().map(|&c| num(c)).collect::<Result<_>>()?,
            stalled: false,
        };
        if e.epoch != epochs.len() + 1 {
            return Err(error::data(format!("{at}: epoch {} where epoch {} should be", e.epoch, epochs.len() + 1)));
        }
        e.check(true).map_err(|why| error::data(format!("{at}: {why}")))?;
        epochs.push(e);
    }
    Ok(History { epochs })
}

/// A learning rate as people write it: 0.5, 0.001, 1e30.
pub fn lr_text(lr: f64) -> String {
    if lr != 0.0 && !(1e-4..1e6).contains(&lr.abs()) { format!("{lr:e}") } else { format!("{lr}") }
}

/// A cell of a file in a message: its start only (a 500 MB line is no message).
fn shown(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}
