//! The fully connected layer on Burn's CPU backend (flex) as one operation, forward and backward.
//!
//! Built from Burn's tensor ops, a layer is a matrix product, a bias addition, an activation and
//! a dropout mask, and its backward two masks, a sum and two more products: each a pass over
//! memory into a fresh buffer, each product split across the cores by the `gemm` crate after the
//! calling thread has packed its operand alone. Here the products are split by output columns
//! instead, one `gemm` on each core with nothing shared, and the bias, ReLU, dropout (its mask
//! drawn in place, see dropout.rs), their backward masks and the bias gradient are done by the
//! core that computed those columns, while they are in its cache. Burn has no fused CPU layer to
//! call, so this is a backend extension (Burn's `#[backend_extension]`) with its own backward
//! pass; other backends, dtypes and activations keep Burn's `Linear` and `Dropout`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::nn::Linear;
use burn::tensor::{DType, Tensor, TensorData};

use super::dropout;

#[backend_extension(Flex, Autodiff)]
pub trait DenseBackend: Backend {
    /// x·w + b, then ReLU when `relu`, then dropout keeping a share `keep` of the units with the
    /// mask drawn from `key` (keep = 1: none); x is [batch, in], w [in, out] (Burn's layout), b [out].
    fn dense(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        relu: bool,
        keep: f64,
        key: u64,
    ) -> FloatTensor<Self>;
}

/// `layer` applied to `x`, followed by ReLU when `relu` and then by dropout keeping a share
/// `keep` of the units (1: none; below 1 only after ReLU); `None` where this path does not apply
/// (another backend, another dtype, a layer without bias): the caller uses Burn's `Linear`.
pub fn forward(layer: &Linear, x: &Tensor<2>, relu: bool, keep: f64) -> Option<Tensor<2>> {
    let bias = layer.bias.as_ref()?;
    let flex = matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_));
    if !flex || x.dtype() != DType::F32 || layer.weight.val().dtype() != DType::F32 || (keep < 1.0 && !relu) {
        return None;
    }
    let key = if keep < 1.0 { crate::random::next_key() } else { 0 };
    let (x, w, b) = (x.clone().into_dispatch(), layer.weight.val().into_dispatch(), bias.val().into_dispatch());
    Some(Tensor::from_dispatch(<Dispatch as DenseBackend>::dense(x, w, b, relu, keep, key)))
}

impl DenseBackend for Flex {
    fn dense(x: FlexTensor, w: FlexTensor, b: FlexTensor, relu: bool, keep: f64, key: u64) -> FlexTensor {
        host::forward(&x, &w, &b, host::Epilogue::new(relu, keep, key))
    }
}

