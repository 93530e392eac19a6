//! The run directory and what fills it: claiming and locking the folder ([`dir`]), the summary a
//! finished run leaves (`formats::summary`), the stop request a signal raises ([`stop`]), and one
//! session of training, from a config (or a checkpoint) to its results ([`session`]), which
//! `train`, `sweep run` and `lecture` all call.

pub mod dir;
pub mod session;
pub mod stop;

pub use dir::{
    CONFIG_FILE, DIVERGED_FILE, HISTORY_FILE, LOCK_FILE, MODEL_FILE, OutState, RunDir, SUMMARY_FILE, check_destination,
    check_out, is_run_dir, run_name, write_destination,
};
pub use session::{Event, Finished, Start, TrainRun, train_run};
pub use stop::Stop;
