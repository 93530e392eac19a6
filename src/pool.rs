//! The thread pool's other workers kept awake through a training step.
//!
//! A step is a chain of short parallel regions (each product split by columns, the optimizer's
//! update split by chunks) with serial stretches between them: Burn's autodiff bookkeeping, the
//! loss, the next batch's gather. rayon puts a worker to sleep after a few dozen idle yields,
//! sooner than those stretches end, so every region paid a futex wake and waited for the sleeping
//! core while its half of the product sat in the queue; and the caller, done with its own half,
//! slept in rayon's join until the other half woke it. [`keep_awake`] parks a polling job on the
//! other workers instead: it runs whatever the pool queues (the regions' halves, prefetched
//! batches, Burn's own parallel ops) the moment it appears, and leaves once the pool has been
//! idle for [`LINGER`], so an idle process does not spin. [`for_each`] is a region whose caller
//! waits busy. rayon has no setting for either.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// How long a polling job waits for work before it gives its worker back to rayon.
const LINGER: Duration = Duration::from_millis(2);
/// How long [`for_each`]'s caller spins for the other items before it yields its core.
const SPIN: Duration = Duration::from_micros(50);

thread_local! {
    /// The polling jobs this worker started that are still running.
    static POLLING: Arc<AtomicUsize> = Arc::new(AtomicUsize::new(0));
    /// The polling jobs this thread has run.
    static POLLED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Before a parallel region: make sure every other worker of the current pool is polling for
/// work. Does nothing outside a pool's worker (tests call from their own threads) or in a pool
/// of one thread.
pub fn keep_awake() {
    let Some(me) = rayon::current_thread_index() else { return };
    let want = rayon::current_num_threads().saturating_sub(1);
    POLLING.with(|polling| {
        while polling.load(Ordering::Acquire) < want {
            polling.fetch_add(1, Ordering::AcqRel);
            let polling = Arc::clone(polling);
            rayon::spawn(move || {
                // The caller itself may pick the job up while it waits (when no other worker
                // got to it first: a busy machine); polling there would hold it for LINGER.
                if rayon::current_thread_index() != Some(me) {
                    poll();
                }
                polling.fetch_sub(1, Ordering::AcqRel);
            });
        }
    });
}

/// Runs `f` on every item, spread over the pool: the calling worker takes the first item and
/// then, instead of sleeping until the others are done (rayon's join does, and waking it again
/// costs as much as waking a worker), runs queued items itself or spins. Outside a pool (tests
/// call from their own threads), rayon's parallel iterator.
pub fn for_each<T: Send>(items: Vec<T>, f: impl Fn(T) + Sync) {
    if rayon::current_thread_index().is_none() {
        return items.into_par_iter().for_each(&f);
    }
    keep_awake();
    let mut items = items.into_iter();
    let Some(first) = items.next() else { return };
    let left = AtomicUsize::new(items.len());
    rayon::in_place_scope(|scope| {
        for item in items {
            let (f, left) = (&f, &left);
            scope.spawn(move |_| {
                // Counted down even if `f` panics (the scope then passes the panic on), so the
                // wait below ends.
                let _done = CountDown(left);
                f(item)
            });
        }
        f(first);
        let waiting = Instant::now();
        while left.load(Ordering::Acquire) > 0 {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                // On a machine busy with other processes the worker holding the last item
                // may be waiting for this very core: spin briefly, then offer it.
                match waiting.elapsed() < SPIN {
                    true => std::hint::spin_loop(),
                    false => std::thread::yield_now(),
                }
            }
        }
    });
}

struct CountDown<'a>(&'a AtomicUsize);

impl Drop for CountDown<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// Runs the pool's queued jobs as they come, until none came for [`LINGER`].
fn poll() {
    POLLED.with(|n| n.set(n.get() + 1));
    let mut last_work = Instant::now();
    loop {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last_work = Instant::now(),
            _ if last_work.elapsed() >= LINGER => return,
            // Hands the core over when another process wants it; returns at once when
            // nothing else is runnable.
            _ => std::thread::yield_now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn for_each_runs_every_item_once_in_and_outside_a_pool() {
        let run = || {
            let seen: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
            for_each((0..37).collect(), |i: usize| {
                seen[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1), "each item exactly once");
        };
        run();
        rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(run);
        rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    }

    #[test]
    fn the_caller_never_polls_its_own_polling_job() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        // One worker busy until released, so only the other can take the polling job.
        let (started, release) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (s, r) = (Arc::clone(&started), Arc::clone(&release));
        pool.spawn(move || {
            s.store(true, Ordering::Release);
            while !r.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
        });
        while !started.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let (polling, polled) = pool.install(|| {
            keep_awake();
            let start = Instant::now();
            while POLLING.with(|p| p.load(Ordering::Acquire)) > 0 && start.elapsed() < Duration::from_secs(10) {
                rayon::yield_now();
            }
            (POLLING.with(|p| p.load(Ordering::Acquire)), POLLED.with(|n| n.get()))
        });
        release.store(true, Ordering::Release);
        assert_eq!(polling, 0, "the caller ran its polling job");
        assert_eq!(polled, 0, "and it returned without polling");
    }

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
