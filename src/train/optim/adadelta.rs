//! Adadelta (Zeiler 2012), as Keras computes it; Burn has none.
//!
//! ```text
//! E[g²] ← ρ·E[g²] + (1−ρ)·g²
//! Δ     ← √(E[Δ²] + ε) / √(E[g²] + ε) · g
//! E[Δ²] ← ρ·E[Δ²] + (1−ρ)·Δ²
//! w     ← w − lr·Δ
//! ```

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct Adadelta {
    pub rho: f64,
    pub epsilon: f64,
}

impl Default for Adadelta {
    /// Keras' defaults.
    fn default() -> Self {
        Self { rho: 0.95, epsilon: 1e-7 }
    }
}

/// The two running averages, per parameter tensor.
#[derive(Clone)]
pub struct AdadeltaState<const D: usize> {
    pub accum_grad: Tensor<D>,
    pub accum_delta: Tensor<D>,
}

impl Optimizer for Adadelta {
    type State<const D: usize> = AdadeltaState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (rho, eps) = (self.rho, self.epsilon);
        let (accum_grad, accum_delta) = match state {
            Some(s) => (s.accum_grad, s.accum_delta),
            None => (grad.zeros_like(), grad.zeros_like()),
        };
        let accum_grad = accum_grad.mul_scalar(rho).add(grad.clone().square().mul_scalar(1.0 - rho));
        let delta = accum_delta
            .clone()
            .add_scalar(eps)
            .sqrt()
            .div(accum_grad.clone().add_scalar(eps).sqrt())
            .mul(grad);
        let accum_delta = accum_delta.mul_scalar(rho).add(delta.clone().square().mul_scalar(1.0 - rho));
        (tensor.sub(delta.mul_scalar(lr)), Some(AdadeltaState { accum_grad, accum_delta }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdadeltaState {
            accum_grad: state.accum_grad.to_device(device),
            accum_delta: state.accum_delta.to_device(device),
        }
    }
}

/// Written by hand: Burn's `#[derive(RecordState)]` only works inside burn-optim.
impl<const D: usize> RecordState for AdadeltaState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "accum_grad", self.accum_grad.to_data());
        out.push_tensor(prefix, "accum_delta", self.accum_delta.to_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let accum_grad = src.take_tensor(prefix, "accum_grad")?;
        let accum_delta = src.take_tensor(prefix, "accum_delta")?;
        Some(Self {
            accum_grad: Tensor::from_data(accum_grad, device),
            accum_delta: Tensor::from_data(accum_delta, device),
        })
    }
}
