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
use formats::config::AdadeltaConfig;

use super::host::{self, HostRule, Updated};
use crate::backend;

#[derive(Debug, Clone, Copy)]
pub struct Adadelta {
    pub rho: f64,
    pub epsilon: f64,
}

impl From<&AdadeltaConfig> for Adadelta {
    fn from(c: &AdadeltaConfig) -> Self {
        Self { rho: c.rho, epsilon: c.epsilon }
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
        let (accum_grad, accum_delta) = match state {
            Some(s) => (s.accum_grad, s.accum_delta),
            None => (grad.zeros_like(), grad.zeros_like()),
        };
        let state = AdadeltaState { accum_grad, accum_delta };
        if backend::is_host(&tensor.device()) {
            return self.step_host(lr, tensor, grad, state);
        }
        self.step_tensors(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdadeltaState {
            accum_grad: state.accum_grad.to_device(device),
            accum_delta: state.accum_delta.to_device(device),
        }
    }
}

impl Adadelta {
    /// The update as tensor ops: what accelerators run (they fuse or parallelise the chain).
    pub fn step_tensors<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: AdadeltaState<D>,
    ) -> (Tensor<D>, Option<AdadeltaState<D>>) {
        let (rho, eps) = (self.rho, self.epsilon);
        let AdadeltaState { accum_grad, accum_delta } = state;
        let accum_grad = accum_grad.mul_scalar(rho).add(grad.clone().square().mul_scalar(1.0 - rho));
        let delta = accum_delta.clone().add_scalar(eps).sqrt().div(accum_grad.clone().add_scalar(eps).sqrt()).mul(grad);
        let accum_delta = accum_delta.mul_scalar(rho).add(delta.clone().square().mul_scalar(1.0 - rho));
        (tensor.sub(delta.mul_scalar(lr)), Some(AdadeltaState { accum_grad, accum_delta }))
    }

    /// The same update as one pass over host memory, in place (see [`host`]).
    pub fn step_host<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: AdadeltaState<D>,
    ) -> (Tensor<D>, Option<AdadeltaState<D>>) {
        let rule = Rule { rho: self.rho as f32, eps: self.epsilon as f32, lr: lr as f32 };
        match host::update(&rule, tensor, grad, [state.accum_grad, state.accum_delta]) {
            Updated::Done(tensor, [accum_grad, accum_delta]) => {
                (tensor, Some(AdadeltaState { accum_grad, accum_delta }))
            }
            Updated::NotF32(tensor, grad, [accum_grad, accum_delta]) => {
                self.step_tensors(lr, tensor, grad, AdadeltaState { accum_grad, accum_delta })
            }
        }
    }
}

/// Keras' rule per element, in f32.
struct Rule {
    rho: f32,
    eps: f32,
    lr: f32,
}

