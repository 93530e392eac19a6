//! The randomness every part of training shares: per-epoch seeds, a counter-based draw that
//! any thread computes for any position, and each thread's generator of dropout mask keys. A
//! run resumed after a crash repeats an uninterrupted one because every random choice — the
//! shuffle, the augmentation's warps, the dropout masks — starts from [`epoch_seed`].

use std::cell::RefCell;

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

/// SplitMix64's constants, shared with the hand-vectorised copy of [`draw`] in the dense layer.
pub const STEP: u64 = 0x9E37_79B9_7F4A_7C15;
pub const MIX: [u64; 2] = [0xBF58_476D_1CE4_E5B9, 0x94D0_49BB_1331_11EB];

/// The seed of one epoch, from the run's seed and the epoch alone, so shuffling, augmentation
/// and dropout need no saved generator state.
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_add((epoch as u64).wrapping_mul(STEP))
}

/// The i-th output of SplitMix64 started at `key` (Steele, Lea & Flood 2014; it passes BigCrush):
/// a counter-based draw, computed for any position without the ones before it, so a loop over
/// positions has no dependency from one element to the next and vectorises. Dropout's masks
/// and augmentation's warps are drawn this way.
#[inline(always)]
pub fn draw(key: u64, i: u64) -> u64 {
    let mut z = key.wrapping_add(i.wrapping_add(1).wrapping_mul(STEP));
    z = (z ^ (z >> 30)).wrapping_mul(MIX[0]);
    z = (z ^ (z >> 27)).wrapping_mul(MIX[1]);
    z ^ (z >> 31)
}

thread_local! {
    /// The host generator, reseeded every epoch (see [`seed`]) so runs and resumed runs repeat.
    /// Per thread, so two trainings in one process (tests) do not draw from each other's stream.
    static HOST_RNG: RefCell<SmallRng> = RefCell::new(SmallRng::seed_from_u64(0));
}

/// Reseeds this thread's mask generator; the learner calls it with each epoch's seed.
pub fn seed(seed: u64) {
    HOST_RNG.with(|rng| *rng.borrow_mut() = SmallRng::seed_from_u64(seed));
}

/// A fresh key for one dropout mask: element i of the mask is drawn as `draw(key, i)`.
pub fn next_key() -> u64 {
    HOST_RNG.with(|rng| rng.borrow_mut().next_u64())
}
