//! Standard output as a careful Unix tool treats it. A reader that goes away (`| head`) is not an
//! error: output stops, the command finishes its work (a training run keeps training and writes
//! its run directory) and exits as it would have, with nothing on stderr. Any other failure
//! (`> /dev/full`: no space left) also stops output without stopping the work, and the command
//! then ends with an `error:` line and exit code 4, as coreutils' `close_stdout` does. Never a
//! panic, which is what `println!` does on either.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::sync::Mutex;

use anyhow::Result;

use crate::error;

/// The first write error, after which nothing more is written.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// Write to stdout (what `outln!` and `out!` expand to).
pub fn write(args: fmt::Arguments) {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_some() {
        return;
    }
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        *failed = Some(e);
    }
}

/// Whether stdout still takes output (false once its reader has gone or it failed).
pub fn open() -> bool {
    FAILED.lock().unwrap_or_else(|e| e.into_inner()).is_none()
}

/// At exit: a write error other than a closed pipe is the command's error.
pub fn finish() -> Result<()> {
    write(format_args!(""));
    match FAILED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(e) if e.kind() != ErrorKind::BrokenPipe => Err(error::runtime(format!("cannot write to stdout: {e}"))),
        _ => Ok(()),
    }
}
