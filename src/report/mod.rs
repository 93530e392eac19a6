//! Pictures and tables of runs.

pub mod page;
pub mod plot;
pub mod table;
