//! The one way mnist-lab opens a file it reads, for every reader of a file that may come from
//! someone else (a run, sweep or lecture folder, a `.keras` file, a config): regular files only
//! — a FIFO, device, socket or directory is one error naming it, and is never waited on — read
//! up to a cap stated per kind of file, so that neither a header nor a file's size can make
//! mnist-lab allocate more than the cap allows. A symbolic link is followed to what it names,
//! which must itself be a regular file.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::path::Path;

use anyhow::Result;

use crate::error;

/// What a file holds, for its cap and its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// The file in words ("config", "summary").
    pub what: &'static str,
    /// The most bytes it may have.
    pub cap: u64,
    /// Whether a fault in it is the user's config (exit 2) rather than data (exit 3).
    pub config: bool,
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A config `.toml` (a preset file, a run's config.toml, a grid file): hundreds of bytes.
pub const CONFIG: Kind = Kind { what: "config", cap: MIB, config: true };
/// A run's summary.json: a few hundred bytes.
pub const SUMMARY: Kind = Kind { what: "summary", cap: MIB, config: false };
/// A run's history.csv: a row per epoch, ten numbers and one per layer; 10⁶ epochs fit.
pub const HISTORY: Kind = Kind { what: "history", cap: 512 * MIB, config: false };
/// A checkpoint's state.json: the history again, and the trackers' state.
pub const STATE: Kind = Kind { what: "checkpoint state", cap: 512 * MIB, config: false };
/// A sweep's plan.json: about 250 bytes an entry; 10⁶ entries fit.
pub const PLAN: Kind = Kind { what: "sweep plan", cap: 512 * MIB, config: true };
/// A line of mnist-lab's own: diverged.txt, checkpoints/latest, a lock's pid.
pub const NOTE: Kind = Kind { what: "note", cap: 64 * KIB, config: false };
/// A `.keras` archive: the largest network a config allows (2²⁸ weights) as f32, and room.
pub const KERAS: Kind = Kind { what: "Keras archive", cap: 2 * GIB, config: true };
/// A TensorBoard event file of one run.
pub const EVENTS: Kind = Kind { what: "TensorBoard event file", cap: GIB, config: false };

/// A burnpack record of `floats` f32 values (a model's weights, or an optimizer's slots), with
/// room for its header, names and alignment: what the config says it holds, and no more.
pub fn weights(what: &'static str, floats: u64) -> Kind {
    Kind { what, cap: floats.saturating_mul(4).saturating_add(MIB), config: false }
}

/// `path` opened for reading: a regular file of at most `kind.cap` bytes, for a reader that
/// takes only the parts it needs (a zip's members).
pub fn file(path: &Path, kind: Kind) -> Result<File> {
    open(path, kind).map(|(file, _)| file)
}

/// The whole of `path`, a regular file of at most `kind.cap` bytes.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>> {
    let (mut file, len) = open(path, kind)?;
    let mut bytes = Vec::with_capacity(len.min(kind.cap) as usize);
    (&mut file)
        .take(kind.cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fault(kind, format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > kind.cap {
        return Err(too_big(path, kind, bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, kind: Kind) -> Result<String> {
    String::from_utf8(read(path, kind)?)
        .map_err(|_| fault(kind, format!("{} is not text (UTF-8): not a {} of mnist-lab's", path.display(), kind.what)))
}

/// The last `max` bytes of `path` at most (a log's tail), from a regular file.
pub fn tail(path: &Path, kind: Kind, max: u64) -> Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let (mut file, len) = open(path, Kind { cap: u64::MAX, ..kind })?;
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start)).map_err(|e| fault(kind, format!("cannot read {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).map_err(|e| fault(kind, format!("cannot read {}: {e}", path.display())))?;
    Ok(bytes)
}

/// `path` opened for reading without waiting on it (a FIFO with no writer would block `open`),
/// checked to be a regular file of at most `kind.cap` bytes; and its length.
fn open(path: &Path, kind: Kind) -> Result<(File, u64)> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| {
        let why = match e.kind() {
            ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        fault(kind, format!("cannot read {} {}: {why}", kind.what, path.display()))
    })?;
    let meta = file.metadata().map_err(|e| fault(kind, format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(fault(
            kind,
            format!(
                "{} is {}, not a regular file: mnist-lab reads its {} only from a regular file",
                path.display(),
                kind_of_file(&meta.file_type()),
                kind.what
            ),
        ));
    }
    if meta.len() > kind.cap {
        return Err(too_big(path, kind, meta.len()));
    }
    #[cfg(unix)]
    blocking(&file);
    Ok((file, meta.len()))
}

/// A regular file reads the same either way; the flag only kept `open` from waiting.
#[cfg(unix)]
fn blocking(file: &File) {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns, with plain integer arguments.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

/// What a file that is not a regular one is, in words (for a reader's or a writer's error).
pub fn kind_of_file(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    "a special file"
}

fn too_big(path: &Path, kind: Kind, len: u64) -> anyhow::Error {
    fault(
        kind,
        format!(
            "{} is {len} bytes, more than a {} may be ({} bytes): not a {} of mnist-lab's",
            path.display(),
            kind.what,
            kind.cap,
            kind.what
        ),
    )
}

fn fault(kind: Kind, message: String) -> anyhow::Error {
    if kind.config { error::config(message) } else { error::data(message) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_up_to_their_cap() {
        let dir = std::env::temp_dir().join(format!("mnist-lab-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("summary.json");
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(read(&file, SUMMARY).unwrap(), b"{}");
        let small = Kind { what: "note", cap: 1, config: false };
        let e = read(&file, small).unwrap_err().to_string();
        assert!(e.contains("is 2 bytes, more than a note may be (1 bytes)"), "{e}");
        let e = read(&dir, SUMMARY).unwrap_err().to_string();
        assert!(e.contains("is a directory, not a regular file"), "{e}");
        let e = read(&dir.join("absent"), SUMMARY).unwrap_err().to_string();
        assert!(e.contains("cannot read summary") && e.contains("no such file"), "{e}");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(tail(&file, NOTE, 3).unwrap(), b"789");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_is_refused_without_waiting() {
        let dir = std::env::temp_dir().join(format!("mnist-lab-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("model.bpk");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let e = read(&fifo, weights("model", 10)).unwrap_err().to_string();
        assert!(e.contains("is a FIFO (named pipe), not a regular file"), "{e}");
        let e = read(Path::new("/dev/zero"), KERAS).unwrap_err().to_string();
        assert!(e.contains("/dev/zero is a device, not a regular file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
