//! Stochastic gradient descent, as `keras.optimizers.SGD` computes it.
//!
//! ```text
//! plain:     w ← w − lr·g
//! momentum:  m ← μ·m − lr·g;  w ← w + m            (m starts at 0)
//! Nesterov:  m ← μ·m − lr·g;  w ← w + μ·m − lr·g
//! ```
//! The velocity holds steps already scaled by the learning rate, so a schedule changes new
//! steps only, as in Keras (PyTorch scales the whole velocity instead).

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};
use formats::config::SgdConfig;

#[derive(Debug, Clone, Copy)]
pub struct Sgd {
    pub momentum: f64,
    pub nesterov: bool,
}

impl From<&SgdConfig> for Sgd {
    fn from(c: &SgdConfig) -> Self {
        Self { momentum: c.momentum, nesterov: c.nesterov }
    }
}

/// The velocity, per parameter tensor (only with momentum).
#[derive(Clone)]
pub struct SgdState<const D: usize> {
    pub velocity: Tensor<D>,
}

impl Optimizer for Sgd {
    type State<const D: usize> = SgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if self.momentum == 0.0 {
            return (tensor.sub(grad.mul_scalar(lr)), None);
        }
        let velocity = state.map_or_else(|| grad.zeros_like(), |s| s.velocity);
        let step = grad.mul_scalar(lr);
        let velocity = velocity.mul_scalar(self.momentum).sub(step.clone());
        let update =
            if self.nesterov { velocity.clone().mul_scalar(self.momentum).sub(step) } else { velocity.clone() };
        (tensor.add(update), Some(SgdState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        SgdState { velocity: state.velocity.to_device(device) }
    }
}

impl<const D: usize> RecordState for SgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "velocity", self.velocity.to_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        Some(Self { velocity: Tensor::from_data(src.take_tensor(prefix, "velocity")?, device) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::tests::{assert_close, steps};

    #[test]
    fn plain_sgd_steps_against_the_gradient() {
        // w = 1, g = 0.5, lr = 0.1: 1 − 0.05 = 0.95, then 0.9.
        let got = steps(Sgd { momentum: 0.0, nesterov: false }, 0.1, &[1.0], &[&[0.5], &[0.5]]);
        assert_close(&got, &[&[0.95], &[0.9]]);
    }

    #[test]
    fn momentum_accumulates_scaled_steps() {
        // m₁ = −0.05, w₁ = 0.95; m₂ = 0.9·(−0.05) − 0.05 = −0.095, w₂ = 0.855.
        let got = steps(Sgd { momentum: 0.9, nesterov: false }, 0.1, &[1.0], &[&[0.5], &[0.5]]);
        assert_close(&got, &[&[0.95], &[0.855]]);
        // Nesterov looks ahead: w₁ = 1 + 0.9·(−0.05) − 0.05 = 0.905; m₂ = −0.095,
        // w₂ = 0.905 + 0.9·(−0.095) − 0.05 = 0.7695.
        let got = steps(Sgd { momentum: 0.9, nesterov: true }, 0.1, &[1.0], &[&[0.5], &[0.5]]);
        assert_close(&got, &[&[0.905], &[0.7695]]);
    }
}
