//! The runs comparison table.
