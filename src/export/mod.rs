//! Weights for other programs: safetensors in PyTorch's layout, and a web page that runs them;
//! ONNX in [`onnx`] (burnpack is Burn's own record, `model/store.rs`; Keras both ways in `keras/`).
//!
//! Tensors are `layers.{i}.weight` [out, in] and `layers.{i}.bias` [out], f32, i.e. exactly
//! what `nn.Linear` expects, so `torch.nn.Sequential` or plain NumPy can use them. The header
//! metadata says how to wire them up (`activations`, `output`) and carries the run's config.
//! Written with burn-store's `SafetensorsStore` plus its `BurnToPyTorchAdapter`, which
//! transposes Linear weights from Burn's [in, out]; the field names already match.
//!
//! The web page is `assets/digit.html` with the network filled in: its shape, activations and
//! output kind as JSON, its weights as base64 little-endian f32 in Burn's own [in, out] layout;
//! the page's JavaScript runs the forward pass and MNIST's preprocessing itself.

pub mod onnx;

use anyhow::Result;
use base64::Engine;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::Device;
use formats::config::{Activation, ExperimentConfig, Output};
use formats::error;

use crate::model::Mlp;

pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// The web page's default name inside a run directory.
pub const WEB_FILE: &str = "digit.html";

const WEB_TEMPLATE: &str = include_str!("../../assets/digit.html");
const MODEL_SLOT: &str = "{{MODEL_JSON}}";
const WEIGHTS_SLOT: &str = "{{WEIGHTS_BASE64}}";

/// The model as a safetensors file in memory (PyTorch layout, metadata for NumPy users).
pub fn safetensors_bytes(model: &Mlp, cfg: &ExperimentConfig) -> Result<Vec<u8>> {
    let activations: Vec<&str> = model.activations.iter().map(|a| activation_name(*a)).collect();
    let output = output_name(model.output);
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

/// The self-contained draw-a-digit page for `model` (see `assets/digit.html`). `preset` and
/// `test_accuracy` (0..1) are shown on the page.
pub fn web_page(model: &Mlp, preset: &str, test_accuracy: Option<f64>) -> Result<String> {
    let mut sizes = Vec::new();
    let mut bytes = Vec::new();
    for layer in &model.layers {
        let [n_in, n_out] = layer.weight.dims();
        if sizes.is_empty() {
            sizes.push(n_in);
        }
        sizes.push(n_out);
        let bias = layer.bias.as_ref().ok_or_else(|| error::runtime("a layer without a bias cannot be exported"))?;
        for tensor in [layer.weight.val(), bias.val().reshape([1, n_out])] {
            let values = tensor
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| error::runtime(format!("cannot read the weights back: {e:?}")))?;
            bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        }
    }
    let meta = serde_json::json!({
        "format": "mnist-lab",
        "preset": preset,
        "sizes": sizes,
        "activations": model.activations.iter().map(|a| activation_name(*a)).collect::<Vec<_>>(),
        "output": output_name(model.output),
        "test_accuracy": test_accuracy,
    });
    // Inside <script>, a `</script>` in a preset name would end the element: escape every `<`.
    let json = meta.to_string().replace('<', "\\u003c");
    let weights = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok(fill(WEB_TEMPLATE, &[(MODEL_SLOT, &json), (WEIGHTS_SLOT, &weights)]))
}

/// `template` with each placeholder (each present once, in this order) replaced by its value,
/// in one pass, so a value that contains a placeholder's text is left as it is.
fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + slots.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    for (slot, value) in slots {
        let (before, after) = rest.split_once(slot).expect("the page template holds each placeholder once");
        out.push_str(before);
        out.push_str(value);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The output kind as the safetensors metadata, ONNX and Keras name it.
pub(crate) fn output_name(o: Output) -> &'static str {
    match o {
        Output::Sigmoid => "sigmoid",
        Output::Softmax => "softmax",
    }
}

/// The activation as the safetensors metadata, ONNX and Keras name it.
pub(crate) fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_holds_each_placeholder_once_in_fill_order() {
        for slot in [MODEL_SLOT, WEIGHTS_SLOT] {
            assert_eq!(WEB_TEMPLATE.matches(slot).count(), 1, "{slot}");
        }
        assert!(WEB_TEMPLATE.find(MODEL_SLOT) < WEB_TEMPLATE.find(WEIGHTS_SLOT));
    }

    #[test]
    fn fill_is_one_pass() {
        let out = fill("a{{X}}b{{Y}}c", &[("{{X}}", "{{Y}}"), ("{{Y}}", "2")]);
        assert_eq!(out, "a{{Y}}b2c");
    }
}
