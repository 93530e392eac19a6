//! The machine's own yardstick for `bench`: how long the matrix products of one training epoch
//! take when nothing else runs — plain sgemm on the network's shapes, with the `gemm` crate's
//! kernels that the fused dense layer calls, split across the same threads as the layer splits
//! them. An MLP's epoch is mostly these products, so `epoch / floor` says how far a framework is
//! from the arithmetic alone, and the floor's own share of the FMA peak what the kernels allow.

use std::time::Instant;

use formats::config::ExperimentConfig;

/// Seconds the matrix products of one training epoch of `cfg` take on `n` images: the forward
/// product, the weight gradient and (past the first layer) the input gradient of every layer,
/// for every batch; measured over a sample of batches and scaled up, median of three.
pub fn epoch_seconds(cfg: &ExperimentConfig, n: usize) -> f64 {
    let b = cfg.train.batch_size.min(n);
    let mut sizes = vec![784];
    sizes.extend(cfg.model.hidden.iter().map(|l| l.units));
    sizes.push(10);
    // (m, n, k, lhs transposed, rhs transposed) per batch.
    let mut shapes = Vec::new();
    for (i, w) in sizes.windows(2).enumerate() {
        let (fan_in, fan_out) = (w[0], w[1]);
        shapes.push((b, fan_out, fan_in, false, false)); // x·W
        shapes.push((fan_in, fan_out, b, true, false)); // xᵀ·δ
        if i > 0 {
            shapes.push((b, fan_in, fan_out, false, true)); // δ·Wᵀ
        }
    }
    let batches = n.div_ceil(b);
    let sample = batches.clamp(1, 40);
    let mut buffers: Vec<_> = shapes.iter().map(|&(m, nn, k, ..)| Buffers::new(m, nn, k)).collect();
    let mut run = |count: usize| {
        for _ in 0..count {
            for (shape, buf) in shapes.iter().zip(buffers.iter_mut()) {
                buf.multiply(*shape);
            }
        }
    };
    run(sample.min(5)); // warm caches and the thread pool
    let mut times: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            run(sample);
            start.elapsed().as_secs_f64() * batches as f64 / sample as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[1]
}

/// Operands and result of one product, filled with small non-zero values (denormals and
/// zeros would make the timing unrepresentative).
struct Buffers {
    lhs: Vec<f32>,
    rhs: Vec<f32>,
    dst: Vec<f32>,
}

impl Buffers {
    fn new(m: usize, n: usize, k: usize) -> Self {
        let fill = |len: usize| (0..len).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect::<Vec<f32>>();
        Self { lhs: fill(m * k), rhs: fill(k * n), dst: vec![0.0; m * n] }
    }

    /// dst[m×n] = lhs[m×k] · rhs[k×n], each operand row-major, or read transposed in place
    /// (a row-major [k×m] / [n×k] buffer), as the dense layer reads them; one block of dst's
    /// columns per thread when the layer would split the product.
    fn multiply(&mut self, (m, n, k, lhs_t, rhs_t): (usize, usize, usize, bool, bool)) {
        let (lhs_cs, lhs_rs) = if lhs_t { (m as isize, 1) } else { (1, k as isize) };
        let (rhs_cs, rhs_rs) = if rhs_t { (k as isize, 1) } else { (1, n as isize) };
        // Addresses, so that the closure is Sync; each call writes its own columns of dst.
        let (dst, lhs, rhs) = (self.dst.as_mut_ptr() as usize, self.lhs.as_ptr() as usize, self.rhs.as_ptr() as usize);
        crate::matmul::by_columns(m * n * k, n, |j0, j1| {
            // SAFETY: every pointer covers the extent its strides reach: lhs m·k, rhs k·n and dst
            // m·n f32 values, allocated above for exactly this shape; dst does not alias the
            // inputs, and this call writes columns j0..j1 of dst alone.
            unsafe {
                crate::matmul::product(
                    m,
                    j1 - j0,
                    k,
                    (dst as *mut f32).add(j0),
                    n,
                    lhs as *const f32,
                    lhs_rs,
                    lhs_cs,
                    (rhs as *const f32).offset(j0 as isize * rhs_cs),
                    rhs_rs,
                    rhs_cs,
                );
            }
        });
    }
}

/// The matrix products of one training epoch of `cfg` on `n` images, in GFLOP: per image and
/// weight, 2 FLOP forward, 2 for the weight gradient and 2 for the input gradient, which the
/// first layer does not need.
pub fn epoch_gflop(cfg: &ExperimentConfig, n: usize) -> f64 {
    let (forward, backward) = epoch_gflop_by_pass(cfg, n);
    forward + backward
}

/// [`epoch_gflop`] split into the forward pass's products and the backward pass's.
pub fn epoch_gflop_by_pass(cfg: &ExperimentConfig, n: usize) -> (f64, f64) {
    let mut sizes = vec![784];
    sizes.extend(cfg.model.hidden.iter().map(|l| l.units));
    sizes.push(10);
    let weights = |w: &[usize]| w[0] * w[1];
    let forward: usize = sizes.windows(2).map(|w| 2 * weights(w)).sum();
    let backward: usize = sizes.windows(2).enumerate().map(|(i, w)| if i == 0 { 2 } else { 4 } * weights(w)).sum();
    (forward as f64 * n as f64 / 1e9, backward as f64 * n as f64 / 1e9)
}

