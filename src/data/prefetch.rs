//! Augmented batches prepared ahead of the training step, on the thread pool.
//!
//! While the network trains on batch b, the next [`AHEAD`] batches are queued, in jobs of
//! [`PART`] images, on the rayon pool the matrix products also run on: a worker with nothing
//! else to do (the second core while the first packs operands, waits or steps the optimizer)
//! warps images instead of spinning, and is soon back for the next product. A part nobody has
//! started yet when training needs it is warped right there, by the training thread, so nothing
//! ever waits on a queued job (no deadlock with one thread).
//! Every image's warp depends only on the seed and its position in the epoch, so the batches
//! are the same whichever thread made them, and whenever.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use formats::config::ExperimentConfig;
use formats::idx::PIXELS;

use super::MnistData;
use super::augment::Augmenter;

/// Batches queued beyond the one in training.
pub const AHEAD: usize = 4;
/// Images per job: short jobs, so that a worker that picks one up while a matrix product waits
/// for it is soon back.
const PART: usize = 16;

/// One epoch's augmented batches, handed out in order.
pub struct Prefetch {
    shared: Arc<Shared>,
    /// Batch b is made of the parts `first_part[b]..first_part[b + 1]`.
    first_part: Vec<usize>,
    /// The next batch [`Prefetch::next_batch`] returns.
    next: usize,
    /// Parts `0..queued` have a job on the pool.
    queued: usize,
    ahead: usize,
}

struct Shared {
    augmenter: Augmenter,
    images: Arc<[u8]>,
    order: Vec<i64>,
    /// Each part's positions in the epoch's order.
    parts: Vec<Range<usize>>,
    slots: Vec<Slot>,
    /// Set when the epoch's [`Prefetch`] is dropped (the epoch ended or was cut short): jobs
    /// still queued then return without warping anything.
    abandoned: AtomicBool,
}

#[derive(Default)]
struct Slot {
    /// Set by whoever starts warping the part; nobody else does.
    claimed: AtomicBool,
    pixels: Mutex<Option<Vec<f32>>>,
    done: Condvar,
}

impl Prefetch {
    /// The training epoch that visits `data`'s training images in `order`, warped as `cfg`'s
    /// augmentation with the epoch's `seed`; `None` without augmentation.
    pub fn epoch(cfg: &ExperimentConfig, data: &MnistData, order: &[i64], seed: u64) -> Option<Self> {
        let (aug, host) = (cfg.augmentation.as_ref()?, data.train_host.as_ref()?);
        Some(Self::new(Augmenter::new(aug.clone(), seed), Arc::clone(host), order.to_vec(), cfg.train.batch_size))
    }

    /// The epoch that visits `images` (u8, 784 per image) in `order`, `batch_size` at a time,
    /// warped by `augmenter`.
    pub fn new(augmenter: Augmenter, images: Arc<[u8]>, order: Vec<i64>, batch_size: usize) -> Self {
        Self::with_lookahead(augmenter, images, order, batch_size, AHEAD)
    }

    /// [`Prefetch::new`] with `ahead` batches queued beyond the current one.
    pub fn with_lookahead(
        augmenter: Augmenter,
        images: Arc<[u8]>,
        order: Vec<i64>,
        batch_size: usize,
        ahead: usize,
    ) -> Self {
        assert!(batch_size > 0, "batches hold at least one image");
        let (mut parts, mut first_part) = (Vec::new(), vec![0]);
        for start in (0..order.len()).step_by(batch_size) {
            let end = (start + batch_size).min(order.len());
            parts.extend((start..end).step_by(PART).map(|s| s..(s + PART).min(end)));
            first_part.push(parts.len());
        }
        let slots = parts.iter().map(|_| Slot::default()).collect();
        let shared = Arc::new(Shared { augmenter, images, order, parts, slots, abandoned: AtomicBool::new(false) });
        Self { shared, first_part, next: 0, queued: 0, ahead }
    }

    /// The next batch's pixels, `[n, 784]` row-major in [0, 1]; `None` after the last batch.
    pub fn next_batch(&mut self) -> Option<Vec<f32>> {
        let batches = self.first_part.len() - 1;
        if self.next >= batches {
            return None;
        }
        // Keep the pool `ahead` batches ahead of training (jobs hold the shared state, so one
        // still queued when the epoch is cut short is harmless, and returns at once: `abandoned`).
        let horizon = self.first_part[batches.min(self.next + 1 + self.ahead)];
        for part in self.queued..horizon {
            let shared = Arc::clone(&self.shared);
            rayon::spawn(move || shared.produce(part));
        }
        self.queued = self.queued.max(horizon);
        let parts = self.first_part[self.next]..self.first_part[self.next + 1];
        self.next += 1;
        let mut pixels = self.shared.take(parts.start);
        for part in parts.skip(1) {
            pixels.extend_from_slice(&self.shared.take(part));
        }
        Some(pixels)
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.shared.abandoned.store(true, Ordering::Release);
    }
}

impl Shared {
    /// Warp part `p` unless another thread has started it or the epoch is over.
    fn produce(&self, p: usize) {
        let slot = &self.slots[p];
        if self.abandoned.load(Ordering::Acquire) || slot.claimed.swap(true, Ordering::AcqRel) {
            return;
        }
        let range = self.parts[p].clone();
        let mut pixels = vec![0f32; range.len() * PIXELS];
        self.augmenter.fill(&self.images, &self.order[range.clone()], range.start as u64, &mut pixels);
        *slot.pixels.lock().unwrap_or_else(PoisonError::into_inner) = Some(pixels);
        slot.done.notify_all();
    }

    /// Part `p`, warped here if no job has started it, else once its job is done.
    fn take(&self, p: usize) -> Vec<f32> {
        self.produce(p);
        let slot = &self.slots[p];
        let mut pixels = slot.pixels.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(px) = pixels.take() {
                return px;
            }
            pixels = slot.done.wait(pixels).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::config::AugmentationConfig;

    #[test]
    fn batches_match_the_sequential_augmenter_whatever_the_lookahead() {
        let images: Arc<[u8]> = (0..80 * PIXELS).map(|i| (i * 7 % 256) as u8).collect();
        let cfg = AugmentationConfig { rotation: 10.0, shift: 2.0, elastic_alpha: 20.0, ..Default::default() };
        let order: Vec<i64> = (0..80).rev().collect();
        let want = Augmenter::new(cfg.clone(), 9).batch(&images, &order);
        for ahead in [0, 1, 3, 100] {
            // Batches of 7 (one part each) and of 37 (three parts, the last short).
            let mut p =
                Prefetch::with_lookahead(Augmenter::new(cfg.clone(), 9), images.clone(), order.clone(), 7, ahead);
            let mut got = Vec::new();
            while let Some(batch) = p.next_batch() {
                assert!(batch.len() <= 7 * PIXELS);
                got.extend(batch);
            }
            assert!(got == want, "lookahead {ahead} changed the images");
        }
    }
}
