//! Early stopping (lecture step 3), as `keras.callbacks.EarlyStopping`: stop once the
//! validation metric has not improved for `patience` epochs, and keep the best epoch's weights.

use formats::config::EarlyStoppingConfig;
use formats::history::EpochMetrics;
use formats::monitor::Tracker;

use crate::model::Mlp;

pub struct EarlyStopping {
    cfg: EarlyStoppingConfig,
    pub tracker: Tracker,
    /// The best epoch's network, kept when `restore_best_weights`.
    pub best_model: Option<Mlp>,
}

impl EarlyStopping {
    pub fn new(cfg: EarlyStoppingConfig) -> Self {
        let tracker = Tracker::new(cfg.monitor, cfg.min_delta);
        Self { cfg, tracker, best_model: None }
    }

    /// Carry on from a checkpoint's tracker and best network.
    pub fn restored(cfg: EarlyStoppingConfig, tracker: Tracker, best_model: Option<Mlp>) -> Self {
        Self { cfg, tracker, best_model }
    }

    /// After each epoch; true when training should stop. An improving epoch never stops it.
    pub fn on_epoch_end(&mut self, metrics: &EpochMetrics, model: &Mlp) -> bool {
        if self.tracker.update(metrics) {
            if self.cfg.restore_best_weights {
                self.best_model = Some(model.clone());
            }
            return false;
        }
        self.tracker.wait >= self.cfg.patience
    }

    /// The epoch judged best (1-based), if any epoch had a finite validation metric.
    pub fn best_epoch(&self) -> Option<usize> {
        self.tracker.best.map(|(_, epoch)| epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::config::Monitor;

    fn stops(patience: usize, losses: &[f64]) -> Vec<bool> {
        let cfg =
            EarlyStoppingConfig { monitor: Monitor::ValLoss, patience, min_delta: 0.0, restore_best_weights: false };
        let mut es = EarlyStopping::new(cfg);
        let model = Mlp::new(
            &toml::from_str("hidden = [{ units = 1, activation = \"relu\" }]\noutput = \"softmax\"").unwrap(),
            &burn::tensor::Device::default(),
        );
        losses
            .iter()
            .map(|&l| es.on_epoch_end(&EpochMetrics { val_loss: Some(l), ..EpochMetrics::default() }, &model))
            .collect()
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        assert_eq!(stops(2, &[1.0, 0.9, 0.95, 0.92, 0.8]), [false, false, false, true, false]);
        // Patience 0: the first epoch that does not improve stops; improving ones never do.
        assert_eq!(stops(0, &[1.0, 0.9, 0.8, 0.85]), [false, false, false, true]);
    }
}
