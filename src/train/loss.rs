//! The lecture's losses (steps 1 and 2), all computed from the output layer's logits.

use burn::tensor::Tensor;
use burn::tensor::activation;
use formats::config::{Loss, Output};

/// Mean loss of a batch, shape [1]. `targets` are one-hot.
pub fn loss(kind: Loss, output: Output, logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    match kind {
        // Keras' mean_squared_error: the mean over classes and batch of (a − y)².
        Loss::Mse => crate::model::activation::output(output, logits).sub(targets).square().mean(),
        // −[y·log σ(z) + (1−y)·log(1−σ(z))] = max(z,0) − z·y + log(1 + e^{−|z|}), stable for any z.
        Loss::BinaryCrossentropy => {
            let stable = logits.clone().abs().neg().exp().log1p();
            logits.clone().clamp_min(0.0).sub(logits.mul(targets)).add(stable).mean()
        }
        // −Σ y·log softmax(z), averaged over the batch; log_softmax subtracts the max first.
        Loss::CategoricalCrossentropy => activation::log_softmax(logits, 1).mul(targets).sum_dim(1).neg().mean(),
    }
}
