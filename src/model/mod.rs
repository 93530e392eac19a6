//! The network: an MLP described by config, with named initialisers.

pub mod activation;
pub mod dropout;
pub mod init;
pub mod mlp;

pub use mlp::Mlp;
