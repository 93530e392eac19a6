//! mnist-lab: every network of the "improving neural networks" lecture, on MNIST, with Burn.
//!
//! Data flows one way: config → data → model → train::fit → run (the run directory).

// First: the console's macros (`outln!`, `out!`, `errln!`) serve every module declared after it.
#[macro_use]
pub mod console;

pub mod backend;
pub mod bench;
pub mod cli;
pub mod cpu;
pub mod data;
pub mod export;
pub mod files;
pub mod keras;
pub mod lecture;
pub mod matmul;
pub mod model;
pub mod plot;
pub mod pool;
pub mod presets;
pub mod random;
pub mod report;
pub mod run;
pub mod sweep;
pub mod train;
