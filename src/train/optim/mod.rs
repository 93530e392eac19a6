//! Config → optimizer. Burn's SGD, Adagrad, RMSprop and Adam with Keras' defaults, and our own
//! Adadelta on Burn's `Optimizer` trait.

pub mod adadelta;

use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdaGradConfig, AdamConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

pub use adadelta::{Adadelta, AdadeltaState};

use crate::config::{OptimizerConfig, OptimizerKind};

/// Keras' ε (Burn's own default is 1e-5).
const KERAS_EPSILON: f64 = 1e-7;

pub fn build(cfg: &OptimizerConfig) -> ModuleOptimizer {
    let eps = cfg.epsilon.unwrap_or(KERAS_EPSILON);
    match cfg.name {
        OptimizerKind::Sgd => {
            let mut sgd = SgdConfig::new();
            if cfg.momentum > 0.0 {
                // Keras' momentum has no dampening; Burn's default dampening is 0.1.
                sgd = sgd.with_momentum(Some(
                    MomentumConfig::new().with_momentum(cfg.momentum).with_dampening(0.0).with_nesterov(cfg.nesterov),
                ));
            }
            sgd.init()
        }
        OptimizerKind::Adagrad => AdaGradConfig::new().with_epsilon(eps as f32).init(),
        OptimizerKind::Rmsprop => RmsPropConfig::new()
            .with_alpha(cfg.rho.unwrap_or(0.9) as f32)
            .with_momentum(cfg.momentum as f32)
            .with_epsilon(eps as f32)
            .init(),
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(cfg.beta_1.unwrap_or(0.9) as f32)
            .with_beta_2(cfg.beta_2.unwrap_or(0.999) as f32)
            .with_epsilon(eps as f32)
            .init(),
        OptimizerKind::Adadelta => ModuleOptimizer::from(Adadelta { rho: cfg.rho.unwrap_or(0.95), epsilon: eps }),
    }
}
