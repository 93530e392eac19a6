//! Adam (Kingma & Ba 2015), as `keras.optimizers.Adam` computes it: momentum on the gradient,
//! RMSprop-style scaling, both corrected for starting at zero.
//!
//! ```text
//! t ← t + 1
//! m ← m + (1−β₁)·(g − m)
//! v ← v + (1−β₂)·(g² − v)              amsgrad: v̂ ← max(v̂, v), used instead of v
//! w ← w − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε)
//! ```
//! The bias correction is folded into the step size, so ε is added to the uncorrected √v
//! ("ε-hat" in the paper), as in Keras (PyTorch adds ε to the corrected one).

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};
use formats::config::AdamConfig;

use super::host::{self, HostRule, Updated};
use crate::backend;

#[derive(Debug, Clone, Copy)]
pub struct Adam {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
    pub amsgrad: bool,
}

impl From<&AdamConfig> for Adam {
    fn from(c: &AdamConfig) -> Self {
        Self { beta_1: c.beta_1, beta_2: c.beta_2, epsilon: c.epsilon, amsgrad: c.amsgrad }
    }
}

/// Per parameter tensor: the step count and both moments (and the largest v, for AMSGrad).
#[derive(Clone)]
pub struct AdamState<const D: usize> {
    pub step: u64,
    pub m: Tensor<D>,
    pub v: Tensor<D>,
    pub v_max: Option<Tensor<D>>,
}

impl Optimizer for Adam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let state = state.unwrap_or_else(|| AdamState {
            step: 0,
            m: grad.zeros_like(),
            v: grad.zeros_like(),
            v_max: self.amsgrad.then(|| grad.zeros_like()),
        });
        if backend::is_host(&tensor.device()) {
            return self.step_host(lr, tensor, grad, state);
        }
        self.step_tensors(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamState {
            step: state.step,
            m: state.m.to_device(device),
            v: state.v.to_device(device),
            v_max: state.v_max.map(|t| t.to_device(device)),
        }
    }
}

impl Adam {
    /// The step size with both bias corrections folded in, for step `t` (1-based).
    fn alpha(&self, lr: LearningRate, t: u64) -> f64 {
        let t = t as f64;
        lr * (1.0 - self.beta_2.powf(t)).sqrt() / (1.0 - self.beta_1.powf(t))
    }

    /// The update as tensor ops: what accelerators run.
    pub fn step_tensors<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: AdamState<D>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let (b1, b2) = (self.beta_1, self.beta_2);
        let step = state.step + 1;
        let alpha = self.alpha(lr, step);
        let m = state.m.clone().add(grad.clone().sub(state.m).mul_scalar(1.0 - b1));
        let v = state.v.clone().add(grad.square().sub(state.v).mul_scalar(1.0 - b2));
        let v_max = state.v_max.map(|vm| vm.max_pair(v.clone()));
        let denominator = v_max.clone().unwrap_or_else(|| v.clone()).sqrt().add_scalar(self.epsilon);
        let tensor = tensor.sub(m.clone().mul_scalar(alpha).div(denominator));
        (tensor, Some(AdamState { step, m, v, v_max }))
    }

    /// The same update as one pass over host memory, in place (see [`host`]).
    pub fn step_host<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: AdamState<D>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let step = state.step + 1;
        let rule = Rule {
            one_minus_b1: (1.0 - self.beta_1) as f32,
            one_minus_b2: (1.0 - self.beta_2) as f32,
            alpha: self.alpha(lr, step) as f32,
            eps: self.epsilon as f32,
        };
        let AdamState { m, v, v_max, .. } = state;
        let back = |done: bool, tensor, grad, m, v, v_max| match done {
            true => (tensor, Some(AdamState { step, m, v, v_max })),
            false => self.step_tensors(lr, tensor, grad, AdamState { step: step - 1, m, v, v_max }),
        };
        match v_max {
            Some(vm) => match host::update(&rule, tensor, grad.clone(), [m, v, vm]) {
                Updated::Done(t, [m, v, vm]) => back(true, t, grad, m, v, Some(vm)),
                Updated::NotF32(t, g, [m, v, vm]) => back(false, t, g, m, v, Some(vm)),
            },
            None => match host::update(&rule, tensor, grad.clone(), [m, v]) {
                Updated::Done(t, [m, v]) => back(true, t, grad, m, v, None),
                Updated::NotF32(t, g, [m, v]) => back(false, t, g, m, v, None),
            },
        }
    }
}

/// Keras' rule per element, in f32, in the tensor ops' order.
struct Rule {
    one_minus_b1: f32,
    one_minus_b2: f32,
    alpha: f32,
    eps: f32,
}

impl Rule {
    #[inline(always)]
    fn moments(&self, g: f32, m: &mut f32, v: &mut f32) {
        *m += (g - *m) * self.one_minus_b1;
        *v += (g * g - *v) * self.one_minus_b2;
    }
}

