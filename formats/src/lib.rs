//! The files mnist-lab reads and writes, parsed and checked without Burn: the experiment config,
//! MNIST's IDX files, `history.csv`, `summary.json` and a checkpoint's `state.json`.
//!
//! A crate of its own so that the fuzz targets (fuzz/) link exactly these readers and build in
//! seconds, not Burn. The main crate re-exports each module where it belongs: `mnist_lab::config`,
//! `mnist_lab::error`, `data::idx`, `run::summary`, `train::{history, monitor, resume_state}`.

pub mod config;
pub mod error;
pub mod history;
pub mod idx;
pub mod monitor;
pub mod read;
pub mod resume_state;
pub mod summary;
