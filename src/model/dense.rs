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
use rayon::prelude::*;

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
    let key = if keep < 1.0 { dropout::next_key() } else { 0 };
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
mod host {
    use super::*;

    /// Products smaller than this (m·n·k) run on one thread, as flex decides for its own.
    const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;
    /// Column blocks are multiples of this: an AVX-512 register of f32.
    const LANES: usize = 16;
    /// The narrowest block: each block's product packs the whole left operand again, so on a
    /// many-core machine thinner blocks would cost more than the cores they add.
    const MIN_BLOCK: usize = 64;

    pub struct Grads {
        pub dx: Option<FlexTensor>,
        pub dw: FlexTensor,
        pub db: FlexTensor,
    }

    pub fn forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, epilogue: Epilogue) -> FlexTensor {
        let (x, w, b) = (contiguous(x), contiguous(w), contiguous(b));
        let ([m, k], [_, n]) = (dims(&x), dims(&w));
        let (x, w, b) = (f32s(&x), f32s(&w), f32s(&b));
        let mut y = vec![0.0f32; m * n];
        let out = Ptr(y.as_mut_ptr());
        by_columns(m * n * k, n, |j0, j1| {
            // SAFETY: x is m×k, w k×n and y m×n, all row-major; this call writes columns
            // j0..j1 of y only, and every other call other columns.
            unsafe {
                product(m, j1 - j0, k, out.at(j0), n, x.as_ptr(), k as isize, 1, w.as_ptr().add(j0), n as isize, 1);
            }
            for i in 0..m {
                // SAFETY: row i's columns j0..j1 of y, written by this call alone.
                let row = unsafe { std::slice::from_raw_parts_mut(out.at(i * n + j0), j1 - j0) };
                epilogue.apply(row, &b[j0..j1], (i * n + j0) as u64);
            }
        });
        FlexTensor::from_data(TensorData::new(y, [m, n]))
    }

    /// The gradients of x (when `need_dx`), w and b, from the output's gradient `dy`; `y` is
    /// the layer's output when it ended in ReLU (and dropout, which scaled the kept units by
    /// `scale`).
    pub fn backward(
        x: &FlexTensor,
        w: &FlexTensor,
        y: Option<&FlexTensor>,
        scale: f32,
        dy: &FlexTensor,
        need_dx: bool,
    ) -> Grads {
        let (x, w, dy) = (contiguous(x), contiguous(w), contiguous(dy));
        let ([m, k], [_, n]) = (dims(&x), dims(&w));
        let (xs, ws, dys) = (f32s(&x), f32s(&w), f32s(&dy));
        let y = y.map(contiguous);
        let ys = y.as_ref().map(f32s);
        // δ = dy·scale where the unit passed its input on (active, kept), else dy itself.
        let mut masked = ys.map(|_| vec![0.0f32; m * n]);
        let dz = Ptr(masked.as_mut().map_or(dys.as_ptr() as *mut f32, |v| v.as_mut_ptr()));
        let mut dw = vec![0.0f32; k * n];
        let mut db = vec![0.0f32; n];
        let (dw_out, db_out) = (Ptr(dw.as_mut_ptr()), Ptr(db.as_mut_ptr()));
        by_columns(m * n * k, n, |j0, j1| {
            // SAFETY: this call reads and writes columns j0..j1 of δ, dw and db alone.
            let db = unsafe { std::slice::from_raw_parts_mut(db_out.at(j0), j1 - j0) };
            for i in 0..m {
                let d = &dys[i * n + j0..i * n + j1];
                if let Some(ys) = ys {
                    let y = &ys[i * n + j0..i * n + j1];
                    // SAFETY: row i's columns j0..j1 of the mask buffer, this call's alone.
                    let row = unsafe { std::slice::from_raw_parts_mut(dz.at(i * n + j0), j1 - j0) };
                    for ((z, d), y) in row.iter_mut().zip(d).zip(y) {
                        *z = keep_if(*d * scale, *y > 0.0);
                    }
                }
                // SAFETY: as above; read back after the mask is written.
                let row = unsafe { std::slice::from_raw_parts(dz.at(i * n + j0), j1 - j0) };
                db.iter_mut().zip(row).for_each(|(s, z)| *s += z);
            }
            // dw[:, j0..j1] = xᵀ · δ[:, j0..j1]; xᵀ is x read with its strides swapped.
            // SAFETY: x is m×k, δ m×n and dw k×n, row-major; columns j0..j1 of dw are this call's.
            unsafe {
                product(k, j1 - j0, m, dw_out.at(j0), n, xs.as_ptr(), 1, k as isize, dz.at(j0), n as isize, 1);
            }
        });
        let dx = need_dx.then(|| {
            let mut dx = vec![0.0f32; m * k];
            let dx_out = Ptr(dx.as_mut_ptr());
            by_columns(m * n * k, k, |c0, c1| {
                // dx[:, c0..c1] = δ · wᵀ[:, c0..c1]; wᵀ is w read with its strides swapped.
                // SAFETY: δ is m×n, w k×n and dx m×k, row-major; columns c0..c1 of dx are this call's.
                unsafe {
                    product(
                        m,
                        c1 - c0,
                        n,
                        dx_out.at(c0),
                        k,
                        dz.at(0),
                        n as isize,
                        1,
                        ws.as_ptr().add(c0 * n),
                        1,
                        n as isize,
                    );
                }
            });
            FlexTensor::from_data(TensorData::new(dx, [m, k]))
        });
        Grads {
            dx,
            dw: FlexTensor::from_data(TensorData::new(dw, [k, n])),
            db: FlexTensor::from_data(TensorData::new(db, [n])),
        }
    }

    /// What follows the product, element by element: the bias, then ReLU, then dropout.
    #[derive(Clone, Copy)]
    pub struct Epilogue {
        relu: bool,
        /// Dropout's mask key, threshold and 1/keep; `None` without dropout.
        dropout: Option<(u64, u64, f32)>,
    }

    impl Epilogue {
        pub fn new(relu: bool, keep: f64, key: u64) -> Self {
            let dropout = (keep < 1.0).then(|| (key, dropout::threshold(keep), (1.0 / keep) as f32));
            Self { relu, dropout }
        }

        /// `row` (a row's block of the product) plus `bias`, through ReLU and dropout; `first`
        /// is the index of the row's first element in the whole output, which draws its mask.
        fn apply(&self, row: &mut [f32], bias: &[f32], first: u64) {
            #[cfg(target_arch = "x86_64")]
            if self.dropout.is_some() {
                // The mask's 64-bit draws vectorise only with AVX-512 DQ or AVX2, as in dropout.rs.
                match crate::cpu::simd() {
                    // SAFETY: `simd()` found AVX-512 F and DQ on this CPU.
                    crate::cpu::Simd::Avx512 => return unsafe { self.apply_avx512(row, bias, first) },
                    // SAFETY: `simd()` found AVX2 on this CPU.
                    crate::cpu::Simd::Avx2Fma => return unsafe { self.apply_avx2(row, bias, first) },
                    crate::cpu::Simd::Avx | crate::cpu::Simd::Portable => {}
                }
            }
            self.apply_any(row, bias, first)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512dq")]
        unsafe fn apply_avx512(&self, row: &mut [f32], bias: &[f32], first: u64) {
            self.apply_any(row, bias, first)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn apply_avx2(&self, row: &mut [f32], bias: &[f32], first: u64) {
            self.apply_any(row, bias, first)
        }

        #[inline(always)]
        fn apply_any(&self, row: &mut [f32], bias: &[f32], first: u64) {
            let relu = self.relu;
            // Branch-free, so it vectorises; NaN stays NaN, as with Burn's ReLU and dropout's
            // multiplication, so divergence is still seen.
            let activate = |z: f32| keep_if(z, !(relu && z < 0.0));
            match self.dropout {
                None => row.iter_mut().zip(bias).for_each(|(v, b)| *v = activate(*v + b)),
                Some((key, threshold, scale)) => {
                    for ((i, v), b) in (first..).zip(row.iter_mut()).zip(bias) {
                        *v = activate(*v + b) * (dropout::kept(key, i, threshold) as u32 as f32 * scale);
                    }
                }
            }
        }
    }

    /// `v` when `keep`, else 0, without a branch (ReLU's units are on or off at random, which
    /// a branch would mispredict half the time).
    #[inline(always)]
    fn keep_if(v: f32, keep: bool) -> f32 {
        f32::from_bits(v.to_bits() & (keep as u32).wrapping_neg())
    }

    /// Runs `f(first, end)` over blocks of the `n` columns, one block per thread of the pool
    /// when the product (`work` = m·n·k) is worth splitting, else once over all of them.
    fn by_columns(work: usize, n: usize, f: impl Fn(usize, usize) + Sync) {
        let threads = if work >= PARALLEL_THRESHOLD { rayon::current_num_threads() } else { 1 };
        let block = n.div_ceil(threads).next_multiple_of(LANES).max(MIN_BLOCK);
        if block >= n {
            return f(0, n);
        }
        (0..n).step_by(block).collect::<Vec<_>>().into_par_iter().for_each(|j0| f(j0, (j0 + block).min(n)));
    }

    /// dst[m×n] = lhs[m×k] · rhs[k×n] on this thread; dst's rows `dst_rs` apart, its columns
    /// adjacent; lhs and rhs given by their row and column strides.
    ///
    /// # Safety
    /// Every pointer must cover the elements its strides reach, and dst must not overlap the
    /// inputs or anything another thread writes.
    #[allow(clippy::too_many_arguments)]
    unsafe fn product(
        m: usize,
        n: usize,
        k: usize,
        dst: *mut f32,
        dst_rs: usize,
        lhs: *const f32,
        lhs_rs: isize,
        lhs_cs: isize,
        rhs: *const f32,
        rhs_rs: isize,
        rhs_cs: isize,
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                dst_rs as isize,
                false,
                lhs,
                lhs_cs,
                lhs_rs,
                rhs,
                rhs_cs,
                rhs_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    }

    /// A buffer's address, shared by the threads that each write their own columns of it.
    #[derive(Clone, Copy)]
    struct Ptr(*mut f32);
    // SAFETY: the callers split the buffer into disjoint columns, one block per thread.
    unsafe impl Send for Ptr {}
    unsafe impl Sync for Ptr {}

    impl Ptr {
        /// The address of element `i` (a method, so that closures capture the `Ptr`, not the
        /// raw pointer inside it).
        fn at(self, i: usize) -> *mut f32 {
            self.0.wrapping_add(i)
        }
    }

    fn contiguous(t: &FlexTensor) -> FlexTensor {
        if t.as_slice::<f32>().is_some() { t.clone() } else { t.to_contiguous() }
    }

    fn f32s(t: &FlexTensor) -> &[f32] {
        t.as_slice::<f32>().expect("a contiguous f32 tensor")
    }

    fn dims<const D: usize>(t: &FlexTensor) -> [usize; D] {
        let shape = t.layout().shape();
        std::array::from_fn(|i| shape[i])
    }
}

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
                    dropout::seed(7);
                    let x = Tensor::<2>::from_inner(x.clone()).require_grad();
                    let y = if fused {
                        forward(&layer, &x, relu, keep).expect("flex, f32, with bias")
                    } else {
                        let y = layer.forward(x.clone());
                        let y = if relu { burn::tensor::activation::relu(y) } else { y };
                        let (key, threshold) = (dropout::next_key(), dropout::threshold(keep));
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
