//! The integration tests, one binary: a module per area, each driving the built `mnist-lab`
//! binary as a user would (one link of Burn instead of one per file); `common/` holds their
//! helpers. The GPU half, `wgpu`, is built only with `--features wgpu`.
//!
//! CI runs the full-length and long ones by name: `cargo test --release --test suite --
//! --ignored lessons::` (and `lecture::`, `differential::`, `slurm::`), and the GPU half with
//! `cargo test --release --features wgpu --test suite -- wgpu::`.

// A test is one scenario, read top to bottom; the 80-line limit is for the code it drives.
#![allow(clippy::too_many_lines)]

mod common;

mod bench;
mod cli;
mod config;
mod data;
mod differential;
mod dropout;
mod export;
mod faults;
mod faults_io;
mod fuzz_regressions;
mod hostile;
mod keras;
mod lecture;
mod lessons;
mod onnx;
mod paths;
mod predict;
mod real_handwriting;
mod report;
mod resume;
mod slurm;
mod sweep;
mod tensorboard;
mod web_page;
#[cfg(feature = "wgpu")]
mod wgpu;
