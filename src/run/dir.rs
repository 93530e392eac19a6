//! The run directory. Files are written through [`crate::files::write_atomic`]; a file the user
//! names (`--out`, `--to`, `--json`) also goes through [`check_destination`]: never inside a run
//! directory but the one being written.
//!
//! A run directory is claimed by its lock file ([`LOCK_FILE`], an advisory lock held for as long
//! as `train` or `train --resume` runs and released by the kernel when the process dies), so two
//! processes never train into one folder, and a folder a killed run left behind stays reusable.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::Device;
use formats::config::ExperimentConfig;
use formats::summary::Summary;
use formats::{error, read};

use crate::files::{check_inside, parent_of, replaceable, write_atomic, write_inside};
use crate::model::Mlp;
use crate::train::checkpoint;

pub const CONFIG_FILE: &str = "config.toml";
pub const HISTORY_FILE: &str = "history.csv";
pub const MODEL_FILE: &str = "model.bpk";
pub const SUMMARY_FILE: &str = "summary.json";
/// Written by a run whose training diverged (the error's text), removed when it trains again.
pub const DIVERGED_FILE: &str = "diverged.txt";
/// Claims a run directory; holds the pid of the process training it.
pub const LOCK_FILE: &str = ".mnist-lab.lock";

/// [`write_atomic`] to a path the user named, after [`check_destination`].
pub fn write_destination(path: &Path, bytes: &[u8], own_run: Option<&Path>) -> Result<()> {
    check_destination(path, own_run)?;
    write_atomic(path, bytes)
}

/// A file the user named as a destination: replaceable by [`write_atomic`], and not inside a
/// run directory (its config, checkpoints, pictures…) unless that run is `own_run`, whose own
/// rules the caller applies. Checked before any work, so a bad path fails fast.
pub fn check_destination(path: &Path, own_run: Option<&Path>) -> Result<()> {
    let target = replaceable(path)?;
    // The nearest folder that exists: the rest is created later and holds no run.
    let mut dir = parent_of(&target).to_path_buf();
    while !dir.exists() {
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
            _ => return Ok(()),
        }
    }
    let Ok(dir) = dir.canonicalize() else { return Ok(()) };
    let own = own_run.and_then(|r| r.canonicalize().ok());
    for d in dir.ancestors() {
        if own.as_deref() == Some(d) {
            return Ok(());
        }
        if is_run_dir(d) {
            return Err(error::config(format!(
                "{} is inside the run directory {}; writing there could replace the run's own files \
                 (pick a path outside it)",
                path.display(),
                d.display()
            )));
        }
    }
    Ok(())
}

/// Whether `dir` holds a run: its config.toml and something only training writes beside it.
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file()
        && [LOCK_FILE, HISTORY_FILE, SUMMARY_FILE, MODEL_FILE, checkpoint::DIR].iter().any(|f| dir.join(f).exists())
}

/// Whether `dir` holds a run `train` started: its config.toml and the lock file, checkpoints or
/// summary training writes (a run killed before its first epoch has the lock file).
fn is_started_run(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file()
        && [LOCK_FILE, checkpoint::DIR, SUMMARY_FILE].iter().any(|f| fs::symlink_metadata(dir.join(f)).is_ok())
}

/// A run directory on disk; while it holds the lock, this process is the one training it.
pub struct RunDir {
    pub path: PathBuf,
    lock: Option<fs::File>,
}

impl RunDir {
    /// Claim a new run directory: `out` if given, else `artifacts/<preset>-<UTC timestamp>`
    /// (with a suffix if two runs start the same second; the preset made a plain file name).
    /// `out` must be new or empty, or hold only a run of ours stopped before its first epoch
    /// ended ([`check_out`]), which is then started again.
    pub fn create(out: Option<&Path>, preset: &str) -> Result<Self> {
        let Some(out) = out else { return Self::create_default(preset) };
        fs::create_dir_all(out)
            .map_err(|e| error::config(format!("cannot create run directory {}: {e}", out.display())))?;
        // Looked at before the lock file is made, so a folder of the user's gets nothing of ours.
        check_out(out)?;
        let lock = lock(out)?;
        // Again under the lock: another run may have claimed the folder in between.
        if check_out(out)? == OutState::Unstarted {
            clear_unstarted(out)?;
        }
        Ok(Self { path: out.to_path_buf(), lock: Some(lock) })
    }

