//! Per-epoch metrics, Keras' `History`: what `history.csv` holds.

use serde::{Deserialize, Serialize};

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

    /// Mean seconds per epoch, leaving out the first (warm-up) when there are more.
    pub fn seconds_per_epoch(&self) -> f64 {
        let rest = if self.epochs.len() > 1 { &self.epochs[1..] } else { &self.epochs[..] };
        if rest.is_empty() {
            return 0.0;
        }
        rest.iter().map(|e| e.seconds).sum::<f64>() / rest.len() as f64
    }
}

/// A learning rate as people write it: 0.5, 0.001, 1e30.
pub fn lr_text(lr: f64) -> String {
    if lr != 0.0 && !(1e-4..1e6).contains(&lr.abs()) { format!("{lr:e}") } else { format!("{lr}") }
}
