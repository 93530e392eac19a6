//! Pictures and tables of runs.

pub mod plot;
pub mod table;
