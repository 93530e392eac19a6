//! Weights for other programs: safetensors in PyTorch's layout.
//!
//! Tensors are `layers.{i}.weight` [out, in] and `layers.{i}.bias` [out], f32, i.e. exactly
//! what `nn.Linear` expects, so `torch.nn.Sequential` or plain NumPy can use them. The header
//! metadata says how to wire them up (`activations`, `output`) and carries the run's config.
//! Written with burn-store's `SafetensorsStore` plus its `BurnToPyTorchAdapter`, which
//! transposes Linear weights from Burn's [in, out]; the field names already match.

use anyhow::Result;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::Device;

use crate::config::{Activation, ExperimentConfig, Output};
use crate::error;
use crate::model::Mlp;

pub const SAFETENSORS_FILE: &str = "model.safetensors";

/// The model as a safetensors file in memory (PyTorch layout, metadata for NumPy users).
pub fn safetensors_bytes(model: &Mlp, cfg: &ExperimentConfig) -> Result<Vec<u8>> {
    let activations: Vec<&str> = model.activations.iter().map(|a| activation_name(*a)).collect();
    let output = match model.output {
        Output::Sigmoid => "sigmoid",
        Output::Softmax => "softmax",
    };
    // `format` overrides burn-store's default "safetensors"; `producer`/`version` stay.
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .metadata("format", "mnist-lab")
        .metadata("activations", activations.join(","))
        .metadata("output", output)
        .metadata("config", cfg.to_toml());
    let fail = |e: &dyn std::fmt::Display| error::runtime(format!("cannot serialise the model as safetensors: {e}"));
    model.save_into(&mut store).map_err(|e| fail(&e))?;
    store.get_bytes().map_err(|e| fail(&e))
}

/// Rebuild `cfg`'s network on `device` from [`safetensors_bytes`] output (or any file in that
/// layout, e.g. one fine-tuned in PyTorch).
pub fn load_safetensors(bytes: Vec<u8>, cfg: &ExperimentConfig, device: &Device) -> Result<Mlp> {
    let mut model = Mlp::new(&cfg.model, device);
    // Validation and allow_partial(false) are on by default: a missing or misshapen tensor errors.
    let mut store = SafetensorsStore::from_bytes(Some(bytes)).with_from_adapter(PyTorchToBurnAdapter);
    model.load_from(&mut store).map_err(|e| error::data(format!("not a safetensors file for this network: {e}")))?;
    Ok(model)
}

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
    }
}
