//! The CPU path shared by the optimizers: a parameter, its gradient and the optimizer's state
//! tensors updated in one pass over host memory, in place, split across the thread pool's cores
//! (idle outside the matrix products) and vectorised 8-wide where the CPU has AVX. On a CPU
//! backend the same rule as a chain of tensor ops reads and writes every parameter a dozen times,
//! one buffer per op; accelerators keep the tensor ops (they fuse or parallelise the chain).

use burn::tensor::{Tensor, TensorData};

/// An optimizer's rule per element, applied to equally long chunks: the weights, their
/// gradient and the optimizer's state (moments, accumulators…), `S` of them.
pub trait HostRule<const S: usize>: Sync {
    fn apply(&self, w: &mut [f32], g: &[f32], state: [&mut [f32]; S]);
}

/// What [`update`] did: the updated tensors, or, when they do not hold f32, the tensors as they
/// came (the caller's tensor ops handle every dtype). Tensors are handles: taken apart at once,
/// never stored, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Updated<const D: usize, const S: usize> {
    Done(Tensor<D>, [Tensor<D>; S]),
    NotF32(Tensor<D>, Tensor<D>, [Tensor<D>; S]),
}

/// Apply `rule` to `tensor`, `grad` and `state` in place. Moving a uniquely held CPU tensor into
/// `TensorData` and back copies nothing.
pub fn update<const D: usize, const S: usize, R: HostRule<S>>(
    rule: &R,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    state: [Tensor<D>; S],
) -> Updated<D, S> {
    let device = tensor.device();
    let mut w = tensor.into_data();
    let g = grad.into_data();
    let mut s = state.map(|t| t.into_data());
    let done = apply_all(rule, &mut w, &g, &mut s).is_ok();
    let back = |d: TensorData| Tensor::from_data(d, &device);
    match done {
        true => Updated::Done(back(w), s.map(back)),
        false => Updated::NotF32(back(w), back(g), s.map(back)),
    }
}

fn apply_all<const S: usize, R: HostRule<S>>(
    rule: &R,
    w: &mut TensorData,
    g: &TensorData,
    state: &mut [TensorData; S],
) -> Result<(), burn::tensor::DataError> {
    let (w, g) = (w.as_mut_slice::<f32>()?, g.as_slice::<f32>()?);
    let mut slices = Vec::with_capacity(S);
    for s in state.iter_mut() {
        slices.push(s.as_mut_slice::<f32>()?);
    }
    const CHUNK: usize = 1 << 15;
    // Chunk i of every state tensor, beside chunk i of the weights and the gradient.
    let mut state_chunks: Vec<_> = slices.into_iter().map(|s| s.chunks_mut(CHUNK)).collect();
    let chunks: Vec<_> = w
        .chunks_mut(CHUNK)
        .zip(g.chunks(CHUNK))
        .map(|(w, g)| {
            let state: [&mut [f32]; S] =
                std::array::from_fn(|j| state_chunks[j].next().expect("state tensors as long as the weights"));
            (w, g, state)
        })
        .collect();
    if chunks.len() > 1 {
        crate::pool::for_each(chunks, |(w, g, s)| apply_chunk(rule, w, g, s));
    } else {
        chunks.into_iter().for_each(|(w, g, s)| apply_chunk(rule, w, g, s));
    }
    Ok(())
}

fn apply_chunk<const S: usize, R: HostRule<S>>(rule: &R, w: &mut [f32], g: &[f32], state: [&mut [f32]; S]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::simd() >= crate::cpu::Simd::Avx {
        // SAFETY: `simd()` found AVX on this CPU.
        return unsafe { apply_avx(rule, w, g, state) };
    }
    rule.apply(w, g, state)
}

/// The rule compiled for AVX (the default x86-64 target assumes only 4-wide SSE2); the rules'
/// `apply` is `#[inline(always)]` so that it is compiled here.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn apply_avx<const S: usize, R: HostRule<S>>(rule: &R, w: &mut [f32], g: &[f32], state: [&mut [f32]; S]) {
    rule.apply(w, g, state)
}
