//! The lecture's optimizers (step 5), one file each with its rule written as Keras computes it
//! and its hand-computed steps beside it, on Burn's `Optimizer` trait. Burn ships SGD, Adagrad,
//! RMSprop and Adam with PyTorch's definitions (ε placement, the accumulator's start, where the
//! learning rate enters the momentum), and no Adadelta; students compare with Keras.

pub mod adadelta;
pub mod adagrad;
pub mod adam;
mod host;
pub mod rmsprop;
pub mod sgd;

use burn::optim::ModuleOptimizer;
use formats::config::OptimizerConfig;

pub use adadelta::{Adadelta, AdadeltaState};
pub use adagrad::Adagrad;
pub use adam::Adam;
pub use rmsprop::Rmsprop;
pub use sgd::Sgd;

/// The optimizer a config names, ready to step a whole module.
pub fn build(cfg: &OptimizerConfig) -> ModuleOptimizer {
    match cfg {
        OptimizerConfig::Sgd(c) => ModuleOptimizer::from(Sgd::from(c)),
        OptimizerConfig::Adagrad(c) => ModuleOptimizer::from(Adagrad::from(c)),
        OptimizerConfig::Rmsprop(c) => ModuleOptimizer::from(Rmsprop::from(c)),
        OptimizerConfig::Adam(c) => ModuleOptimizer::from(Adam::from(c)),
        OptimizerConfig::Adadelta(c) => ModuleOptimizer::from(Adadelta::from(c)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use burn::optim::Optimizer;
    use burn::tensor::{Device, Tensor};

    /// Run `opt` from `w0` through one step per gradient; the weights after each step.
    pub fn steps<O: Optimizer>(opt: O, lr: f64, w0: &[f32], grads: &[&[f32]]) -> Vec<Vec<f32>> {
        let device = Device::default();
        let mut w = Tensor::<1>::from_floats(w0, &device);
        let mut state = None;
        let mut out = Vec::new();
        for g in grads {
            let (next, s) = opt.step(lr, w, Tensor::from_floats(*g, &device), state);
            out.push(next.to_data().try_to_vec::<f32>().unwrap());
            (w, state) = (next, s);
        }
        out
    }

    /// Each step's weights within f32 rounding of the f64 reference.
    pub fn assert_close(got: &[Vec<f32>], want: &[&[f64]]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            for (a, b) in g.iter().zip(w.iter()) {
                assert!((*a as f64 - b).abs() <= 1e-6 * b.abs().max(1.0), "step {}: {g:?} vs {w:?}", i + 1);
            }
        }
    }
}
