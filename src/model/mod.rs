//! The network: an MLP described by config, with named initialisers.

pub mod activation;
#[cfg(feature = "flex")]
pub mod dense;
pub mod dropout;
pub mod init;
pub mod mlp;
mod store;

pub use mlp::Mlp;
