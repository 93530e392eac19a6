//! Matrix products on host memory, as the fused dense layer runs them and `bench`'s floor times
//! them: one thread's product on the `gemm` crate's kernels, and a product's output columns split
//! over the thread pool, one block per core.

/// Products smaller than this (m·n·k) run on one thread, as flex decides for its own.
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;
/// [`by_columns`]' blocks are multiples of this: an AVX-512 register of f32.
const LANES: usize = 16;
/// The narrowest block: each block's product packs the whole left operand again, so on a
/// many-core machine thinner blocks would cost more than the cores they add.
const MIN_BLOCK: usize = 64;

/// Runs `f(first, end)` over blocks of a product's `n` output columns, one block per thread of
/// the pool when the product (`work` = m·n·k) is worth splitting, else once over all of them:
/// the fused dense layer's split, and `bench`'s floor's.
pub fn by_columns(work: usize, n: usize, f: impl Fn(usize, usize) + Sync) {
    let threads = if work >= PARALLEL_THRESHOLD { rayon::current_num_threads() } else { 1 };
    let block = n.div_ceil(threads).next_multiple_of(LANES).max(MIN_BLOCK);
    if block >= n {
        return f(0, n);
    }
    crate::pool::for_each((0..n).step_by(block).collect(), |j0| f(j0, (j0 + block).min(n)));
}

/// dst[m×n] = lhs[m×k] · rhs[k×n] on this thread, every element of dst written; dst's rows
/// `dst_rs` apart, its columns adjacent; lhs and rhs given by their row and column strides.
///
/// # Safety
/// Every pointer must cover the elements its strides reach, and dst must not overlap the
/// inputs or anything another thread writes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn product(
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
    if k == 0 {
        // Nothing to sum: the product is zero, and the callers rely on every element written.
        for i in 0..m {
            // SAFETY: the caller's contract covers dst's m rows of n elements.
            unsafe { std::ptr::write_bytes(dst.add(i * dst_rs), 0, n) };
        }
        return;
    }
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
