//! A progress line on stderr for long plans: only where stderr is a terminal, only once the
//! work has taken a second, redrawn in place at most five times a second, cleared at the end.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    on: bool,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    /// Shown when stderr is a terminal: a pipe or a log file gets no `\r` redraws.
    pub fn stderr() -> Self {
        Progress { on: std::io::stderr().is_terminal(), started: Instant::now(), drawn: None }
    }

    pub fn hidden() -> Self {
        Progress { on: false, started: Instant::now(), drawn: None }
    }

    /// `what done/total`, when it is time to redraw.
    pub fn show(&mut self, what: &str, done: usize, total: usize) {
        if !self.on || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        if self.drawn.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) && done < total {
            return;
        }
        self.drawn = Some(Instant::now());
        let _ = write!(std::io::stderr(), "\r\x1b[K{what} {done} of {total} runs");
    }

    /// Clear the line, if one was drawn.
    pub fn clear(&mut self) {
        if self.drawn.take().is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

impl Drop for Progress {
    /// Also on an error: its `error:` line starts on a clean line.
    fn drop(&mut self) {
        self.clear();
    }
}
