//! mnist-lab: every network of the "improving neural networks" lecture, on MNIST, with Burn.
//!
//! Data flows one way: config → data → model → train::fit → artifacts.

pub mod artifacts;
pub mod backend;
pub mod cli;
pub mod config;
pub mod data;
pub mod error;
pub mod export;
pub mod model;
pub mod onnx;
pub mod presets;
pub mod report;
pub mod summary;
pub mod sweep;
pub mod tensorboard;
pub mod train;
