//! A Keras MLP into mnist-lab: `formats::keras` reads the `.keras` archive (config and weights,
//! every member capped, every shape checked); this makes the network of it.

use anyhow::Result;
use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use formats::config::ExperimentConfig;
use formats::keras;

use crate::model::Mlp;

/// What an import makes: the run's config, its network, and one line on what was left out.
pub struct Imported {
    pub config: ExperimentConfig,
    pub model: Mlp,
    pub warning: Option<String>,
}

/// Read the `.keras` archive `archive` (named `origin` in errors) into a config and a network on
/// `device`.
pub fn import<R: std::io::Read + std::io::Seek>(archive: R, origin: &str, device: &Device) -> Result<Imported> {
    let archive = keras::read(archive, origin)?;
    let mut model = Mlp::new(&archive.config.model, device);
    for (layer, (kernel, bias)) in model.layers.iter_mut().zip(archive.weights) {
        // The reader checked each kernel against the config's shape, [in, out].
        let [n_in, units] = layer.weight.val().dims();
        layer.weight = Param::from_tensor(Tensor::<2>::from_data(TensorData::new(kernel, [n_in, units]), device));
        layer.bias = Some(Param::from_tensor(Tensor::<1>::from_data(TensorData::new(bias, [units]), device)));
    }
    Ok(Imported { config: archive.config, model, warning: archive.warning })
}
