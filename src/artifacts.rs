//! The run directory: every file is written to a temporary name in the same directory, flushed,
//! then renamed over its final name, so a crash or a full disk never leaves half a file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::error;
use crate::model::Mlp;

pub const CONFIG_FILE: &str = "config.toml";
pub const HISTORY_FILE: &str = "history.csv";
pub const MODEL_FILE: &str = "model.bpk";
pub const SUMMARY_FILE: &str = "summary.json";

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Unique per call: two threads of one process (tests fetching the same file) must not share it.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{call}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// `summary.json`, as the contract pins it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub preset: String,
    pub dataset: String,
    pub backend: String,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub train_seconds: f64,
    pub seconds_per_epoch: f64,
}

/// A run directory on disk.
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Create a new run directory: `out` if given (it must not already hold a run), else
    /// `artifacts/<preset>-<UTC timestamp>` (with a suffix if two runs start the same second).
    pub fn create(out: Option<&Path>, preset: &str) -> Result<Self> {
        if let Some(out) = out {
            fs::create_dir_all(out)
                .map_err(|e| error::config(format!("cannot create run directory {}: {e}", out.display())))?;
            // Claim the directory with an exclusive create: of two runs started with the same
            // --out, exactly one gets it; a finished run is refused the same way.
            let config = out.join(CONFIG_FILE);
            fs::OpenOptions::new().write(true).create_new(true).open(&config).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    error::config(format!("{} already holds a run; choose another --out", out.display()))
                }
                _ => error::config(format!("cannot create {}: {e}", config.display())),
            })?;
            return Ok(Self { path: out.to_path_buf() });
        }
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
            .expect("static format");
        let root = Path::new("artifacts");
        fs::create_dir_all(root).map_err(|e| error::runtime(format!("cannot create {}: {e}", root.display())))?;
        for n in 1.. {
            let name = if n == 1 { format!("{preset}-{stamp}") } else { format!("{preset}-{stamp}-{n}") };
            let path = root.join(name);
            // create_dir (not _all) fails if it exists, so two runs never share a directory.
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(error::runtime(format!("cannot create {}: {e}", path.display()))),
            }
        }
        unreachable!("the loop above returns")
    }

    pub fn open(path: &Path) -> Result<Self> {
        if !path.join(CONFIG_FILE).is_file() {
            return Err(error::config(format!("{} is not a run directory (no {CONFIG_FILE} in it)", path.display())));
        }
        Ok(Self { path: path.to_path_buf() })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    pub fn config(&self) -> Result<ExperimentConfig> {
        ExperimentConfig::from_file(&self.file(CONFIG_FILE))
    }

    pub fn summary(&self) -> Result<Summary> {
        let path = self.file(SUMMARY_FILE);
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid summary", path.display()))
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        let json = serde_json::to_string_pretty(summary).expect("summary serialises");
        self.write(SUMMARY_FILE, format!("{json}\n").as_bytes())
    }

    pub fn save_model(&self, model: &Mlp) -> Result<()> {
        self.write(MODEL_FILE, &model_bytes(model)?)
    }

    /// Rebuild the network of `cfg` on `device` and load `model.bpk` into it.
    pub fn load_model(&self, cfg: &ExperimentConfig, device: &Device) -> Result<Mlp> {
        load_model_file(&self.file(MODEL_FILE), cfg, device)
    }
}

/// The model as a burnpack record (which also keeps parameter ids, for optimizer state).
pub fn model_bytes(model: &Mlp) -> Result<Vec<u8>> {
    let mut store = BurnpackStore::from_bytes(None);
    model.save_into(&mut store).map_err(|e| error::runtime(format!("cannot serialise the model: {e}")))?;
    let bytes = store.get_bytes().map_err(|e| error::runtime(format!("cannot serialise the model: {e}")))?;
    Ok(bytes.to_vec())
}

/// Rebuild the network of `cfg` on `device` and load the burnpack file `path` into it.
pub fn load_model_file(path: &Path, cfg: &ExperimentConfig, device: &Device) -> Result<Mlp> {
    let bytes = fs::read(path).map_err(|e| error::data(format!("cannot read {}: {e}", path.display())))?;
    load_model_bytes(bytes, path, cfg, device)
}

/// Rebuild the network of `cfg` on `device` and load burnpack `bytes` (read from `path`) into it.
pub fn load_model_bytes(bytes: Vec<u8>, path: &Path, cfg: &ExperimentConfig, device: &Device) -> Result<Mlp> {
    let mut model = Mlp::new(&cfg.model, device);
    let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)));
    let result = model
        .load_from(&mut store)
        .map_err(|e| error::data(format!("{} is not a valid model file: {e}", path.display())))?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(error::data(format!(
            "{} does not match the network in {CONFIG_FILE}: missing {:?}, errors {:?}",
            path.display(),
            result.missing,
            result.errors
        )));
    }
    Ok(model)
}
