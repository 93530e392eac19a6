//! The files mnist-lab reads and writes, parsed and checked without Burn: the experiment config
//! (and its dotted keys), MNIST's IDX files, `history.csv`, `summary.json`, a checkpoint's
//! `state.json`, a sweep's `plan.json`, the `.keras` archive, a burnpack's layout; and
//! [`read`], the one way each of them is opened.
//!
//! A crate of its own so that the fuzz targets (fuzz/) link exactly these readers and build
//! without Burn. The main crate imports it as `formats`.

pub mod config;
pub mod error;
pub mod history;
pub mod idx;
pub mod keras;
pub mod monitor;
pub mod plan;
pub mod read;
pub mod resume_state;
pub mod summary;
pub mod weights;
