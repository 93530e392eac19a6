//! The one way every file is written.
//!
//! [`write_atomic`] writes to a temporary name in the destination's folder, flushes, then renames
//! over the final name, so a crash or a full disk never leaves half a file. It only ever replaces
//! a regular file: a FIFO, socket, device node or directory there is refused (renaming over
//! `/dev/null` as root would replace the system's). A symbolic link the user names is written
//! through, as the shell's `>` and `cp` do: the regular file it points to is replaced atomically
//! and the link stays; a link to nothing, or to anything but a regular file, is refused. Data,
//! runs, reports and sweeps all write through it, so it sits below all of them.
//!
//! Inside a folder of mnist-lab's own (a run, a sweep, a lecture), which may have come from
//! someone else, [`write_inside`] and [`create_dir_inside`] follow no link at all: a link there,
//! at the file or at a folder on the way to it, is refused, so nothing outside the folder is
//! ever written through one.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use formats::error;
use formats::read::kind_of_file;

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename), keeping
/// an existing file's permissions. Refuses anything but a regular file (see the module's notes).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = replaceable(path)?;
    let mode = fs::metadata(&target).ok().map(|m| m.permissions());
    replace(&target, bytes, mode, true).with_context(|| format!("cannot write {}", path.display()))
}

/// [`write_atomic`] of `path`, a file inside the folder `root` (see [`check_inside`]).
pub fn write_inside(root: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    check_inside(root, path)?;
    write_atomic(path, bytes)
}

/// `dir` and the folders on the way to it created inside `root`, none of them a link.
pub fn create_dir_inside(root: &Path, dir: &Path) -> Result<()> {
    check_inside(root, dir)?;
    fs::create_dir_all(dir).map_err(|e| error::runtime(format!("cannot create {}: {e}", dir.display())))
}

/// That `path` lies inside the folder `root` with no symbolic link between: every folder from
/// `root` down to `path` and `path` itself are absent or real (a folder, or the file), never a
/// link someone placed there, which would take a write out of the folder. `root` itself is
/// where the user pointed, link or not.
pub fn check_inside(root: &Path, path: &Path) -> Result<()> {
    let Ok(rel) = path.strip_prefix(root) else {
        return Err(error::runtime(format!("{} is not inside {}", path.display(), root.display())));
    };
    let mut at = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let meta = match fs::symlink_metadata(&at) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(error::runtime(format!("cannot write {}: {e}", at.display()))),
        };
        if meta.file_type().is_symlink() {
            return Err(error::config(format!(
                "{} is a symbolic link: mnist-lab writes only inside {}, never through a link placed there \
                 (remove it, or copy the folder without links)",
                at.display(),
                root.display()
            )));
        }
        if i + 1 < parts.len() && !meta.is_dir() {
            return Err(error::config(format!(
                "{} is {}, where mnist-lab keeps a folder of its own",
                at.display(),
                kind_of_file(&meta.file_type())
            )));
        }
    }
    Ok(())
}

/// That `path`, a file mnist-lab names itself beside one the user named (the pictures beside a
/// report), is not a symbolic link: only a name the user gave is written through.
pub fn not_a_link(path: &Path) -> Result<()> {
    check_inside(parent_of(path), path)
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

pub(crate) fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}
