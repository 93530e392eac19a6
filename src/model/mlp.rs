//! The multilayer perceptron of every lecture step, built from [`ModelConfig`].

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use formats::config::{Activation, ModelConfig, Output};
use formats::idx::{CLASSES, PIXELS};

use super::init::{truncate, truncated_std, weight_initializer};

/// Training or inference: which one a forward pass is for is said by the caller
/// ([`Mlp::forward_train`] or [`Mlp::forward`]), never guessed from the tensors' device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Train,
    Infer,
}

#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers then the output layer. Burn stores weights as [in, out].
    pub layers: Vec<Linear>,
    /// One per hidden layer (rate 0 = a no-op).
    pub dropouts: Vec<Dropout>,
    #[module(skip)]
    pub activations: Vec<Activation>,
    #[module(skip)]
    pub output: Output,
    /// Each hidden layer's max-norm bound (`train::max_norm` applies it after every step).
    #[module(skip)]
    pub max_norms: Vec<Option<f64>>,
}

impl Mlp {
    pub fn new(cfg: &ModelConfig, device: &Device) -> Self {
        let mut sizes = vec![PIXELS];
        sizes.extend(cfg.hidden.iter().map(|l| l.units));
        sizes.push(CLASSES);
        let layers = sizes
            .windows(2)
            .map(|w| {
                let mut linear = LinearConfig::new(w[0], w[1])
                    .with_initializer(weight_initializer(cfg.init, w[0], w[1], cfg.init_std))
                    .init(device);
                if let Some(std) = truncated_std(cfg.init, w[0], w[1]) {
                    let weight = linear.weight.val();
                    // Cut outside autodiff (the parameter must stay a leaf of the graph), and
                    // on the device it was drawn on: an inference model stays off autodiff.
                    let cut = match weight.is_autodiff() {
                        true => Tensor::from_inner(truncate(weight.inner(), std)),
                        false => truncate(weight, std),
                    };
                    linear.weight = Param::from_tensor(cut);
                }
                // Keras starts biases at zero.
                linear.bias = Some(Param::from_tensor(Tensor::zeros([w[1]], device)));
                linear
            })
            .collect();
        Self {
            layers,
            dropouts: cfg.hidden.iter().map(|l| DropoutConfig::new(l.dropout).init()).collect(),
            activations: cfg.hidden.iter().map(|l| l.activation).collect(),
            output: cfg.output,
            max_norms: cfg.hidden.iter().map(|l| l.max_norm).collect(),
        }
    }

    /// The output layer's pre-activations at inference: dropout is never applied, whatever
    /// device the tensors live on. Losses work from these for numerical stability.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_in(Mode::Infer, x)
    }

    /// The output layer's pre-activations for a training step: dropout is live.
    pub fn forward_train(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_in(Mode::Train, x)
    }

    fn forward_in(&self, mode: Mode, mut x: Tensor<2>) -> Tensor<2> {
        for ((layer, dropout), act) in self.layers.iter().zip(&self.dropouts).zip(&self.activations) {
            x = apply(layer, Some(*act), Some(dropout).filter(|_| mode == Mode::Train), x);
        }
        apply(self.layers.last().expect("at least the output layer"), None, None, x)
    }

    /// The first parameter holding NaN or ∞ (`layers.{i}.weight` or `layers.{i}.bias`), if any.
    pub fn non_finite(&self) -> Option<String> {
        let finite = |t: Tensor<2>| t.into_data().iter::<f32>().all(f32::is_finite);
        for (i, layer) in self.layers.iter().enumerate() {
            if !finite(layer.weight.val()) {
                return Some(format!("layers.{i}.weight"));
            }
            if let Some(bias) = &layer.bias
                && !finite(bias.val().unsqueeze())
            {
                return Some(format!("layers.{i}.bias"));
            }
        }
        None
    }

    /// Class probabilities (softmax) or per-class sigmoid outputs.
    pub fn outputs(&self, logits: Tensor<2>) -> Tensor<2> {
        super::activation::output(self.output, logits)
    }
}

/// `layer`, then `act` and `dropout` (none: the output layer, or inference). On the CPU backend the layer is
/// one fused operation ([`super::dense`]) holding ReLU and dropout too; elsewhere, and for the
/// other activations, Burn's `Linear`, the activation and dropout follow one another.
fn apply(layer: &Linear, act: Option<Activation>, dropout: Option<&Dropout>, x: Tensor<2>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    {
        let relu = act == Some(Activation::Relu);
        let keep = match dropout {
            Some(d) if relu => super::dropout::keep(d),
            _ => 1.0,
        };
        if let Some(mut y) = super::dense::forward(layer, &x, relu, keep) {
            // ReLU and its dropout are done; another activation and its dropout follow.
            if let Some(act) = act.filter(|_| !relu) {
                y = super::activation::hidden(act, y);
            }
            if let Some(d) = dropout.filter(|_| !relu) {
                y = super::dropout::forward(d, y);
            }
            return y;
        }
    }
    let mut y = layer.forward(x);
    if let Some(act) = act {
        y = super::activation::hidden(act, y);
    }
    if let Some(d) = dropout {
        y = super::dropout::forward(d, y);
    }
    y
}

#[cfg(test)]
mod tests {
    use burn::nn::DropoutConfig;

    use super::*;

    /// Inference never drops units, for every initialiser, on a model built for inference or
    /// for training; a training step does. Truncated normals once left dropout live at inference.
    #[test]
    fn dropout_only_in_training_steps() {
        for init in ["normal", "scaled-normal", "glorot-uniform", "he-uniform", "glorot-normal", "he-normal"] {
            let text = format!(
                "hidden = [{{ units = 64, activation = \"relu\", dropout = 0.5 }}, \
                 {{ units = 32, activation = \"relu\", dropout = 0.5 }}, \
                 {{ units = 16, activation = \"sigmoid\", dropout = 0.5 }}]\n\
                 output = \"softmax\"\ninit = \"{init}\""
            );
            let cfg: ModelConfig = toml::from_str(&text).unwrap();
            for device in [Device::default(), Device::default().autodiff()] {
                device.seed(5);
                let model = Mlp::new(&cfg, &device);
                assert_eq!(model.layers[0].weight.val().is_autodiff(), device.is_autodiff(), "{init}: weights' device");
                let x = Tensor::<2>::random([8, PIXELS], burn::tensor::Distribution::Default, &device);
                let read = |t: Tensor<2>| t.inner().into_data().try_to_vec::<f32>().unwrap();
                let mut without = model.clone();
                without.dropouts = cfg.hidden.iter().map(|_| DropoutConfig::new(0.0).init()).collect();
                let plain = read(without.forward(x.clone()));
                assert_eq!(read(model.forward(x.clone())), plain, "{init}: inference drops units");
                assert_eq!(read(model.forward(x.clone())), plain, "{init}: inference is not deterministic");
                if device.is_autodiff() {
                    assert_ne!(read(model.forward_train(x.clone())), plain, "{init}: training keeps every unit");
                }
            }
        }
    }
}
