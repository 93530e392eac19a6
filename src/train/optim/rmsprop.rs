//! RMSprop (Hinton 2012), as `keras.optimizers.RMSprop` computes it: each step divided by a
//! moving root mean square of the gradients.
//!
//! ```text
//! v ← ρ·v + (1−ρ)·g²
//! centered:  a ← ρ·a + (1−ρ)·g;  d = v − a² + ε      else  d = v + ε
//! s = lr·g / √d
//! momentum:  m ← μ·m + s;  w ← w − m                  else  w ← w − s
//! ```
//! ε sits inside the square root, as in Keras (PyTorch adds it outside).

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};
use formats::config::RmspropConfig;

#[derive(Debug, Clone, Copy)]
pub struct Rmsprop {
    pub rho: f64,
    pub momentum: f64,
    pub epsilon: f64,
    pub centered: bool,
}

impl From<&RmspropConfig> for Rmsprop {
    fn from(c: &RmspropConfig) -> Self {
        Self { rho: c.rho, momentum: c.momentum, epsilon: c.epsilon, centered: c.centered }
    }
}

/// Per parameter tensor: the mean square, and the mean (centered) and velocity (momentum).
#[derive(Clone)]
pub struct RmspropState<const D: usize> {
    pub mean_square: Tensor<D>,
    pub mean: Option<Tensor<D>>,
    pub velocity: Option<Tensor<D>>,
}

impl Optimizer for Rmsprop {
    type State<const D: usize> = RmspropState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let rho = self.rho;
        let zeros = || grad.zeros_like();
        let state = state.unwrap_or_else(|| RmspropState {
            mean_square: zeros(),
            mean: self.centered.then(zeros),
            velocity: (self.momentum > 0.0).then(zeros),
        });
        let mean_square = state.mean_square.mul_scalar(rho).add(grad.clone().square().mul_scalar(1.0 - rho));
        let mean = state.mean.map(|a| a.mul_scalar(rho).add(grad.clone().mul_scalar(1.0 - rho)));
        let denominator = match &mean {
            Some(a) => mean_square.clone().sub(a.clone().square()).add_scalar(self.epsilon),
            None => mean_square.clone().add_scalar(self.epsilon),
        };
        let step = grad.mul_scalar(lr).div(denominator.sqrt());
        let velocity = state.velocity.map(|m| m.mul_scalar(self.momentum).add(step.clone()));
        let tensor = tensor.sub(velocity.clone().unwrap_or(step));
        (tensor, Some(RmspropState { mean_square, mean, velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        RmspropState {
            mean_square: state.mean_square.to_device(device),
            mean: state.mean.map(|t| t.to_device(device)),
            velocity: state.velocity.map(|t| t.to_device(device)),
        }
    }
}

impl<const D: usize> RecordState for RmspropState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "mean_square", self.mean_square.to_data());
        for (name, t) in [("mean", &self.mean), ("velocity", &self.velocity)] {
            if let Some(t) = t {
                out.push_tensor(prefix, name, t.to_data());
            }
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let mut take = |name| src.take_tensor(prefix, name).map(|t| Tensor::from_data(t, device));
        Some(Self { mean_square: take("mean_square")?, mean: take("mean"), velocity: take("velocity") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::tests::{assert_close, steps};

    #[test]
    fn steps_are_scaled_by_the_root_mean_square() {
        // v₁ = 0.1·0.25 = 0.025, w₁ = 1 − 0.01·0.5/√(0.025 + ε); v₂ = 0.0475, w₂ = w₁ − 0.005/√(0.0475 + ε).
        let eps = 1e-7;
        let plain = Rmsprop { rho: 0.9, momentum: 0.0, epsilon: eps, centered: false };
        let w1 = 1.0 - 0.005 / (0.025f64 + eps).sqrt();
        let w2 = w1 - 0.005 / (0.0475f64 + eps).sqrt();
        assert_close(&steps(plain, 0.01, &[1.0], &[&[0.5], &[0.5]]), &[&[w1], &[w2]]);
    }

    #[test]
    fn centered_and_momentum_follow_keras() {
        let eps = 1e-7;
        // Centered: a₁ = 0.05, d₁ = 0.025 − 0.0025 + ε; a₂ = 0.095, d₂ = 0.0475 − 0.009025 + ε.
        let centered = Rmsprop { rho: 0.9, momentum: 0.0, epsilon: eps, centered: true };
        let w1 = 1.0 - 0.005 / (0.0225f64 + eps).sqrt();
        let w2 = w1 - 0.005 / (0.038475f64 + eps).sqrt();
        assert_close(&steps(centered, 0.01, &[1.0], &[&[0.5], &[0.5]]), &[&[w1], &[w2]]);
        // Momentum 0.5: m₁ = s₁, m₂ = 0.5·s₁ + s₂.
        let momentum = Rmsprop { rho: 0.9, momentum: 0.5, epsilon: eps, centered: false };
        let (s1, s2) = (0.005 / (0.025f64 + eps).sqrt(), 0.005 / (0.0475f64 + eps).sqrt());
        assert_close(&steps(momentum, 0.01, &[1.0], &[&[0.5], &[0.5]]), &[&[1.0 - s1], &[1.0 - s1 - (0.5 * s1 + s2)]]);
    }
}
