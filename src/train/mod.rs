//! Training: the loop, the losses, the optimizers, the history.

pub mod checkpoint;
pub mod history;
pub mod learner;
pub mod loss;
pub mod monitor;
pub mod optim;
pub mod schedule;

pub use history::{EpochMetrics, History};
pub use learner::{FitOptions, FitOutcome, evaluate, fit};
