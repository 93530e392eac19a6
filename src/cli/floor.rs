//! The machine's own yardstick for `bench`: how long the matrix products of one training epoch
//! take when nothing else runs — plain sgemm on the network's shapes, with the `gemm` crate that
//! Burn's CPU backend calls, the same parallelism rule and the same threads. An MLP's epoch is
//! mostly these products, so `epoch / floor` says how far a framework is from the arithmetic
//! alone, on any CPU.

use std::time::Instant;

use gemm::Parallelism;

use crate::config::ExperimentConfig;

/// Products smaller than this (m·n·k) run on one thread, as Burn's flex backend decides.
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

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
    /// (a row-major [k×m] / [n×k] buffer), as Burn hands transposed views to gemm.
    fn multiply(&mut self, (m, n, k, lhs_t, rhs_t): (usize, usize, usize, bool, bool)) {
        let (lhs_cs, lhs_rs) = if lhs_t { (m as isize, 1) } else { (1, k as isize) };
        let (rhs_cs, rhs_rs) = if rhs_t { (k as isize, 1) } else { (1, n as isize) };
        let parallelism = if m * n * k >= PARALLEL_THRESHOLD { Parallelism::Rayon(0) } else { Parallelism::None };
        // SAFETY: every pointer covers the extent its strides reach: lhs m·k, rhs k·n and dst m·n
        // f32 values, allocated above for exactly this shape, and dst does not alias the inputs.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                self.dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                self.lhs.as_ptr(),
                lhs_cs,
                lhs_rs,
                self.rhs.as_ptr(),
                rhs_cs,
                rhs_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}
