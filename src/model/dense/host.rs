//! The dense layer's arithmetic on host memory: the products split by output columns, one
//! `gemm` per core, with the epilogue (bias, ReLU, dropout) and the backward masks done by the
//! core that computed those columns.

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
