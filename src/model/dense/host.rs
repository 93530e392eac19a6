//! The dense layer's arithmetic on host memory: the products split by output columns, one
//! `gemm` per core, with the epilogue (bias, ReLU, dropout) and the backward masks done by the
//! core that computed those columns.

use super::*;
use crate::matmul::{by_columns, product};

pub struct Grads {
    pub dx: Option<FlexTensor>,
    pub dw: FlexTensor,
    pub db: FlexTensor,
}

pub fn forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, epilogue: Epilogue) -> FlexTensor {
    let (x, w, b) = (contiguous(x), contiguous(w), contiguous(b));
    let ([m, k], [_, n]) = (dims(&x), dims(&w));
    let (x, w, b) = (f32s(&x), f32s(&w), f32s(&b));
    let y = written(m * n, |out| {
        by_columns(m * n * k, n, |j0, j1| {
            // SAFETY: x is m×k, w k×n and y m×n, all row-major; this call writes columns
            // j0..j1 of y only, and every other call other columns.
            unsafe {
                product(m, j1 - j0, k, out.at(j0), n, x.as_ptr(), k as isize, 1, w.as_ptr().add(j0), n as isize, 1);
            }
            for i in 0..m {
                // SAFETY: row i's columns j0..j1 of y, written by the product above, this call's alone.
                let row = unsafe { std::slice::from_raw_parts_mut(out.at(i * n + j0), j1 - j0) };
                epilogue.apply(row, &b[j0..j1], (i * n + j0) as u64);
            }
        })
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
    let mut masked = ys.map(|_| Vec::with_capacity(m * n));
    let dz = Ptr(masked.as_mut().map_or(dys.as_ptr() as *mut f32, |v| v.as_mut_ptr()));
    let mut db = vec![0.0f32; n];
    let db_out = Ptr(db.as_mut_ptr());
    let dw = written(k * n, |dw_out| {
        by_columns(m * n * k, n, |j0, j1| {
            // SAFETY: this call reads and writes columns j0..j1 of δ, dw and db alone.
            let db = unsafe { std::slice::from_raw_parts_mut(db_out.at(j0), j1 - j0) };
            for i in 0..m {
                let d = &dys[i * n + j0..i * n + j1];
                match ys {
                    Some(ys) => {
                        let y = &ys[i * n + j0..i * n + j1];
                        // Written, not assigned through a slice: the mask buffer is not initialised.
                        let row = dz.at(i * n + j0);
                        for (j, ((s, d), y)) in db.iter_mut().zip(d).zip(y).enumerate() {
                            let z = keep_if(*d * scale, *y > 0.0);
                            // SAFETY: row i's columns j0..j1 of the mask buffer (m×n), this call's alone.
                            unsafe { row.add(j).write(z) };
                            *s += z;
                        }
                    }
                    None => db.iter_mut().zip(d).for_each(|(s, z)| *s += z),
                }
            }
            // dw[:, j0..j1] = xᵀ · δ[:, j0..j1]; xᵀ is x read with its strides swapped.
            // SAFETY: x is m×k, δ m×n and dw k×n, row-major; columns j0..j1 of dw are this call's.
            unsafe {
                product(k, j1 - j0, m, dw_out.at(j0), n, xs.as_ptr(), 1, k as isize, dz.at(j0), n as isize, 1);
            }
        })
    });
    let dx = need_dx.then(|| {
        let dx = written(m * k, |dx_out| {
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
            })
        });
        FlexTensor::from_data(TensorData::new(dx, [m, k]))
    });
    Grads {
        dx,
        dw: FlexTensor::from_data(TensorData::new(dw, [k, n])),
        db: FlexTensor::from_data(TensorData::new(db, [n])),
    }
}

