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

pub use evaluate::{ConfusionMatrix, evaluate, evaluate_with_confusion};
pub use learner::{Checkpoints, FitOptions, FitOutcome, Phases, StepStats, fit, train_step};
