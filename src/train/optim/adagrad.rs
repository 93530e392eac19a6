//! Adagrad (Duchi et al. 2011), as `keras.optimizers.Adagrad` computes it: every weight's step
//! shrinks with the squared gradients it has seen.
//!
//! ```text
//! A ← A + g²                  (A starts at initial_accumulator_value, 0.1 in Keras)
//! w ← w − lr·g / √(A + ε)
//! ```

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};
use formats::config::AdagradConfig;

#[derive(Debug, Clone, Copy)]
pub struct Adagrad {
    pub initial_accumulator_value: f64,
    pub epsilon: f64,
}

impl From<&AdagradConfig> for Adagrad {
    fn from(c: &AdagradConfig) -> Self {
        Self { initial_accumulator_value: c.initial_accumulator_value, epsilon: c.epsilon }
    }
}

/// The sum of squared gradients, per parameter tensor.
#[derive(Clone)]
pub struct AdagradState<const D: usize> {
    pub accumulator: Tensor<D>,
}

impl Optimizer for Adagrad {
    type State<const D: usize> = AdagradState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let accumulator = match state {
            Some(s) => s.accumulator,
            None => grad.full_like(self.initial_accumulator_value),
        };
        let accumulator = accumulator.add(grad.clone().square());
        let step = grad.mul_scalar(lr).div(accumulator.clone().add_scalar(self.epsilon).sqrt());
        (tensor.sub(step), Some(AdagradState { accumulator }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdagradState { accumulator: state.accumulator.to_device(device) }
    }
}

impl<const D: usize> RecordState for AdagradState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "accumulator", self.accumulator.to_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        Some(Self { accumulator: Tensor::from_data(src.take_tensor(prefix, "accumulator")?, device) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::tests::{assert_close, steps};

    #[test]
    fn steps_shrink_with_the_accumulated_squares() {
        // A₁ = 0.1 + 0.25 = 0.35, w₁ = 1 − 0.1·0.5/√0.35 = 0.91548;
        // A₂ = 0.6,  w₂ = w₁ − 0.05/√0.6 = 0.85093.
        let opt = Adagrad { initial_accumulator_value: 0.1, epsilon: 1e-7 };
        let w1 = 1.0 - 0.05 / (0.35f64 + 1e-7).sqrt();
        let w2 = w1 - 0.05 / (0.6f64 + 1e-7).sqrt();
        assert_close(&steps(opt, 0.1, &[1.0], &[&[0.5], &[0.5]]), &[&[w1], &[w2]]);
    }
}