/// A buffer of `len` floats that `write` fills, every element, before anything reads it: the
/// products overwrite their output, so zeroing it first would be a pass over memory for nothing.
fn written(len: usize, write: impl FnOnce(Ptr)) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    write(Ptr(v.as_mut_ptr()));
    // SAFETY: `write` initialised all `len` elements (the callers' products cover their output).
    unsafe { v.set_len(len) };
    v
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

    /// 16 elements at a time, their 16 draws in two vectors of 64-bit lanes: the compiler
    /// leaves the 64-bit multiplications of the draw scalar, which made the mask most of the
    /// epilogue's time. Bit for bit what [`Self::apply_any`] computes, NaN and −0 included.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn apply_avx512(&self, row: &mut [f32], bias: &[f32], first: u64) {
        use std::arch::x86_64::*;

        use crate::random::{MIX as DRAW_MIX, STEP as DRAW_STEP};
        let Some((key, threshold, scale)) = self.dropout else { return self.apply_any(row, bias, first) };
        let n = row.len().min(bias.len());
        let full = n - n % 16;
        let step = |lanes: u64| _mm512_set1_epi64(lanes.wrapping_mul(DRAW_STEP) as i64);
        // Lane l of `lo` starts at draw first + l, of `hi` at first + 8 + l (see random::draw).
        let start = key.wrapping_add(first.wrapping_add(1).wrapping_mul(DRAW_STEP));
        let mut lo = _mm512_add_epi64(
            _mm512_set1_epi64(start as i64),
            _mm512_mullo_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), step(1)),
        );
        let mut hi = _mm512_add_epi64(lo, step(8));
        let (next, threshold) = (step(16), _mm512_set1_epi64(threshold as i64));
        let (m1, m2) = (_mm512_set1_epi64(DRAW_MIX[0] as i64), _mm512_set1_epi64(DRAW_MIX[1] as i64));
        let kept = |z: __m512i| {
            let z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64::<30>(z)), m1);
            let z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64::<27>(z)), m2);
            let z = _mm512_xor_si512(z, _mm512_srli_epi64::<31>(z));
            _mm512_cmplt_epu64_mask(_mm512_srli_epi64::<32>(z), threshold)
        };
        let (scale, zero) = (_mm512_set1_ps(scale), _mm512_setzero_ps());
        for c in (0..full).step_by(16) {
            let keep = kept(lo) as u16 | (kept(hi) as u16) << 8;
            // SAFETY: c + 16 ≤ n, within both slices.
            let (v, b) = unsafe { (_mm512_loadu_ps(row.as_ptr().add(c)), _mm512_loadu_ps(bias.as_ptr().add(c))) };
            let mut v = _mm512_add_ps(v, b);
            if self.relu {
                // Ordered compare: NaN is not below 0 and stays, as in `apply_any`.
                v = _mm512_maskz_mov_ps(!_mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, zero), v);
            }
            // × scale where kept, × 0 where dropped: a dropped NaN stays NaN, as in `apply_any`.
            let v = _mm512_mul_ps(v, _mm512_maskz_mov_ps(keep, scale));
            // SAFETY: as above.
            unsafe { _mm512_storeu_ps(row.as_mut_ptr().add(c), v) };
            (lo, hi) = (_mm512_add_epi64(lo, next), _mm512_add_epi64(hi, next));
        }
        self.apply_any(&mut row[full..n], &bias[full..n], first + full as u64)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorised epilogue (what this CPU runs) against the portable loop, bit for bit:
    /// lengths around the 16-lane step, offsets that start mid-vector, NaN, ±0 and negatives.
    #[test]
    fn epilogue_matches_the_portable_loop_bit_for_bit() {
        let values = [1.5, -2.0, 0.0, -0.0, f32::NAN, 3.25, -0.5, f32::INFINITY, 0.75, -1e-3];
        for (relu, keep) in [(true, 0.8), (false, 0.5), (true, 1.0), (false, 1.0)] {
            let epilogue = Epilogue::new(relu, keep, 0x1234_5678_9ABC_DEF0);
            for len in [0, 1, 15, 16, 17, 33, 64, 100] {
                for first in [0u64, 5, 1 << 40] {
                    let row: Vec<f32> = (0..len).map(|i| values[(i * 7 + first as usize) % values.len()]).collect();
                    let bias: Vec<f32> = (0..len).map(|i| values[(i * 3) % values.len()] * 0.25).collect();
                    let (mut fast, mut plain) = (row.clone(), row);
                    epilogue.apply(&mut fast, &bias, first);
                    epilogue.apply_any(&mut plain, &bias, first);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&fast), bits(&plain), "relu {relu}, keep {keep}, len {len}, first {first}");
                }
            }
        }
    }
}
