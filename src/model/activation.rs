//! Activations (lecture steps 1, 2 and 6): what each hidden layer and the output layer apply.
//! Free functions, as the enums live in the Burn-free formats crate.

use burn::tensor::{Tensor, activation};
use formats::config::{Activation, Output};

/// A hidden layer's activation.
pub fn hidden(kind: Activation, x: Tensor<2>) -> Tensor<2> {
    match kind {
        // σ' ≤ 0.25: stacked sigmoids shrink the gradient layer by layer (step 6).
        Activation::Sigmoid => activation::sigmoid(x),
        Activation::Tanh => activation::tanh(x),
        // Derivative 1 where active: gradients reach the first layers intact.
        Activation::Relu => activation::relu(x),
    }
}

/// The network's outputs from the last layer's logits: ten independent sigmoids (the lecture's
/// start) or softmax probabilities that sum to one (step 2).
pub fn output(kind: Output, logits: Tensor<2>) -> Tensor<2> {
    match kind {
        Output::Sigmoid => activation::sigmoid(logits),
        Output::Softmax => activation::softmax(logits, 1),
    }
}
