//! Dropout (lecture step 3): during training each hidden unit is zeroed with probability `p`
//! and the kept ones are scaled by 1/(1−p), so evaluation needs no rescaling.
//!
//! Burn's `Dropout` draws its Bernoulli mask element by element through a generic sampler; on a
//! CPU backend that was 13 % of a `monster` epoch. Here the mask is drawn on the host with a
//! small fast generator, already scaled, and applied with one multiplication. Accelerators keep
//! drawing it on the device.

use std::cell::RefCell;

use burn::nn::Dropout;
use burn::tensor::{Distribution, Tensor, TensorData};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use crate::backend;

thread_local! {
    /// The host generator, reseeded every epoch (see [`seed`]) so runs and resumed runs repeat.
    /// Per thread, so two trainings in one process (tests) do not draw from each other's stream.
    static HOST_RNG: RefCell<SmallRng> = RefCell::new(SmallRng::seed_from_u64(0));
}

/// Reseeds this thread's mask generator; the learner calls it with each epoch's seed.
pub fn seed(seed: u64) {
    HOST_RNG.with(|rng| *rng.borrow_mut() = SmallRng::seed_from_u64(seed));
}

/// `layer` applied to `x`: the identity outside training (no autodiff, or a frozen layer).
pub fn forward<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let keep = 1.0 - layer.prob;
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
    // Chunks drawn in parallel, each from its own generator seeded from this thread's: the
    // mask depends on the epoch's seed only, not on how the chunks were scheduled.
    const CHUNK: usize = 1 << 14;
    let seeds: Vec<u64> = HOST_RNG.with(|rng| {
        let rng = &mut *rng.borrow_mut();
        (0..n.div_ceil(CHUNK)).map(|_| rng.next_u64()).collect()
    });
    // Compare 32 random bits with keep·2³²: two draws per 64-bit output.
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(CHUNK).zip(seeds).for_each(|(chunk, seed)| {
        let mut rng = SmallRng::seed_from_u64(seed);
        for pair in chunk.chunks_mut(2) {
            let bits = rng.next_u64();
            for (v, half) in pair.iter_mut().zip([bits & 0xFFFF_FFFF, bits >> 32]) {
                // Branch-free: a 20 % drop rate would mispredict a branch every few elements.
                *v = (half < threshold) as u32 as f32 * scale;
            }
        }
    });
    out
}
