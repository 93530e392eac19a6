//! Training: the loop, the step, and one file per technique the lecture adds to it.

pub mod checkpoint;
pub mod early_stopping;
pub mod evaluate;
pub mod learner;
pub mod loss;
pub mod max_norm;
pub mod optim;
pub mod regularization;
pub mod schedule;
pub mod state;
pub mod tensorboard;

// Burn-free, in formats/ (the fuzz targets link them).
pub use mnist_lab_formats::{history, monitor, resume_state};

pub use evaluate::{ConfusionMatrix, evaluate, evaluate_with_confusion};
pub use history::{EpochMetrics, History};
pub use learner::{Checkpoints, FitOptions, FitOutcome, Phases, StepStats, fit, train_step};
