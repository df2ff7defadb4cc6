//! Per-thread stripes for state every request touches.
//!
//! An atomic counter or a read lock shared by all worker threads bounces
//! its cache line between cores on every update; at hundreds of thousands
//! of requests a second that costs more than the command itself. Each
//! thread here updates its own stripe (a cache line of its own) and readers
//! add the stripes up, which only `INFO` and metrics do.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Stripes per counter or lock: threads beyond this share stripes, which
/// stays correct and only brings some bouncing back.
pub const STRIPES: usize = 16;

/// The stripe of the calling thread: threads are numbered in the order
/// they first ask, so the first [`STRIPES`] threads each get their own.
pub fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    MINE.with(|mine| {
        if mine.get() == usize::MAX {
            mine.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
        }
        mine.get()
    })
}

/// A value alone on its cache line (two lines: adjacent-line prefetching
/// makes neighbours contend too).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// A counter many threads add to and few read, with `AtomicU64`'s method
/// names so it replaces one in place. Reads are not a snapshot across
/// stripes: a sum taken while others add may miss the latest additions.
#[derive(Debug, Default)]
pub struct Counter {
    stripes: [Padded<AtomicU64>; STRIPES],
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Counter {
        Counter::default()
    }

    /// Adds `n` to the calling thread's stripe.
    pub fn fetch_add(&self, n: u64, order: Ordering) {
        self.stripes[stripe()].0.fetch_add(n, order);
    }

    /// The sum over every stripe.
    pub fn load(&self, order: Ordering) -> u64 {
        self.stripes.iter().fold(0u64, |sum, s| sum.wrapping_add(s.0.load(order)))
    }

    /// Sets the counter to `value` (a reset, while nothing else adds).
    pub fn store(&self, value: u64, order: Ordering) {
        for (i, s) in self.stripes.iter().enumerate() {
            s.0.store(if i == 0 { value } else { 0 }, order);
        }
    }
}

/// A counter's current value, whether striped or a plain atomic.
pub trait Tally {
    /// The value now (relaxed).
    fn tally(&self) -> u64;
}

impl Tally for AtomicU64 {
    fn tally(&self) -> u64 {
        self.load(Ordering::Relaxed)
    }
}

impl Tally for Counter {
    fn tally(&self) -> u64 {
        self.load(Ordering::Relaxed)
    }
}

/// A reader-writer lock where readers take only their own stripe's lock
/// and a writer takes every stripe's, in order.
#[derive(Debug, Default)]
pub struct StripedRwLock {
    stripes: [Padded<RwLock<()>>; STRIPES],
}

/// Every stripe of a [`StripedRwLock`], held exclusively.
pub struct StripedWriteGuard<'a> {
    _guards: Vec<RwLockWriteGuard<'a, ()>>,
}

impl StripedRwLock {
    /// An unlocked lock.
    pub fn new() -> StripedRwLock {
        StripedRwLock::default()
    }

    /// Shared access: excludes writers, not other readers.
    pub fn read(&self) -> RwLockReadGuard<'_, ()> {
        self.stripes[stripe()].0.read()
    }

    /// Exclusive access: waits for every reader of every stripe.
    pub fn write(&self) -> StripedWriteGuard<'_> {
        StripedWriteGuard { _guards: self.stripes.iter().map(|s| s.0.write()).collect() }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let counter = Arc::new(Counter::new());
        let threads: Vec<_> = (0..2 * STRIPES)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 2 * STRIPES as u64 * 1000);
        counter.store(7, Ordering::Relaxed);
        assert_eq!(counter.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn a_writer_excludes_readers_of_every_stripe() {
        let lock = Arc::new(StripedRwLock::new());
        let inside = Arc::new(AtomicBool::new(false));
        let writer = lock.write();
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                std::thread::spawn(move || {
                    let _shared = lock.read();
                    inside.load(Ordering::SeqCst)
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        inside.store(true, Ordering::SeqCst);
        drop(writer);
        for r in readers {
            assert!(r.join().unwrap(), "a reader got in while the writer held the lock");
        }
        let _a = lock.read();
        let _b = lock.read();
    }
}
