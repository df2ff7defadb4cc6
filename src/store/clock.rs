//! Time sources: wall-clock milliseconds and the hybrid version clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
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
}
