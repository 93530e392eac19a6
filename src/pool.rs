//! The thread pool's other workers kept awake through a training step.
//!
//! A step is a chain of short parallel regions (each product split by columns, the optimizer's
//! update split by chunks) with serial stretches between them: Burn's autodiff bookkeeping, the
//! loss, the next batch. rayon puts a worker to sleep after a few dozen idle yields, shorter than
//! those stretches, so every region paid a futex wake and waited for the sleeping core to come
//! back while its half of the product sat in the queue. [`keep_awake`] parks a polling job on the
//! other workers instead: it runs whatever the pool queues (the regions' halves, prefetched
//! batches, Burn's own parallel ops) the moment it appears, and leaves once the pool has been
//! idle for [`LINGER`], so an idle process does not spin. rayon has no setting for this.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a polling job waits for work before it gives its worker back to rayon.
const LINGER: Duration = Duration::from_millis(2);

thread_local! {
    /// The polling jobs this worker started that are still running.
    static POLLING: Arc<AtomicUsize> = Arc::new(AtomicUsize::new(0));
}

/// Before a parallel region: make sure every other worker of the current pool is polling for
/// work. Does nothing outside a pool's worker (tests call from their own threads) or in a pool
/// of one thread.
pub fn keep_awake() {
    if rayon::current_thread_index().is_none() {
        return;
    }
    let want = rayon::current_num_threads().saturating_sub(1);
    POLLING.with(|polling| {
        while polling.load(Ordering::Acquire) < want {
            polling.fetch_add(1, Ordering::AcqRel);
            let polling = Arc::clone(polling);
            rayon::spawn(move || {
                poll();
                polling.fetch_sub(1, Ordering::AcqRel);
            });
        }
    });
}

/// Runs the pool's queued jobs as they come, until none came for [`LINGER`].
fn poll() {
    let mut last_work = Instant::now();
    loop {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last_work = Instant::now(),
            _ if last_work.elapsed() >= LINGER => return,
            // Hands the core over when another process wants it (a sweep's jobs share the
            // machine); returns at once when nothing else is runnable.
            _ => std::thread::yield_now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn polling_jobs_run_queued_work_and_then_leave() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            keep_awake();
            // The other worker is polling: a joined half runs there while this one waits for it.
            let other = AtomicBool::new(false);
            let me = rayon::current_thread_index();
            rayon::join(
                || {
                    let start = Instant::now();
                    while !other.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(10) {
                        std::hint::spin_loop();
                    }
                },
                || other.store(rayon::current_thread_index() != me, Ordering::Release),
            );
            assert!(other.load(Ordering::Acquire), "the second half ran on the other worker");
            // Idle: the job leaves after LINGER.
            let start = Instant::now();
            while POLLING.with(|p| p.load(Ordering::Acquire)) > 0 && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            POLLING.with(|p| assert_eq!(p.load(Ordering::Acquire), 0, "the polling job left when idle"));
        });
    }
}