impl HostRule<2> for Rule {
    #[inline(always)]
    fn apply(&self, w: &mut [f32], g: &[f32], [m, v]: [&mut [f32]; 2]) {
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            self.moments(g, m, v);
            *w -= *m * self.alpha / (v.sqrt() + self.eps);
        }
    }
}

impl HostRule<3> for Rule {
    #[inline(always)]
    fn apply(&self, w: &mut [f32], g: &[f32], [m, v, v_max]: [&mut [f32]; 3]) {
        for ((((w, &g), m), v), vm) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()).zip(v_max.iter_mut()) {
            self.moments(g, m, v);
            *vm = vm.max(*v);
            *w -= *m * self.alpha / (vm.sqrt() + self.eps);
        }
    }
}

impl<const D: usize> RecordState for AdamState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_scalar(prefix, "step", self.step.into());
        out.push_tensor(prefix, "m", self.m.to_data());
        out.push_tensor(prefix, "v", self.v.to_data());
        if let Some(v_max) = &self.v_max {
            out.push_tensor(prefix, "v_max", v_max.to_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let step = u64::try_from(src.take_scalar(prefix, "step")?).ok()?;
        let mut take = |name| src.take_tensor(prefix, name).map(|t| Tensor::from_data(t, device));
        Some(Self { step, m: take("m")?, v: take("v")?, v_max: take("v_max") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::tests::{assert_close, steps};

    #[test]
    fn bias_corrected_steps_with_epsilon_hat() {
        // t=1: m = 0.05, v = 0.00025, α = 0.001·√0.001/0.1; t=2 (g = −0.5): m = −0.005, v = 0.00049975.
        let eps = 1e-7;
        let adam = Adam { beta_1: 0.9, beta_2: 0.999, epsilon: eps, amsgrad: false };
        let a1 = 0.001 * (1.0 - 0.999f64).sqrt() / (1.0 - 0.9);
        let w1 = 1.0 - a1 * 0.05 / (0.00025f64.sqrt() + eps);
        let a2 = 0.001 * (1.0 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.9f64.powi(2));
        let w2 = w1 - a2 * -0.005 / (0.00049975f64.sqrt() + eps);
        assert_close(&steps(adam, 0.001, &[1.0], &[&[0.5], &[-0.5]]), &[&[w1], &[w2]]);
    }

    #[test]
    fn amsgrad_divides_by_the_largest_second_moment() {
        // g = 1 then 0: v falls from 0.001 to 0.000999, v̂ stays at 0.001.
        let eps = 1e-7;
        let adam = Adam { beta_1: 0.9, beta_2: 0.999, epsilon: eps, amsgrad: true };
        let a1 = 0.01 * (1.0 - 0.999f64).sqrt() / 0.1;
        let w1 = 1.0 - a1 * 0.1 / (0.001f64.sqrt() + eps);
        let a2 = 0.01 * (1.0 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.81);
        let w2 = w1 - a2 * 0.09 / (0.001f64.sqrt() + eps);
        assert_close(&steps(adam, 0.01, &[1.0], &[&[1.0], &[0.0]]), &[&[w1], &[w2]]);
    }

    #[test]
    fn host_loop_and_tensor_ops_agree_on_many_steps() {
        // 1 000 parameters, 60 steps of gradients that grow then shrink (so AMSGrad's v̂ matters).
        let device = Device::default();
        let n = 1000;
        let w0: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin()).collect();
        for amsgrad in [false, true] {
            let adam = Adam { beta_1: 0.9, beta_2: 0.99, epsilon: 1e-7, amsgrad };
            let mut runs = Vec::new();
            for path in [Adam::step_tensors::<1>, Adam::step_host::<1>] {
                let mut w = Tensor::<1>::from_floats(w0.as_slice(), &device);
                let mut state = AdamState { step: 0, m: w.zeros_like(), v: w.zeros_like(), v_max: None };
                state.v_max = amsgrad.then(|| w.zeros_like());
                for t in 0..60 {
                    let scale = if t < 30 { 1.0 + t as f32 / 5.0 } else { 0.2 };
                    let g: Vec<f32> = (0..n).map(|i| ((i * 7 + t * 13) as f32 * 0.11).cos() * scale).collect();
                    let (next, s) = path(&adam, 0.01, w, Tensor::from_floats(g.as_slice(), &device), state);
                    (w, state) = (next, s.expect("state"));
                }
                assert_eq!(state.step, 60);
                runs.push(w.to_data());
            }
            let moved =
                runs[0].as_slice::<f32>().unwrap().iter().zip(&w0).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(moved > 0.01, "amsgrad {amsgrad}: the parameters moved ({moved})");
            runs[0].assert_approx_eq::<f32>(&runs[1], burn::tensor::Tolerance::absolute(1e-5));
        }
    }
}
