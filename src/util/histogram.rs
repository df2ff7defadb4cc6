//! A fixed-bucket latency histogram made of atomics: recording is two
//! relaxed additions (no lock, no allocation), so it can sit on the request
//! path. Metrics export it as a Prometheus histogram; `INFO commandstats`
//! reads the same cells.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in nanoseconds (10µs to 5s). An
/// observation lands in the first bucket whose bound it does not exceed
/// (Prometheus's `le`); longer ones land in the implicit `+Inf` bucket.
pub const LATENCY_BOUNDS_NS: [u64; 17] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];

/// Buckets including `+Inf`.
const BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// Live latency counts; see the module documentation.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

/// A copy of a [`LatencyHistogram`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    pub buckets: [u64; BUCKETS],
    /// Sum of all observations, in nanoseconds.
    pub sum_ns: u64,
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let index = LATENCY_BOUNDS_NS.iter().position(|&bound| ns <= bound).unwrap_or(BUCKETS - 1);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The current counts.
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }

    /// Zeroes every count (`CONFIG RESETSTAT`).
    pub fn reset(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
        self.sum_ns.store(0, Ordering::Relaxed);
    }
}

impl LatencySnapshot {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &LatencySnapshot) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.sum_ns += other.sum_ns;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// `(upper bound in seconds, observations at or below it)` for every
    /// finite bucket, as Prometheus's cumulative buckets.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        LATENCY_BOUNDS_NS.iter().zip(self.buckets.iter()).scan(0u64, |total, (&bound, &n)| {
            *total += n;
            Some((bound as f64 / 1e9, *total))
        })
    }

    /// Sum of all observations in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_they_fit() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(10)); // exactly on the first bound
        h.observe(Duration::from_micros(11));
        h.observe(Duration::from_secs(60)); // beyond the last bound: +Inf
        let s = h.snapshot();
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[BUCKETS - 1], 1);
        assert_eq!(s.count(), 3);
        assert_eq!(s.sum_ns, 10_000 + 11_000 + 60_000_000_000);
        let cumulative: Vec<(f64, u64)> = s.cumulative().collect();
        assert_eq!(cumulative.len(), LATENCY_BOUNDS_NS.len());
        assert_eq!(cumulative[0], (0.00001, 1));
        assert_eq!(cumulative[1].1, 2);
        assert_eq!(cumulative.last().map(|c| c.1), Some(2), "+Inf is not among the finite buckets");
        h.reset();
        assert_eq!(h.snapshot(), LatencySnapshot::default());
    }
}