    fn create_default(preset: &str) -> Result<Self> {
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
            .expect("static format");
        let root = Path::new("artifacts");
        fs::create_dir_all(root).map_err(|e| error::runtime(format!("cannot create {}: {e}", root.display())))?;
        let preset = run_name(preset);
        for n in 1.. {
            let name = if n == 1 { format!("{preset}-{stamp}") } else { format!("{preset}-{stamp}-{n}") };
            let path = root.join(name);
            // create_dir (not _all) fails if it exists, so two runs never share a directory.
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Self { lock: Some(lock(&path)?), path }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(error::runtime(format!("cannot create {}: {e}", path.display()))),
            }
        }
        unreachable!("the loop above returns")
    }

    /// A run directory to read (eval, predict, export, report): no lock is taken.
    pub fn open(path: &Path) -> Result<Self> {
        match fs::metadata(path.join(CONFIG_FILE)) {
            Ok(m) if m.is_file() => {}
            // A FIFO or device where the config should be: named as what it is, never read.
            Ok(_) => {
                read::read(&path.join(CONFIG_FILE), read::CONFIG)?;
            }
            Err(_) => {
                return Err(error::config(format!(
                    "{} is not a run directory (no {CONFIG_FILE} in it)",
                    path.display()
                )));
            }
        }
        Ok(Self { path: path.to_path_buf(), lock: None })
    }

    /// Open `path` to train it further: take its lock, remove what a killed run left half-made,
    /// and say how many epochs its newest checkpoint holds (`None`: it was stopped before its
    /// first epoch ended and starts again from scratch).
    /// Only a folder `train` made is taken over: a config.toml of the user's beside nothing of
    /// ours is not a run, and resuming it would replace the user's file.
    pub fn resume(path: &Path) -> Result<(Self, Option<usize>)> {
        let mut run = Self::open(path)?;
        if !is_started_run(path) {
            return Err(error::config(format!(
                "{} is not a run directory (it has a {CONFIG_FILE} but nothing `mnist-lab train` writes: no {LOCK_FILE}, \
                 {}/ or {SUMMARY_FILE}); to train that config, run `mnist-lab train {}`",
                path.display(),
                checkpoint::DIR,
                path.join(CONFIG_FILE).display()
            )));
        }
        run.lock = Some(lock(path)?);
        checkpoint::clean_partial(path)?;
        remove_temporaries(path);
        if checkpoint::newest(path)?.is_none() && !path.join(SUMMARY_FILE).exists() {
            clear_unstarted(path)?;
            return Ok((run, None));
        }
        let done = checkpoint::completed_epochs(path)?;
        Ok((run, Some(done)))
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Write the run's file `name`; a link in the run is refused, never written through.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_inside(&self.path, &self.file(name), bytes)
    }

    /// The path of the run's file `name`, checked to be writable inside the run (no link on the
    /// way), for a writer that takes a path (the pictures).
    pub fn writable(&self, name: &str) -> Result<PathBuf> {
        let path = self.file(name);
        check_inside(&self.path, &path)?;
        Ok(path)
    }

    pub fn config(&self) -> Result<ExperimentConfig> {
        ExperimentConfig::from_file(&self.file(CONFIG_FILE))
    }

    pub fn summary(&self) -> Result<Summary> {
        let path = self.file(SUMMARY_FILE);
        let text = read::read_to_string(&path, read::SUMMARY)?;
        Summary::parse(&text, &path.display().to_string())
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        self.write(SUMMARY_FILE, summary.to_json()?.as_bytes())
    }

    pub fn save_model(&self, model: &Mlp) -> Result<()> {
        self.write(MODEL_FILE, &model.to_bytes()?)
    }

    /// Rebuild the network of `cfg` on `device` and load `model.bpk` into it.
    pub fn load_model(&self, cfg: &ExperimentConfig, device: &Device) -> Result<Mlp> {
        Mlp::load_file(&self.file(MODEL_FILE), cfg, device)
    }
}

/// What a `--out` folder holds, when it may be trained into.
#[derive(Debug, PartialEq, Eq)]
pub enum OutState {
    /// New or empty.
    Empty,
    /// A run of ours stopped before its first epoch ended: nothing in it is worth keeping.
    Unstarted,
}

