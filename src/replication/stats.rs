//! Replication and rebalancing counters (`SHOAL REBALANCE`, `INFO cluster`,
//! metrics).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters since the node started.
#[derive(Debug, Default)]
pub struct RebalanceStats {
    replicated: AtomicU64,
    failed: AtomicU64,
    applied: AtomicU64,
    served: AtomicU64,
    keys_pulled: AtomicU64,
    bytes_pulled: AtomicU64,
    slots_pulled: AtomicU64,
    handed_off: AtomicU64,
    pull_rate: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebalanceSnapshot {
    /// Batches of key states sent to copies.
    pub replicated: u64,
    /// Of those, not acknowledged by a copy still live (`-TRYAGAIN`).
    pub failed: u64,
    /// Key states received from owners that changed something here.
    pub applied: u64,
    /// Keys sent to nodes pulling slots from here.
    pub served: u64,
    /// Keys pulled from other nodes.
    pub keys_pulled: u64,
    /// Bytes pulled from other nodes.
    pub bytes_pulled: u64,
    /// Slots pulled completely.
    pub slots_pulled: u64,
    /// Slots this node stopped serving for their new owner.
    pub handed_off: u64,
    /// Bytes per second of the latest pull pass.
    pub pull_rate: u64,
}

impl RebalanceStats {
    pub(super) fn add_replicated(&self, n: u64) {
        self.replicated.fetch_add(n, Ordering::Relaxed);
    }
    pub(super) fn add_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
    }
    pub(super) fn add_applied(&self, n: u64) {
        self.applied.fetch_add(n, Ordering::Relaxed);
    }
    pub(super) fn add_served(&self, n: u64) {
        self.served.fetch_add(n, Ordering::Relaxed);
    }
    pub(super) fn add_pulled(&self, keys: u64, bytes: u64) {
        self.keys_pulled.fetch_add(keys, Ordering::Relaxed);
        self.bytes_pulled.fetch_add(bytes, Ordering::Relaxed);
    }
    pub(super) fn add_slot_pulled(&self) {
        self.slots_pulled.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn add_handed_off(&self, n: u64) {
        self.handed_off.fetch_add(n, Ordering::Relaxed);
    }
    pub(super) fn set_pull_rate(&self, bytes_per_sec: u64) {
        self.pull_rate.store(bytes_per_sec, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> RebalanceSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RebalanceSnapshot {
            replicated: get(&self.replicated),
            failed: get(&self.failed),
            applied: get(&self.applied),
            served: get(&self.served),
            keys_pulled: get(&self.keys_pulled),
            bytes_pulled: get(&self.bytes_pulled),
            slots_pulled: get(&self.slots_pulled),
            handed_off: get(&self.handed_off),
            pull_rate: get(&self.pull_rate),
        }
    }
}
