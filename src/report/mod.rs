//! Pictures and tables of runs.

pub mod page;
mod rows;
pub mod table;

pub use rows::load_rows;
