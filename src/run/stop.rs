//! SIGINT (Ctrl-C) and SIGTERM (`kill`, Docker, Slurm, systemd) ask a running command to stop
//! cleanly: training finishes its batch, keeps its last checkpoint and exits 130 or 143 with the
//! command that resumes it. A second signal exits at once, with the same code. signal-hook is used
//! rather than ctrlc, whose handler cannot tell the two signals apart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use formats::error::{self, Kind};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The stop request shared with the code that polls it.
#[derive(Clone)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Stop {
    /// Install the handlers (once per process is enough; installing again adds nothing harmful).
    pub fn install() -> Self {
        let stop = Self { flag: Arc::new(AtomicBool::new(false)), signal: Arc::new(AtomicUsize::new(0)) };
        for (signal, code) in [(SIGINT, 130), (SIGTERM, 143)] {
            // Registered first, so it sees the flag as the previous signal left it.
            let _ = flag::register_conditional_shutdown(signal, code, stop.flag.clone());
            let _ = flag::register_usize(signal, stop.signal.clone(), signal as usize);
            let _ = flag::register(signal, stop.flag.clone());
        }
        stop
    }

    /// Set once a signal asked to stop.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The error a stopped command ends with: `interrupted` (130) or `terminated` (143), then
    /// `what` (e.g. how to resume).
    pub fn error(&self, what: &str) -> anyhow::Error {
        match self.kind() {
            Kind::Terminated => error::terminated(format!("terminated (SIGTERM) {what}")),
            _ => error::interrupted(format!("interrupted {what}")),
        }
    }

    /// Which signal stopped the command (Ctrl-C when none did).
    pub fn kind(&self) -> Kind {
        if self.signal.load(Ordering::SeqCst) == SIGTERM as usize { Kind::Terminated } else { Kind::Interrupted }
    }
}
