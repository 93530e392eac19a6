//! The network saves and loads itself as a burnpack record (which also keeps parameter ids, for
//! the optimizer's state): runs, checkpoints and exports all call these.

use std::path::Path;

use anyhow::Result;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use formats::config::ExperimentConfig;
use formats::{error, read, weights};

use super::Mlp;

impl Mlp {
    /// The model as a burnpack record (which also keeps parameter ids, for optimizer state).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut store = BurnpackStore::from_bytes(None);
        self.save_into(&mut store).map_err(|e| error::runtime(format!("cannot serialise the model: {e}")))?;
        let bytes = store.get_bytes().map_err(|e| error::runtime(format!("cannot serialise the model: {e}")))?;
        Ok(bytes.to_vec())
    }

    /// Rebuild the network of `cfg` on `device` and load the burnpack file `path` into it.
    pub fn load_file(path: &Path, cfg: &ExperimentConfig, device: &Device) -> Result<Mlp> {
        Self::from_bytes(Self::read_file(path, cfg)?, path, cfg, device)
    }

    /// The bytes of a burnpack file for the network of `cfg`: a regular file no larger than
    /// that network's weights as f32 and their names (a FIFO, device or 6 GB file is refused).
    pub fn read_file(path: &Path, cfg: &ExperimentConfig) -> Result<Vec<u8>> {
        read::read(path, read::weights("model", cfg.model.parameters() as u64))
    }

    /// Rebuild the network of `cfg` on `device` and load burnpack `bytes` (read from `path`) into it.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path, cfg: &ExperimentConfig, device: &Device) -> Result<Mlp> {
        // Held against the config's network before Burn sees it: names, shapes, byte ranges.
        weights::check(&bytes, &weights::expected(&cfg.model)).map_err(|why| {
            error::data(format!(
                "{} is not a model file of the network in the run's config.toml: {why}",
                path.display()
            ))
        })?;
        let mut model = Self::new(&cfg.model, device);
        let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)));
        let result = model
            .load_from(&mut store)
            .map_err(|e| error::data(format!("{} is not a valid model file: {e}", path.display())))?;
        if !result.missing.is_empty() || !result.errors.is_empty() {
            return Err(error::data(format!(
                "{} does not match the network in the run's config.toml: missing {:?}, errors {:?}",
                path.display(),
                result.missing,
                result.errors
            )));
        }
        if let Some(param) = model.non_finite() {
            return Err(error::data(format!(
                "{} holds NaN or infinite weights ({param}): the run diverged; train it again with a smaller learning rate",
                path.display()
            )));
        }
        Ok(model)
    }
}