impl HostRule<2> for Rule {
    /// No fused multiply-add, so every path rounds alike.
    #[inline(always)]
    fn apply(&self, w: &mut [f32], g: &[f32], [eg, ed]: [&mut [f32]; 2]) {
        let Rule { rho, eps, lr } = *self;
        for (((w, &g), eg), ed) in w.iter_mut().zip(g).zip(eg.iter_mut()).zip(ed.iter_mut()) {
            *eg = rho * *eg + (1.0 - rho) * g * g;
            // One square root of the ratio instead of two: the same value, half the work.
            let delta = ((*ed + eps) / (*eg + eps)).sqrt() * g;
            *ed = rho * *ed + (1.0 - rho) * delta * delta;
            *w -= lr * delta;
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

#[cfg(test)]
mod tests {
    use burn::tensor::{TensorData, Tolerance};

    use super::*;

    type Step = fn(&Adadelta, f64, Tensor<1>, Tensor<1>, AdadeltaState<1>) -> (Tensor<1>, Option<AdadeltaState<1>>);

    /// Both implementations: the trait's `step` picks the host loop on CPU backends.
    const PATHS: [(&str, Step); 2] = [("tensor ops", Adadelta::step_tensors), ("host loop", Adadelta::step_host)];

    #[test]
    fn adadelta_matches_hand_computed_steps() {
        // Reference computed in f64 with Keras' update rule (ρ = 0.95, ε = 1e-7, lr = 1):
        //   Eg ← ρEg + (1−ρ)g²;  Δ ← √(Ed+ε)/√(Eg+ε)·g;  Ed ← ρEd + (1−ρ)Δ²;  w ← w − lr·Δ
        // starting from w = [1, −2] with the three gradients below.
        let device = Device::default();
        let opt = Adadelta { rho: 0.95, epsilon: 1e-7 };
        let grads = [[0.5, -1.0], [0.25, 0.3], [-0.1, 0.2]];
        let expected = [[0.998585792, -1.998585788], [0.997672926, -1.999174135], [0.998073488, -1.999580607]];
        for (name, step) in PATHS {
            let mut w = Tensor::<1>::from_floats([1.0, -2.0], &device);
            let mut state = AdadeltaState { accum_grad: w.zeros_like(), accum_delta: w.zeros_like() };
            for (i, (g, want)) in grads.iter().zip(expected).enumerate() {
                let g = Tensor::<1>::from_floats(*g, &device);
                let (next, s) = step(&opt, 1.0, w, g, state);
                let got = next.to_data();
                assert!(
                    got.as_slice::<f32>().unwrap().iter().zip(want).all(|(a, b)| (*a as f64 - b).abs() < 1e-6),
                    "{name}, step {}: {got:?} vs {want:?}",
                    i + 1
                );
                (w, state) = (next, s.expect("state"));
            }
        }
    }

    #[test]
    fn adadelta_paths_agree_on_many_steps() {
        // The host loop and the tensor ops on 1 000 parameters over 50 steps of varied gradients.
        let device = Device::default();
        let opt = Adadelta { rho: 0.9, epsilon: 1e-6 };
        let n = 1000;
        let w0: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin()).collect();
        let mut runs = Vec::new();
        for (_, step) in PATHS {
            let mut w = Tensor::<1>::from_floats(w0.as_slice(), &device);
            let mut state = AdadeltaState { accum_grad: w.zeros_like(), accum_delta: w.zeros_like() };
            for t in 0..50 {
                let g: Vec<f32> =
                    (0..n).map(|i| ((i * 7 + t * 13) as f32 * 0.11).cos() * (1.0 + t as f32 / 10.0)).collect();
                let (next, s) = step(&opt, 0.5, w, Tensor::from_floats(g.as_slice(), &device), state);
                (w, state) = (next, s.expect("state"));
            }
            runs.push(w.to_data());
        }
        let moved = runs[0].as_slice::<f32>().unwrap().iter().zip(&w0).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(moved > 1e-3, "the parameters moved ({moved})");
        runs[0].assert_approx_eq::<f32>(&runs[1], Tolerance::absolute(1e-6));
    }

    #[test]
    fn adadelta_first_step_is_about_sqrt_eps() {
        // With empty accumulators the first step is √ε/√((1−ρ)g²+ε)·g ≈ √(ε/(1−ρ)) whatever g's
        // size: Adadelta's unit-correcting start. For g = 4: √(1e-7)/√(0.05·16 + 1e-7)·4.
        let device = Device::default();
        let opt = Adadelta { rho: 0.95, epsilon: 1e-7 };
        let (w, _) =
            opt.step(1.0, Tensor::<1>::from_floats([0.0], &device), Tensor::<1>::from_floats([4.0], &device), None);
        let want = -(1e-7f64).sqrt() / (0.05f64 * 16.0 + 1e-7).sqrt() * 4.0;
        w.to_data().assert_approx_eq::<f32>(&TensorData::from([want as f32]), Tolerance::absolute(1e-9));
    }
}
