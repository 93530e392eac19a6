//! The console: the commands' output and messages, as a careful Unix tool writes them. Declared
//! first in `lib.rs` with `#[macro_use]`, so `outln!`, `out!` and `errln!` serve every module
//! without any of them depending on `cli/`.
//!
//! Standard output: a reader that goes away (`| head`) is not an
//! error: output stops, the command finishes its work (a training run keeps training and writes
//! its run directory) and exits as it would have, with nothing on stderr. Any other failure
//! (`> /dev/full`: no space left) also stops output without stopping the work, and the command
//! then ends with an `error:` line and exit code 4, as coreutils' `close_stdout` does. Never a
//! panic, which is what `println!` does on either.

/// `println!` for the commands' output, through [`write`]: a closed or full stdout never panics.
macro_rules! outln {
    () => { $crate::console::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::write(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::write(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics: a message to a closed or full stderr (`2>&1 | head -1`) is
/// dropped, and the command goes on to its end and exit code.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // Control characters in a file name or grid value never reach the terminal raw.
        let line = format!($($arg)*);
        let _ = writeln!(std::io::stderr(), "{}", $crate::console::escape_controls(&line, true));
    }};
}

use std::borrow::Cow;
use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::sync::Mutex;

use anyhow::Result;
use formats::error;

/// The first write error, after which nothing more is written.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// Write to stdout (what `outln!` and `out!` expand to), control characters escaped.
pub fn write(args: fmt::Arguments) {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_some() {
        return;
    }
    let text = args.as_str().map_or_else(|| Cow::Owned(args.to_string()), Cow::Borrowed);
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_all(escape_controls(&text, true).as_bytes()).and_then(|()| stdout.flush()) {
        *failed = Some(e);
    }
}

/// `text` with its control characters (ESC, NUL, DEL, C1…) written as `\u{1b}`, so that a file
/// name or a grid value cannot move the cursor, recolour or clear a terminal; line breaks are
/// kept where `newlines` says so, else escaped too (an `error:` line stays one line).
pub fn escape_controls(text: &str, newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t' && !(newlines && c == '\n');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars().map(|c| if unsafe_char(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect(),
    )
}

/// Whether stdout still takes output (false once its reader has gone or it failed).
pub fn open() -> bool {
    FAILED.lock().unwrap_or_else(|e| e.into_inner()).is_none()
}

/// The message of a failure as main prints it: one line, control characters escaped, and cut
/// where a hostile input (a 200 kB line) would flood the terminal.
pub fn error_line(message: &str) -> String {
    const MAX: usize = 2000;
    let line = escape_controls(message, false);
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} more characters)", &line[..cut], line[cut..].chars().count()),
        None => line.into_owned(),
    }
}

/// At exit: a write error other than a closed pipe is the command's error.
pub fn finish() -> Result<()> {
    write(format_args!(""));
    match FAILED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(e) if e.kind() != ErrorKind::BrokenPipe => Err(error::runtime(format!("cannot write to stdout: {e}"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_errors_stay_one_line() {
        assert_eq!(escape_controls("a\u{1b}[2Jb\0c\u{7f}\u{9b}\n", true), "a\\u{1b}[2Jb\\u{0}c\\u{7f}\\u{9b}\n");
        assert!(matches!(escape_controls("plain é ✓\tx\n", true), Cow::Borrowed(_)));
        assert_eq!(error_line("two\nlines"), "two\\u{a}lines");
        let long = error_line(&"x".repeat(200_000));
        assert!(long.len() < 2100 && long.ends_with("(198000 more characters)"), "{}", &long[1990..]);
    }
}