impl<C: CheckpointStrategy> DenseBackend for Autodiff<Flex, C> {
    fn dense(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        relu: bool,
        keep: f64,
        key: u64,
    ) -> FloatTensor<Self> {
        let (xp, wp) = (x.primitive().clone(), w.primitive().clone());
        let y = host::forward(&xp, &wp, b.primitive(), host::Epilogue::new(relu, keep, key));
        match DenseStep.prepare::<C>([x.node(), w.node(), b.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                // Holding the tensors (reference-counted, not copied) is cheaper than asking
                // the checkpointer for them. A unit passed the gradient on where its output is
                // above zero: active under ReLU and kept by dropout.
                let state = DenseState { x: xp, w: wp, y: relu.then(|| y.clone()), scale: (1.0 / keep) as f32 };
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

#[derive(Debug)]
struct DenseStep;

#[derive(Clone, Debug)]
struct DenseState {
    x: FlexTensor,
    w: FlexTensor,
    /// The layer's output, for ReLU's and dropout's mask; `None` without ReLU.
    y: Option<FlexTensor>,
    /// Dropout's 1/keep (1 without dropout).
    scale: f32,
}

impl Backward<Flex, 3> for DenseStep {
    type State = DenseState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, w_node, b_node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let g = host::backward(&s.x, &s.w, s.y.as_ref(), s.scale, &dy, x_node.is_some());
        if let (Some(node), Some(dx)) = (x_node, g.dx) {
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = w_node {
            grads.register::<Flex>(node.id, g.dw);
        }
        if let Some(node) = b_node {
            grads.register::<Flex>(node.id, g.db);
        }
    }
}

/// The arithmetic on host memory.
mod host;

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    use super::*;

    /// The fused layer against Burn's own ops (with dropout: the same mask, applied by a
    /// multiplication), output and every gradient, for shapes that are split across threads
    /// (and a column count that is no multiple of the block) and ones that are not.
    #[test]
    fn matches_burns_linear_relu_and_dropout_forward_and_backward() {
        let device = Device::flex().autodiff();
        let inner = device.clone().inner();
        for (m, k, n) in [(128, 784, 300), (7, 33, 10), (64, 512, 512)] {
            for (relu, keep) in [(true, 1.0), (false, 1.0), (true, 0.8)] {
                let layer = LinearConfig::new(k, n).init(&device);
                let bias = layer.bias.as_ref().unwrap().val().inner().random_like(Distribution::Normal(0.0, 0.5));
                let layer = Linear { bias: Some(burn::module::Param::from_tensor(Tensor::from_inner(bias))), ..layer };
                let x = Tensor::<2>::random([m, k], Distribution::Normal(0.0, 1.0), &inner);
                let r = Tensor::<2>::random([m, n], Distribution::Normal(0.0, 1.0), &inner);
                let run = |fused: bool| {
                    crate::random::seed(7);
                    let x = Tensor::<2>::from_inner(x.clone()).require_grad();
                    let y = if fused {
                        forward(&layer, &x, relu, keep).expect("flex, f32, with bias")
                    } else {
                        let y = layer.forward(x.clone());
                        let y = if relu { burn::tensor::activation::relu(y) } else { y };
                        let (key, threshold) = (crate::random::next_key(), dropout::threshold(keep));
                        let mask: Vec<f32> = (0..(m * n) as u64)
                            .map(|i| {
                                if keep < 1.0 && !dropout::kept(key, i, threshold) { 0.0 } else { (1.0 / keep) as f32 }
                            })
                            .collect();
                        y * Tensor::<2>::from_data(TensorData::new(mask, [m, n]), &inner)
                    };
                    let grads = (y.clone() * Tensor::from_inner(r.clone())).sum().backward();
                    let g = |t: Tensor<2>| t.grad(&grads).expect("a gradient");
                    let db = layer.bias.as_ref().unwrap().val().grad(&grads).expect("a bias gradient");
                    (y.inner(), g(x), g(layer.weight.val()), db.unsqueeze::<2>())
                };
                let (a, b) = (run(true), run(false));
                let dropped = b.0.clone().equal_elem(0.0).int().sum().into_scalar::<i64>() as f64 / (m * n) as f64;
                if keep < 1.0 {
                    assert!(dropped > 0.1, "dropout zeroed {dropped} of the outputs");
                }
                for (what, p, q) in [("y", a.0, b.0), ("dx", a.1, b.1), ("dw", a.2, b.2), ("db", a.3, b.3)] {
                    let scale = q.clone().abs().max().into_scalar::<f32>() + 1.0;
                    let err = (p - q).abs().max().into_scalar::<f32>() / scale;
                    assert!(err < 1e-5, "{what} differs by {err} ({m}×{k}→{n}, relu {relu}, keep {keep})");
                }
            }
        }
    }

    #[test]
    fn fused_dropout_keeps_the_right_share_scaled() {
        let device = Device::flex().autodiff();
        let (m, k, n, keep) = (256, 64, 400, 0.7);
        let layer = LinearConfig::new(k, n).init(&device);
        let layer = Linear { bias: Some(burn::module::Param::from_tensor(Tensor::ones([n], &device))), ..layer };
        // Zero inputs: every unit outputs its bias, 1, before dropout.
        let y = forward(&layer, &Tensor::zeros([m, k], &device), true, keep).unwrap();
        let y = y.into_data().try_to_vec::<f32>().unwrap();
        let kept = y.iter().filter(|v| **v != 0.0).count() as f64 / y.len() as f64;
        assert!((kept - keep).abs() < 0.01, "kept {kept}, not {keep}");
        assert!(y.iter().all(|v| *v == 0.0 || (*v - 1.0 / keep as f32).abs() < 1e-6));
    }

    #[test]
    fn forward_without_autodiff_and_nan_survives_relu() {
        let device = Device::flex();
        let layer = LinearConfig::new(3, 2).init(&device);
        let x = Tensor::<2>::from_floats([[f32::NAN, 0.0, 0.0], [-1e6, -1e6, -1e6]], &device);
        let y = forward(&layer, &x, true, 1.0).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(y[0].is_nan() && y[1].is_nan(), "NaN in, NaN out: {y:?}");
        assert!(y[2..].iter().all(|v| *v >= 0.0));
    }
}