/// Whether `out` may become a run directory: it must not exist, be empty, or hold only a run of
/// ours stopped before its first epoch ended. A finished or checkpointed run, or any file of the
/// user's, is refused (config error) and left untouched.
pub fn check_out(out: &Path) -> Result<OutState> {
    let entries = match fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(OutState::Empty),
        Err(e) => return Err(error::config(format!("cannot use {} as the run directory: {e}", out.display()))),
    };
    let names: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    if names.is_empty() {
        return Ok(OutState::Empty);
    }
    let ours = names.iter().any(|n| n == LOCK_FILE);
    if out.join(SUMMARY_FILE).exists() || (!ours && out.join(CONFIG_FILE).exists()) {
        return Err(error::config(format!("{} already holds a run; choose another --out", out.display())));
    }
    if !ours {
        let mut shown: Vec<&str> = names.iter().map(String::as_str).take(3).collect();
        if names.len() > 3 {
            shown.push("…");
        }
        return Err(error::config(format!(
            "{} is not empty (it holds {}); --out takes a new or empty folder, so that nothing in it is replaced",
            out.display(),
            shown.join(", ")
        )));
    }
    // A damaged pointer is an error here, not a sign of a run that never started.
    if checkpoint::newest(out)?.is_some() {
        let done = checkpoint::completed_epochs(out)?;
        return Err(error::config(format!(
            "{} already holds a run stopped after epoch {done}; continue it with `mnist-lab train --resume {}`, \
             or choose another --out",
            out.display(),
            out.display()
        )));
    }
    Ok(OutState::Unstarted)
}

/// Take `dir`'s run lock, or say who holds it (a config error: another run is using the folder).
fn lock(dir: &Path) -> Result<fs::File> {
    let path = dir.join(LOCK_FILE);
    let not_regular = || {
        error::config(format!(
            "{} is not a regular file; it is never written through (remove it if it is not yours)",
            path.display()
        ))
    };
    // Never through a link: truncating the lock file would truncate whatever it points to.
    if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
        return Err(not_regular());
    }
    let mut options = fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let mut file = options.open(&path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => not_regular(),
        _ => error::runtime(format!("cannot open {}: {e}", path.display())),
    })?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(not_regular());
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let pid = read::read_to_string(&path, read::NOTE).ok().and_then(|s| s.trim().parse::<u32>().ok());
            return Err(error::config(format!(
                "{} is being trained by another mnist-lab{} ({} is locked); wait for it to end or stop it first",
                dir.display(),
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                path.display()
            )));
        }
        Err(fs::TryLockError::Error(e)) => return Err(error::runtime(format!("cannot lock {}: {e}", path.display()))),
    }
    // Only for the message above: a full disk loses nothing but this line.
    let _ = file.set_len(0).and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
    Ok(file)
}

/// What training writes before its first checkpoint, removed so the run starts clean (the
/// event files too: a restarted run would leave out the steps they hold).
fn clear_unstarted(dir: &Path) -> Result<()> {
    remove_temporaries(dir);
    for name in [HISTORY_FILE, checkpoint::DIR, crate::train::tensorboard::DIR] {
        let path = dir.join(name);
        let removed = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(_) => Ok(()),
        };
        removed.map_err(|e| error::runtime(format!("cannot remove {}: {e}", path.display())))?;
    }
    Ok(())
}

/// The temporaries [`write_atomic`] leaves when killed, for the files training writes at the
/// top of a run directory, when the process that made one has ended: an export may be writing
/// model.safetensors or model.bpk beside a resume (the run lock keeps out any other writer).
fn remove_temporaries(dir: &Path) {
    const TRAINED: [&str; 11] = [
        CONFIG_FILE,
        DIVERGED_FILE,
        HISTORY_FILE,
        SUMMARY_FILE,
        MODEL_FILE,
        crate::export::SAFETENSORS_FILE,
        "curves.svg",
        "curves.png",
        "confusion.csv",
        "confusion.svg",
        "confusion.png",
    ];
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(tail) = TRAINED.iter().find_map(|f| name.strip_prefix(&format!(".{f}.tmp-"))) else { continue };
        if entry.file_type().is_ok_and(|t| t.is_file()) && !written_by_another_live_process(tail) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether a temporary whose name ends `PID-N` is being written by a process other than this
/// one that is still running (a leftover that had this process's pid is not).
fn written_by_another_live_process(tail: &str) -> bool {
    let Some(pid) = tail.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { return false };
    if pid == 0 || pid == std::process::id() {
        return false;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        // SAFETY: signal 0 sends nothing: kill(2) only says whether the process exists.
        let found = unsafe { libc::kill(pid, 0) } == 0;
        found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    false
}

/// A preset name as a folder name under artifacts/: letters, digits, `-`, `_`, `.` and `+`,
/// anything else becomes `-`; never hidden, never a path (`preset = "/tmp/x"` gives `tmp-x`).
pub fn run_name(preset: &str) -> String {
    let name: String =
        preset.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.+".contains(c) { c } else { '-' }).collect();
    let name: String = name.trim_start_matches(['.', '-']).chars().take(64).collect();
    if name.is_empty() { "run".into() } else { name }
}