/// The machine's FMA peak on the threads training uses.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Peak {
    pub gflops: f64,
    /// The instructions measured: `avx512`, `avx2+fma` or `portable`.
    pub isa: &'static str,
    pub threads: usize,
}

/// FMAs in flight per thread: enough independent chains to cover the latency of two FMA units.
const CHAINS: usize = 12;

/// The widest FMA this CPU runs, on every thread of the current pool at once: the best of five
/// tries of about 0.15 s each. Matrix products can at most reach this.
pub fn fma_peak() -> Peak {
    let (isa, lanes, kernel) = fma_kernel();
    let threads = rayon::current_num_threads();
    let try_once = |iters: u64| {
        let start = Instant::now();
        let sums = rayon::broadcast(|_| kernel(iters));
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(sums);
        (threads as f64 * iters as f64 * (CHAINS * lanes * 2) as f64, seconds)
    };
    let (flop, seconds) = try_once(1 << 20);
    let rate = flop / seconds.max(1e-9);
    let iters = ((0.15 * rate) / (threads * CHAINS * lanes * 2) as f64).max(1.0) as u64;
    let best = (0..5).map(|_| try_once(iters)).map(|(f, s)| f / s).fold(0.0, f64::max);
    Peak { gflops: best / 1e9, isa, threads }
}

type Kernel = fn(u64) -> f32;

fn fma_kernel() -> (&'static str, usize, Kernel) {
    #[cfg(target_arch = "x86_64")]
    match crate::cpu::simd() {
        crate::cpu::Simd::Avx512 => {
            return ("avx512", 16, |n| {
                // SAFETY: `simd()` found AVX-512 F on this CPU.
                unsafe { x86::fma_avx512(n) }
            });
        }
        crate::cpu::Simd::Avx2Fma => {
            return ("avx2+fma", 8, |n| {
                // SAFETY: `simd()` found AVX2 and FMA on this CPU.
                unsafe { x86::fma_avx2(n) }
            });
        }
        crate::cpu::Simd::Avx | crate::cpu::Simd::Portable => {}
    }
    ("portable", 4, fma_portable)
}

/// x ← x·a + b converges to b/(1 − a) = 0.1: no overflow, no denormals, nothing to fold away.
const A: f32 = 0.999_999;
const B: f32 = 1e-7;

/// Four lanes a chain, as plain `mul_add` the compiler turns into the target's FMAs (NEON on
/// aarch64) where it can.
fn fma_portable(n: u64) -> f32 {
    let mut acc = [[0.0f32; 4]; CHAINS];
    for _ in 0..n {
        for chain in acc.iter_mut() {
            for x in chain.iter_mut() {
                *x = x.mul_add(A, B);
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{A, B, CHAINS};

    #[target_feature(enable = "avx512f")]
    pub fn fma_avx512(n: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(A), _mm512_set1_ps(B));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..n {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        _mm512_reduce_add_ps(acc.into_iter().fold(_mm512_setzero_ps(), |s, x| _mm512_add_ps(s, x)))
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn fma_avx2(n: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(A), _mm256_set1_ps(B));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..n {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let sum = acc.into_iter().fold(_mm256_setzero_ps(), |s, x| _mm256_add_ps(s, x));
        // SAFETY: `lanes` holds the 8 f32 an unaligned store writes.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        lanes.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figure the issue quotes: 160.5 GFLOP of products in a monster epoch on 50 000 images.
    #[test]
    fn monster_epoch_gflop() {
        let (_, cfg) = crate::presets::resolve("monster").unwrap();
        let w = [784 * 512, 512 * 512, 512 * 10];
        let want = (4 * w[0] + 6 * w[1] + 6 * w[2]) as f64 * 50_000.0 / 1e9;
        assert!((epoch_gflop(&cfg, 50_000) - want).abs() < 1e-9 && (want - 160.5).abs() < 0.1, "{want}");
        // Forward: 2 FLOP a weight; backward: the rest (no input gradient for the first layer).
        let (forward, backward) = epoch_gflop_by_pass(&cfg, 50_000);
        let forward_want = 2.0 * w.iter().sum::<usize>() as f64 * 50_000.0 / 1e9;
        assert!((forward - forward_want).abs() < 1e-9 && (backward - (want - forward_want)).abs() < 1e-9);
    }

    #[test]
    fn the_peak_is_a_positive_rate_and_every_kernel_computes() {
        let p = fma_peak();
        assert!(p.gflops > 0.1 && p.threads >= 1, "{p:?}");
        let (_, _, kernel) = fma_kernel();
        // Every lane of every chain computes the same sum: the totals differ by the lane count.
        let (v, w, lanes) = (kernel(1000), fma_portable(1000), fma_kernel().1 as f32);
        assert!(w > 0.0 && (v / w - lanes / 4.0).abs() < 1e-3, "{v} {w}");
    }
}
