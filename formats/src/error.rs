//! User-facing failures and their exit codes.
//!
//! Errors travel as `anyhow::Error`; the root cause may be a [`Fault`], which tells `main` which
//! exit code to use. Everything else (I/O, Burn) counts as a runtime failure.

use std::fmt;

/// What kind of mistake stopped the program; each kind has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad command line, config file or preset name.
    Config,
    /// Missing, corrupt or unreachable data.
    Data,
    /// Training or I/O failed at run time (divergence, full disk, device errors).
    Runtime,
    /// Stopped by Ctrl-C (SIGINT); the last checkpoint is intact.
    Interrupted,
    /// Stopped by SIGTERM (`kill`, Docker, Slurm, systemd); the last checkpoint is intact.
    Terminated,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Config => 2,
            Kind::Data => 3,
            Kind::Runtime => 4,
            Kind::Interrupted => 130,
            Kind::Terminated => 143,
        }
    }
}

/// An error with a known [`Kind`] and a message meant for the user.
#[derive(Debug)]
pub struct Fault {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fault {}

pub fn config(message: impl Into<String>) -> anyhow::Error {
    Fault { kind: Kind::Config, message: message.into() }.into()
}

pub fn data(message: impl Into<String>) -> anyhow::Error {
    Fault { kind: Kind::Data, message: message.into() }.into()
}

pub fn runtime(message: impl Into<String>) -> anyhow::Error {
    Fault { kind: Kind::Runtime, message: message.into() }.into()
}

pub fn interrupted(message: impl Into<String>) -> anyhow::Error {
    Fault { kind: Kind::Interrupted, message: message.into() }.into()
}

pub fn terminated(message: impl Into<String>) -> anyhow::Error {
    Fault { kind: Kind::Terminated, message: message.into() }.into()
}

/// How every divergence message starts (a loss or weights became NaN or infinite): `train`
/// records such a stop in the run's folder, where `sweep collect` finds it.
pub const DIVERGED: &str = "training diverged";

/// Whether `err` is training that diverged.
pub fn is_diverged(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<Fault>().is_some_and(|f| f.kind == Kind::Runtime && f.message.starts_with(DIVERGED)))
}

/// The kind of the first [`Fault`] in the error's chain, `Runtime` when there is none.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    err.chain().find_map(|e| e.downcast_ref::<Fault>().map(|f| f.kind)).unwrap_or(Kind::Runtime)
}
