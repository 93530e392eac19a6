//! L1 and L2 regularisation (lecture step 3): a penalty on the weights, added to the loss.

use burn::tensor::Tensor;

use crate::model::Mlp;

/// λ₂Σw² + λ₁Σ|w| over the weight matrices (not the biases), or `None` when both are zero.
/// Keras' `kernel_regularizer=l2(λ)` adds the same term, and reports it in the loss too.
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
