//! `summary.json`, as the contract pins it: written once when training ends, read by `report`,
//! `export --format web` and `sweep collect`. Both ways go through [`Summary::check`], so a
//! summary with a NaN (which JSON can only write as `null`) is never written, and one edited out
//! of range is refused naming the field.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub preset: String,
    pub dataset: String,
    pub backend: String,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub train_seconds: f64,
    pub seconds_per_epoch: f64,
}

/// The longest preset name a summary may carry.
const MAX_NAME: usize = 200;
/// What `dataset` and `backend` may be (`Dataset::name`, `BackendName`).
const DATASETS: [&str; 2] = ["mnist", "fashion-mnist"];
const BACKENDS: [&str; 3] = ["flex", "ndarray", "wgpu"];

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

impl Summary {
    /// What a finished run can hold: at least one epoch, the best one among them, an accuracy in
    /// [0, 1], a finite loss and times ≥ 0.
    pub fn check(&self) -> Result<(), String> {
        // Its words are shown in tables, pages and the terminal: names mnist-lab writes, no more.
        if self.preset.is_empty() || self.preset.len() > MAX_NAME || self.preset.chars().any(char::is_control) {
            return Err(format!(
                "preset is {:?}: a preset name is one line of at most {MAX_NAME} bytes",
                self.preset.chars().take(60).collect::<String>()
            ));
        }
        if !DATASETS.contains(&self.dataset.as_str()) {
            return Err(format!("dataset is {:?}, not one of {}", short(&self.dataset), DATASETS.join(", ")));
        }
        if !BACKENDS.contains(&self.backend.as_str()) {
            return Err(format!("backend is {:?}, not one of {}", short(&self.backend), BACKENDS.join(", ")));
        }
        if self.epochs_run == 0 {
            return Err("epochs_run is 0; a finished run trained at least one epoch".into());
        }
        if !(1..=self.epochs_run).contains(&self.best_epoch) {
            return Err(format!("best_epoch is {}, not one of the {} epochs run", self.best_epoch, self.epochs_run));
        }
        if !(0.0..=1.0).contains(&self.test_accuracy) {
            return Err(format!("test_accuracy is {:?}, not in [0, 1]", self.test_accuracy));
        }
        for (name, v) in [
            ("test_loss", self.test_loss),
            ("train_seconds", self.train_seconds),
            ("seconds_per_epoch", self.seconds_per_epoch),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(format!("{name} is {v:?}; it must be a finite number ≥ 0"));
            }
        }
        Ok(())
    }

    /// Parse and check summary.json's text; `origin` names the file in errors (data errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let summary: Self =
            serde_json::from_str(text).map_err(|e| error::data(format!("{origin} is not a valid summary: {e}")))?;
        summary.check().map_err(|why| error::data(format!("{origin} is not a valid summary: {why}")))?;
        Ok(summary)
    }

    /// The JSON text, refused (a runtime error) when a value is out of range.
    pub fn to_json(&self) -> Result<String> {
        self.check().map_err(|why| error::runtime(format!("refusing to write summary.json: {why}")))?;
        let json = serde_json::to_string_pretty(self).map_err(|e| error::runtime(format!("summary.json: {e}")))?;
        Ok(format!("{json}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Summary {
        Summary {
            preset: "baseline".into(),
            dataset: "mnist".into(),
            backend: "flex".into(),
            epochs_run: 3,
            best_epoch: 2,
            stopped_early: false,
            test_accuracy: 0.95,
            test_loss: 0.2,
            train_seconds: 3.0,
            seconds_per_epoch: 1.0,
        }
    }

    #[test]
    fn round_trips_and_refuses_what_training_never_writes() {
        let s = good();
        assert_eq!(Summary::parse(&s.to_json().unwrap(), "s.json").unwrap(), s);
        let nan = Summary { test_loss: f64::NAN, ..good() };
        let err = nan.to_json().unwrap_err();
        assert_eq!(error::kind_of(&err), error::Kind::Runtime);
        assert!(format!("{err}").contains("test_loss is NaN"), "{err}");
        for (bad, needle) in [
            (Summary { best_epoch: 4, ..good() }, "best_epoch is 4"),
            (Summary { test_accuracy: 1.5, ..good() }, "test_accuracy is 1.5"),
            (Summary { epochs_run: 0, best_epoch: 0, ..good() }, "epochs_run is 0"),
        ] {
            let text = serde_json::to_string(&bad).unwrap();
            let err = Summary::parse(&text, "s.json").unwrap_err();
            assert_eq!(error::kind_of(&err), error::Kind::Data);
            assert!(format!("{err}").contains(needle), "{err}");
        }
        // What an older version wrote for a NaN test loss.
        let null = serde_json::to_string(&good()).unwrap().replace("0.2", "null");
        assert!(format!("{}", Summary::parse(&null, "s.json").unwrap_err()).contains("s.json is not a valid summary"));
    }
}
