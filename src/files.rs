//! The one way every file is written.
//!
//! [`write_atomic`] writes to a temporary name in the destination's folder, flushes, then renames
//! over the final name, so a crash or a full disk never leaves half a file. It only ever replaces
//! a regular file: a FIFO, socket, device node or directory there is refused (renaming over
//! `/dev/null` as root would replace the system's). A symbolic link is written through, as the
//! shell's `>` and `cp` do: the regular file it points to is replaced atomically and the link
//! stays; a link to nothing, or to anything but a regular file, is refused. Data, runs, reports
//! and sweeps all write through it, so it sits below all of them.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use formats::error;

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename), keeping
/// an existing file's permissions. Refuses anything but a regular file (see the module's notes).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = replaceable(path)?;
    let mode = fs::metadata(&target).ok().map(|m| m.permissions());
    replace(&target, bytes, mode, true).with_context(|| format!("cannot write {}", path.display()))
}

/// [`write_atomic`] without its fsync, to a `target` the caller has checked with
/// [`replaceable`]: never half-written under its own name, but durable only once
/// [`sync_written`] has run. An fsync per file costs milliseconds, minutes for a large sweep plan.
pub fn write_unsynced(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(target, bytes, None, false)
}

/// The files [`write_unsynced`] wrote into `dir`, made durable: on Linux one `syncfs` of their
/// file system, elsewhere an fsync each.
#[cfg(target_os = "linux")]
pub fn sync_written(dir: &Path, _files: &[PathBuf]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = fs::File::open(dir)?;
    // SAFETY: syncfs(2) only reads the descriptor, which `d` keeps open for the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn sync_written(_dir: &Path, files: &[PathBuf]) -> std::io::Result<()> {
    files.iter().try_for_each(|f| fs::File::open(f)?.sync_all())
}

/// `bytes` into a temporary name beside `target`, then renamed over it; `mode` kept, synced
/// first when `sync`.
fn replace(target: &Path, bytes: &[u8], mode: Option<fs::Permissions>, sync: bool) -> std::io::Result<()> {
    let dir = parent_of(target);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Unique per call: two threads of one process (tests fetching the same file) must not share it.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{call}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        // A leftover of a killed process that had our pid; `create_new` never follows a link.
        if fs::symlink_metadata(&tmp).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&tmp)?;
        }
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        if let Some(mode) = mode {
            file.set_permissions(mode)?;
        }
        if sync {
            file.sync_all()?;
        }
        fs::rename(&tmp, target)
    })();
    if result.is_err() && fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_file()) {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The file [`write_atomic`] replaces for `path`: `path` itself when absent or a regular file,
/// the target of a link to a regular file; anything else is a config error naming what it is.
pub fn replaceable(path: &Path) -> Result<PathBuf> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(error::runtime(format!("cannot write {}: {e}", path.display()))),
    };
    if meta.is_file() {
        return Ok(path.to_path_buf());
    }
    if !meta.file_type().is_symlink() {
        return Err(error::config(format!(
            "{} is {}; mnist-lab only ever replaces regular files",
            path.display(),
            kind_of_file(&meta.file_type())
        )));
    }
    let target = fs::canonicalize(path).map_err(|e| {
        error::config(format!("{} is a symbolic link to nothing ({e}); not writing through it", path.display()))
    })?;
    match fs::metadata(&target) {
        Ok(m) if m.is_file() => Ok(target),
        Ok(m) => Err(error::config(format!(
            "{} is a symbolic link to {}, which is {}; mnist-lab only ever replaces regular files",
            path.display(),
            target.display(),
            kind_of_file(&m.file_type())
        ))),
        Err(e) => Err(error::runtime(format!("cannot write {}: {e}", target.display()))),
    }
}

fn kind_of_file(t: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_dir() { "a directory" } else { "not a regular file" }
}

pub(crate) fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}
