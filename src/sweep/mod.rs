//! Sweeps: a grid of settings × seeds, planned into a directory, run locally or by a scheduler
//! (Slurm job arrays, Kubernetes Indexed Jobs), collected into mean ± std per grid point.
//!
//! Every lesson of the lecture is a comparison, and one seed per setting cannot tell a lesson
//! from noise: the sweep repeats each setting over seeds and reports the spread.

pub mod collect;
pub mod entry;
pub mod grid;
pub mod local;
pub mod plan;
pub mod progress;
pub mod slurm;
