//! mnist-lab: every network of the "improving neural networks" lecture, on MNIST, with Burn.
//!
//! Data flows one way: config → data → model → train::fit → run (the run directory).

/// `errln!` that never panics: a message to a closed or full stderr (`2>&1 | head -1`) is
/// dropped, and the command goes on to its end and exit code.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // Control characters in a file name or grid value never reach the terminal raw.
        let line = format!($($arg)*);
        let _ = writeln!(std::io::stderr(), "{}", $crate::cli::out::escape_controls(&line, true));
    }};
}

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
pub mod pool;
pub mod presets;
pub mod report;
pub mod run;
pub mod sweep;
pub mod train;

// The Burn-free readers (formats/), where the rest of the crate finds them.
pub use mnist_lab_formats::{config, error};
