//! The lecture's losses, all computed from the output layer's logits, plus the L1/L2 penalties.

use burn::tensor::Tensor;
use burn::tensor::activation;

use crate::config::{Loss, Output};
use crate::model::Mlp;

/// Mean loss of a batch, shape [1]. `targets` are one-hot.
pub fn loss(kind: Loss, output: Output, logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    match kind {
        // Keras' mean_squared_error: the mean over classes and batch of (a − y)².
        Loss::Mse => {
            let outputs = match output {
                Output::Sigmoid => activation::sigmoid(logits),
                Output::Softmax => activation::softmax(logits, 1),
            };
            outputs.sub(targets).square().mean()
        }
        // −[y·log σ(z) + (1−y)·log(1−σ(z))] = max(z,0) − z·y + log(1 + e^{−|z|}), stable for any z.
        Loss::BinaryCrossentropy => {
            let stable = logits.clone().abs().neg().exp().log1p();
            logits.clone().clamp_min(0.0).sub(logits.mul(targets)).add(stable).mean()
        }
        // −Σ y·log softmax(z), averaged over the batch; log_softmax subtracts the max first.
        Loss::CategoricalCrossentropy => activation::log_softmax(logits, 1).mul(targets).sum_dim(1).neg().mean(),
    }
}

/// λ₂Σw² + λ₁Σ|w| over the weight matrices (not the biases), or `None` when both are zero.
pub fn penalty(model: &Mlp, l1: f64, l2: f64) -> Option<Tensor<1>> {
    if l1 == 0.0 && l2 == 0.0 {
        return None;
    }
    model
        .layers
        .iter()
        .map(|layer| {
            let w = layer.weight.val();
            let mut p = w.clone().square().sum().mul_scalar(l2);
            if l1 != 0.0 {
                p = p.add(w.abs().sum().mul_scalar(l1));
            }
            p
        })
        .reduce(|a, b| a.add(b))
}
