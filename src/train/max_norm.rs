//! Max-norm (Srivastava et al. 2014): after every optimizer step, each hidden unit's incoming
//! weight vector is scaled back onto the ball of radius c when it has left it. Large learning
//! rates and dropout's noisy steps then cannot blow the weights up.

use burn::tensor::Tensor;

use crate::model::Mlp;

/// `model` with every hidden layer that has a bound constrained to it; others untouched.
pub fn apply(mut model: Mlp) -> Mlp {
    if model.max_norms.iter().all(Option::is_none) {
        return model;
    }
    let bounds = model.max_norms.clone();
    model.layers = model
        .layers
        .into_iter()
        .enumerate()
        .map(|(i, mut layer)| {
            if let Some(c) = bounds.get(i).copied().flatten() {
                layer.weight = layer.weight.map(|w| constrain(w, c));
            }
            layer
        })
        .collect();
    model
}

/// `w` ([in, out], Burn's layout: one column per unit) with each column of Euclidean norm
/// above `c` scaled down to `c`. On an autodiff device the result is a fresh parameter with the
/// old one's autodiff settings, as an optimizer step leaves it.
pub fn constrain(w: Tensor<2>, c: f64) -> Tensor<2> {
    if !w.is_autodiff() {
        return scaled(w, c);
    }
    let (require_grad, strategy) = (w.is_require_grad(), w.gradient_checkpointing_strategy());
    let mut w = Tensor::from_inner(scaled(w.inner(), c));
    if let Some(s) = strategy {
        w = w.with_gradient_checkpointing_strategy(s);
    }
    if require_grad { w.require_grad() } else { w }
}

fn scaled(w: Tensor<2>, c: f64) -> Tensor<2> {
    let norms = w.clone().square().sum_dim(0).sqrt();
    // min(1, c/‖w‖); a zero column gives c/0 = ∞ → 1, and stays zero. A column whose norm is
    // not finite (its squares overflowed f32, or NaN) is left as it is: scaling it by c/∞ = 0
    // would hide the divergence that the learner's finite check is there to report.
    let diverged = norms.clone().is_finite().bool_not();
    let factor = norms.recip().mul_scalar(c).clamp_max(1.0).mask_fill(diverged, 1.0);
    w.mul(factor)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::data::Batch;
    use crate::train::{optim, train_step};
    use formats::config::{Activation, LayerConfig, ModelConfig, OptimizerConfig, Output, SgdConfig};

    fn column_norms(w: Tensor<2>) -> Vec<f32> {
        w.square().sum_dim(0).sqrt().into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn long_columns_are_scaled_to_c_and_short_ones_kept() {
        let device = Device::default();
        // Columns of norm 5 (3, 4), 0.5 (0.3, 0.4) and 0.
        let w = Tensor::<2>::from_data(TensorData::new(vec![3f32, 0.3, 0.0, 4.0, 0.4, 0.0], [2, 3]), &device);
        let out = constrain(w, 2.0).into_data().try_to_vec::<f32>().unwrap();
        let want = [1.2f32, 0.3, 0.0, 1.6, 0.4, 0.0];
        assert!(out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{out:?}");
    }

    #[test]
    fn a_column_whose_norm_overflows_is_left_for_the_divergence_check() {
        let device = Device::default();
        // Column 0's squares overflow f32 (norm ∞), column 1 holds ∞ itself, column 2 is scaled.
        let w =
            Tensor::<2>::from_data(TensorData::new(vec![3e30f32, f32::INFINITY, 3.0, 4e30, 0.0, 4.0], [2, 3]), &device);
        let out = constrain(w, 2.0).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&out[..2], [3e30, f32::INFINITY]);
        assert_eq!(&out[3..5], [4e30, 0.0]);
        assert!((out[2] - 1.2).abs() < 1e-6 && (out[5] - 1.6).abs() < 1e-6, "{out:?}");
    }

    fn model(max_norm: Option<f64>) -> ModelConfig {
        let layer = |units| LayerConfig { units, activation: Activation::Relu, dropout: 0.0, max_norm };
        let monster = crate::presets::resolve("monster").unwrap().1.model;
        ModelConfig { hidden: vec![layer(16), layer(8)], output: Output::Softmax, ..monster }
    }

    /// Every parameter set to fixed values (drawn from no generator, which tests running beside
    /// this one also draw from).
    struct Fixed;

    impl burn::module::ModuleMapper for Fixed {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            param.map(|t| {
                let (shape, device, grad) = (t.shape(), t.device(), t.is_require_grad());
                // Glorot's range for a weight matrix [in, out]; biases zero.
                let dims = t.dims();
                let limit = if D == 2 { (6.0 / (dims[0] + dims[D - 1]) as f32).sqrt() } else { 0.0 };
                let values =
                    (0..shape.num_elements()).map(|i| limit * (((i * 7919) % 1001) as f32 / 500.0 - 1.0)).collect();
                let fixed = Tensor::from_data(TensorData::new(values, shape), &device);
                if grad { fixed.require_grad() } else { fixed }
            })
        }
    }

    /// One `train_step` of SGD at learning rate `lr` on a fixed batch from a fixed start.
    fn step(cfg: &ModelConfig, lr: f64) -> Mlp {
        use burn::module::Module;
        let device = Device::default().autodiff();
        let model = Mlp::new(cfg, &device).map(&mut Fixed);
        let pixels = (0..4 * 784).map(|i| (i % 17) as f32 / 17.0).collect();
        let labels = vec![1i64, 3, 5, 7];
        let one_hot = (0..40).map(|i| (labels[i / 10] == (i % 10) as i64) as u8 as f32).collect();
        let batch = Batch {
            images: Tensor::from_data(TensorData::new(pixels, [4, 784]), &device),
            targets: Tensor::from_data(TensorData::new(one_hot, [4, 10]), &device),
            labels: Tensor::from_data(TensorData::new(labels, [4]), &device),
        };
        let train = crate::presets::resolve("monster").unwrap().1.train;
        let mut sgd = optim::build(&OptimizerConfig::Sgd(SgdConfig::default()));
        train_step(model, &mut sgd, batch, &train, cfg.output, lr, false).0
    }

    #[test]
    fn after_a_step_every_hidden_unit_is_within_c_and_the_output_layer_is_free() {
        let free = step(&model(None), 5.0);
        let norms: Vec<f32> = free.layers.iter().flat_map(|l| column_norms(l.weight.val())).collect();
        assert!(norms.iter().any(|&n| n > 1.0), "the unconstrained step makes some norm exceed 1: {norms:?}");
        let bounded = step(&model(Some(1.0)), 5.0);
        for layer in &bounded.layers[..2] {
            let norms = column_norms(layer.weight.val().inner());
            assert!(norms.iter().all(|&n| n <= 1.0 + 1e-5), "{norms:?}");
        }
        // Parameters stay trainable after the constraint, and the output layer is not bounded.
        assert!(bounded.layers[0].weight.val().is_require_grad());
        let output = column_norms(bounded.layers[2].weight.val());
        assert_eq!(output, column_norms(free.layers[2].weight.val()));
        assert!(output.iter().any(|&n| n > 1.0), "{output:?}");
    }

    #[test]
    fn a_bound_that_is_never_reached_changes_nothing() {
        let (free, loose) = (step(&model(None), 0.1), step(&model(Some(1e6)), 0.1));
        for (a, b) in free.layers.iter().zip(&loose.layers) {
            assert_eq!(a.weight.val().into_data(), b.weight.val().into_data());
        }
    }
}
