//! The run directory and what fills it: claiming and locking the folder ([`dir`]), the summary a
//! finished run leaves ([`summary`]), the stop request a signal raises ([`stop`]), and one
//! training from a config (or a checkpoint) to its results ([`train`]), which `train`,
//! `sweep run` and `lecture` all call.

pub mod dir;
pub mod stop;
pub use mnist_lab_formats::summary;
pub mod train;

pub use dir::{
    CONFIG_FILE, DIVERGED_FILE, HISTORY_FILE, LOCK_FILE, MODEL_FILE, OutState, RunDir, SUMMARY_FILE, check_destination,
    check_out, is_run_dir, run_name, write_destination,
};
pub use stop::Stop;
pub use summary::Summary;
pub use train::{Event, Finished, Start, TrainRun, train_run};
