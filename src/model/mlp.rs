//! The multilayer perceptron of every lecture step, built from [`ModelConfig`].

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::init::{truncate, truncated_std, weight_initializer};
use crate::config::{Activation, ModelConfig, Output};
use crate::data::idx::{CLASSES, PIXELS};

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
                    // Cut outside autodiff: the parameter must stay a leaf of the graph.
                    let cut = truncate(linear.weight.val().inner(), std);
                    linear.weight = Param::from_tensor(Tensor::from_inner(cut));
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

    /// The output layer's pre-activations; losses work from these for numerical stability.
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for ((layer, dropout), act) in self.layers.iter().zip(&self.dropouts).zip(&self.activations) {
            x = apply(layer, Some(*act), Some(dropout), x);
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
        self.output.apply(logits)
    }
}

/// `layer`, then `act` and `dropout` (none: the output layer). On the CPU backend the layer is
/// one fused operation ([`super::dense`]) holding ReLU and dropout too; elsewhere, and for the
/// other activations, Burn's `Linear`, the activation and dropout follow one another.
fn apply(layer: &Linear, act: Option<Activation>, dropout: Option<&Dropout>, x: Tensor<2>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    {
        let relu = act == Some(Activation::Relu);
        let keep = match dropout {
            Some(d) if relu => super::dropout::keep(d, &x),
            _ => 1.0,
        };
        if let Some(mut y) = super::dense::forward(layer, &x, relu, keep) {
            // ReLU and its dropout are done; another activation and its dropout follow.
            if let Some(act) = act.filter(|_| !relu) {
                y = act.apply(y);
            }
            if let Some(d) = dropout.filter(|_| !relu) {
                y = super::dropout::forward(d, y);
            }
            return y;
        }
    }
    let mut y = layer.forward(x);
    if let Some(act) = act {
        y = act.apply(y);
    }
    if let Some(d) = dropout {
        y = super::dropout::forward(d, y);
    }
    y
}
