//! Time sources: wall-clock milliseconds and the hybrid version clock.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::LocalKey;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    /// The time frozen for the command running on this thread, 0 if none.
    static FROZEN_MS: Cell<u64> = const { Cell::new(0) };
    /// Set while a command of a `CLIENT NO-TOUCH` client runs on this thread.
    static UNTOUCHED: Cell<bool> = const { Cell::new(false) };
}

/// Puts back a thread-local's outer value when dropped: the guard of a
/// setting that holds while one command runs on this thread. Not `Send`,
/// and must not be held across an `.await`.
#[must_use = "the setting holds only while the guard lives"]
pub struct Restore<T: Copy + 'static> {
    local: &'static LocalKey<Cell<T>>,
    outer: T,
    /// Thread-bound: the value lives in this thread's local.
    _not_send: PhantomData<*const ()>,
}

impl<T: Copy + 'static> Restore<T> {
    fn new(local: &'static LocalKey<Cell<T>>, outer: T) -> Restore<T> {
        Restore { local, outer, _not_send: PhantomData }
    }
}

impl<T: Copy + 'static> Drop for Restore<T> {
    fn drop(&mut self) {
        self.local.set(self.outer);
    }
}

/// Keeps keys untouched; see [`leave_untouched`].
pub type Untouched = Restore<bool>;

/// Keeps [`now_ms`] frozen; see [`freeze_now`].
pub type FrozenNow = Restore<u64>;

/// Keeps the keys the running command looks up from being touched (their
/// LRU time or LFU counter stays) until the guard drops: `CLIENT NO-TOUCH`.
pub fn leave_untouched() -> Untouched {
    Restore::new(&UNTOUCHED, UNTOUCHED.replace(true))
}

/// Whether the running command leaves keys untouched; see [`leave_untouched`].
pub fn is_untouched() -> bool {
    UNTOUCHED.get()
}

/// Current Unix time in milliseconds: the time frozen for the running
/// command (see [`freeze_now`]) if there is one, else the wall clock.
pub fn now_ms() -> u64 {
    match FROZEN_MS.get() {
        0 => wall_ms(),
        frozen => frozen,
    }
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Freezes [`now_ms`] on this thread until the guard drops, as Redis takes
/// one time snapshot per command: a command reads the clock once instead of
/// once per key access, expiry check and version, and sees one instant
/// throughout. A freeze inside a freeze (a transaction's commands) keeps
/// the outer time.
pub fn freeze_now() -> FrozenNow {
    let outer = FROZEN_MS.get();
    if outer == 0 {
        FROZEN_MS.set(wall_ms().max(1));
    }
    Restore::new(&FROZEN_MS, outer)
}

/// Hands out write versions: `max(wall-clock ms << 16, last + 1)`.
///
/// Versions grow strictly on one node and roughly follow wall-clock time
/// across nodes, so the newest write wins wherever copies meet (last writer
/// wins after a partition). The low 16 bits count writes within one
/// millisecond.
#[derive(Debug, Default)]
pub struct HybridClock {
    last: AtomicU64,
}

impl HybridClock {
    /// A clock that has handed out nothing yet.
    pub fn new() -> HybridClock {
        HybridClock { last: AtomicU64::new(0) }
    }

    /// A version newer than every version this clock has issued or seen,
    /// and newer than `stored` (the version of the value being replaced).
    pub fn next_after(&self, stored: u64) -> u64 {
        let wall = now_ms() << 16;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(last + 1).max(stored + 1);
            match self.last.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// A fresh version.
    pub fn next(&self) -> u64 {
        self.next_after(0)
    }

    /// Records a version seen elsewhere (e.g. from a replica), so later local
    /// versions are newer than it.
    pub fn observe(&self, version: u64) {
        self.last.fetch_max(version, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_and_pass_what_they_replace() {
        let clock = HybridClock::new();
        let a = clock.next();
        let b = clock.next();
        assert!(b > a);
        assert!(a >> 16 >= now_ms() - 10_000);
        let far = b + (1 << 40);
        assert!(clock.next_after(far) > far);
        assert!(clock.next() > far);
        clock.observe(far << 1);
        assert!(clock.next() > far << 1);
    }

    #[test]
    fn a_frozen_clock_holds_still_until_its_guard_drops() {
        let outer = freeze_now();
        let frozen = now_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(now_ms(), frozen);
        let inner = freeze_now();
        assert_eq!(now_ms(), frozen, "an inner freeze keeps the outer time");
        drop(inner);
        assert_eq!(now_ms(), frozen);
        drop(outer);
        assert!(now_ms() >= frozen + 5);
        let clock = HybridClock::new();
        let _frozen = freeze_now();
        assert!(clock.next() < clock.next(), "versions still grow within one frozen millisecond");
    }
}
