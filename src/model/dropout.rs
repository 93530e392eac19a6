//! Dropout (lecture step 3): during training each hidden unit is zeroed with probability `p`
//! and the kept ones are scaled by 1/(1−p), so evaluation needs no rescaling.
//!
//! Burn's `Dropout` draws its Bernoulli mask element by element through a generic sampler; on a
//! CPU backend that was a noticeable share of a `monster` epoch. Here the mask is drawn on the host by a
//! counter-based generator (vectorised, split across cores), already scaled, and applied with
//! one multiplication. Accelerators keep drawing it on the device. After a ReLU layer on flex
//! the fused layer ([`super::dense`]) draws the same way inside its own pass, with no mask buffer.

use burn::nn::Dropout;
use burn::tensor::{Distribution, Tensor, TensorData};

use crate::backend;
use crate::random::{draw, next_key};

/// The share of units `layer` keeps in a training step: 1 for a frozen layer. Inference never
/// gets here ([`crate::model::Mlp::forward`] passes no dropout layer).
pub fn keep(layer: &Dropout) -> f64 {
    if layer.training.is_enabled() { 1.0 - layer.prob } else { 1.0 }
}

/// The top 32 bits of a draw are compared with keep·2³².
pub fn threshold(keep: f64) -> u64 {
    (keep * 4_294_967_296.0) as u64
}

/// Whether element `i` of the mask drawn with `key` is kept.
#[inline(always)]
pub fn kept(key: u64, i: u64, threshold: u64) -> bool {
    (draw(key, i) >> 32) < threshold
}

/// `layer` applied to `x` in a training step: the identity for a frozen layer.
pub fn forward<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let keep = keep(layer);
    if keep == 1.0 {
        return x;
    }
    let device = x.device();
    let mask = if backend::is_host(&device) {
        let shape = x.shape();
        let values = host_mask(shape.num_elements(), keep);
        Tensor::<D>::from_data(TensorData::new(values, shape), &device.inner())
    } else {
        x.random_like(Distribution::Bernoulli(keep)).inner().mul_scalar(1.0 / keep)
    };
    // A tensor without autodiff is a constant: the gradient is masked and scaled the same way.
    x * mask
}

/// `n` values, each 1/keep with probability `keep`, else 0.
pub fn host_mask(n: usize, keep: f64) -> Vec<f32> {
    use rayon::prelude::*;
    // One key per mask from this thread's generator; element i's draw is a function of (key, i)
    // alone, so chunks can be filled in parallel and in any order with the same result.
    let (key, threshold) = (next_key(), threshold(keep));
    let scale = (1.0 / keep) as f32;
    const CHUNK: usize = 1 << 14;
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| fill(chunk, key, (c * CHUNK) as u64, threshold, scale));
    out
}

/// `out[j]` = scale if draw(key, first + j) < threshold, else 0; with AVX-512 (8 draws per
/// instruction) or AVX2 (4) where the CPU has them.
fn fill(out: &mut [f32], key: u64, first: u64, threshold: u64, scale: f32) {
    #[cfg(target_arch = "x86_64")]
    match crate::cpu::simd() {
        // SAFETY: `simd()` found AVX-512 F and DQ on this CPU.
        crate::cpu::Simd::Avx512 => return unsafe { fill_avx512(out, key, first, threshold, scale) },
        // SAFETY: `simd()` found AVX2 on this CPU.
        crate::cpu::Simd::Avx2Fma => return unsafe { fill_avx2(out, key, first, threshold, scale) },
        crate::cpu::Simd::Avx | crate::cpu::Simd::Portable => {}
    }
    fill_any(out, key, first, threshold, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn fill_avx512(out: &mut [f32], key: u64, first: u64, threshold: u64, scale: f32) {
    fill_any(out, key, first, threshold, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_avx2(out: &mut [f32], key: u64, first: u64, threshold: u64, scale: f32) {
    fill_any(out, key, first, threshold, scale)
}

#[inline(always)]
fn fill_any(out: &mut [f32], key: u64, first: u64, threshold: u64, scale: f32) {
    for (i, v) in (first..).zip(out.iter_mut()) {
        // Branch-free: a 20 % drop rate would mispredict a branch every few elements.
        *v = kept(key, i, threshold) as u32 as f32 * scale;
    }
}
