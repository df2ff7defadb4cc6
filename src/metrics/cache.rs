//! The keyspace: keys, memory, hits and misses, expiry, eviction. Read at
//! scrape time from the store's counters, the same ones `INFO` reports.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use super::family::{Family, Kind, Spec, descs, single};
use crate::cmd::ServerState;
use crate::cmd::server::proc_kb;
use crate::config::MaxmemoryPolicy;
use crate::store::Store;
use crate::util::striped::Tally;

/// `shoal_keys`.
pub const KEYS: Spec = Spec {
    name: "shoal_keys",
    help: "Keys this node holds, expired ones not yet removed included (INFO keyspace keys).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_keys_with_ttl`.
pub const KEYS_WITH_TTL: Spec = Spec {
    name: "shoal_keys_with_ttl",
    help: "Keys with a time to live (INFO keyspace expires).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_memory_used_bytes`.
pub const MEMORY_USED: Spec = Spec {
    name: "shoal_memory_used_bytes",
    help: "Accounted size of the data held, the figure maxmemory bounds (INFO used_memory).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_memory_used_peak_bytes`.
pub const MEMORY_PEAK: Spec = Spec {
    name: "shoal_memory_used_peak_bytes",
    help: "Highest shoal_memory_used_bytes seen by INFO or a scrape (INFO used_memory_peak).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_memory_max_bytes`.
pub const MEMORY_MAX: Spec = Spec {
    name: "shoal_memory_max_bytes",
    help: "The maxmemory setting; 0 means unlimited (INFO maxmemory).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_memory_rss_bytes`.
pub const MEMORY_RSS: Spec = Spec {
    name: "shoal_memory_rss_bytes",
    help: "Resident memory of the whole process (INFO used_memory_rss).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_keyspace_hits_total`.
pub const HITS: Spec = Spec {
    name: "shoal_keyspace_hits_total",
    help: "Reads that found their key (INFO keyspace_hits).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_keyspace_misses_total`.
pub const MISSES: Spec = Spec {
    name: "shoal_keyspace_misses_total",
    help: "Reads that did not find their key (INFO keyspace_misses).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_expired_keys_total`.
pub const EXPIRED: Spec = Spec {
    name: "shoal_expired_keys_total",
    help: "Keys removed because their time to live passed (INFO expired_keys).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_evicted_keys_total{policy}`.
pub const EVICTED: Spec = Spec {
    name: "shoal_evicted_keys_total",
    help: "Keys evicted to stay under maxmemory, by the maxmemory policy in force when the scrape saw them \
           (the sum is INFO evicted_keys).",
    kind: Kind::Counter,
    labels: &["policy"],
};
/// `shoal_oom_rejections_total`.
pub const OOM_REJECTIONS: Spec = Spec {
    name: "shoal_oom_rejections_total",
    help: "Writes refused with -OOM because memory would exceed maxmemory.",
    kind: Kind::Counter,
    labels: &[],
};

/// Every family of this collector.
pub const SPECS: &[&Spec] = &[
    &KEYS,
    &KEYS_WITH_TTL,
    &MEMORY_USED,
    &MEMORY_PEAK,
    &MEMORY_MAX,
    &MEMORY_RSS,
    &HITS,
    &MISSES,
    &EXPIRED,
    &EVICTED,
    &OOM_REJECTIONS,
];

/// The policies that evict (all but `noeviction`), in label order.
fn evicting_policies() -> impl Iterator<Item = MaxmemoryPolicy> {
    MaxmemoryPolicy::ALL.iter().copied().filter(|p| *p != MaxmemoryPolicy::NoEviction)
}

/// Splits the store's single eviction counter by policy.
///
/// The store counts evictions without saying which policy chose them; the
/// policy can change at run time (`CONFIG SET maxmemory-policy`). Each
/// scrape attributes the evictions since the previous scrape to the policy
/// in force, so every series only grows and their sum is the store's count.
#[derive(Debug, Default)]
pub(crate) struct EvictionsByPolicy {
    state: Mutex<EvictionState>,
}

#[derive(Debug, Default)]
struct EvictionState {
    seen_total: u64,
    by_policy: Vec<(MaxmemoryPolicy, u64)>,
}

impl EvictionsByPolicy {
    /// Counts per evicting policy after the store reported `total`
    /// evictions with `current` in force.
    pub(crate) fn update(&self, total: u64, current: Option<MaxmemoryPolicy>) -> Vec<(MaxmemoryPolicy, u64)> {
        let mut state = self.state.lock();
        if state.by_policy.is_empty() {
            state.by_policy = evicting_policies().map(|p| (p, 0)).collect();
        }
        if total < state.seen_total {
            // CONFIG RESETSTAT zeroed the store's counter: start over.
            state.by_policy.iter_mut().for_each(|(_, n)| *n = 0);
            state.seen_total = 0;
        }
        let new = total - state.seen_total;
        state.seen_total = total;
        // Evictions under `noeviction` cannot happen; were the policy
        // changed back meanwhile, they go to the first evicting policy.
        let target = current.filter(|p| *p != MaxmemoryPolicy::NoEviction);
        let index = state.by_policy.iter().position(|(p, _)| Some(*p) == target).unwrap_or(0);
        state.by_policy[index].1 += new;
        state.by_policy.clone()
    }
}

/// Reads the store's and the server's memory counters.
pub struct CacheCollector {
    store: Arc<Store>,
    server: Arc<ServerState>,
    evictions: EvictionsByPolicy,
    descs: Vec<Desc>,
}

impl CacheCollector {
    /// A collector over `store`, with the settings of `server`.
    pub fn new(store: Arc<Store>, server: Arc<ServerState>) -> CacheCollector {
        CacheCollector { store, server, evictions: EvictionsByPolicy::default(), descs: descs(SPECS) }
    }
}

impl Collector for CacheCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let stats = self.store.stats();
        let (keys, with_ttl) = self.store.counts();
        let used = self.store.used_memory();
        let peak = self.store.peak_memory();
        let (maxmemory, policy) = {
            let settings = self.server.settings.read();
            (settings.maxmemory, settings.maxmemory_policy.parse::<MaxmemoryPolicy>().ok())
        };
        let mut evicted = Family::new(&EVICTED);
        for (p, n) in self.evictions.update(stats.evicted_keys.tally(), policy) {
            evicted.add(&[p.as_str()], n as f64);
        }
        vec![
            single(&KEYS, keys as f64),
            single(&KEYS_WITH_TTL, with_ttl as f64),
            single(&MEMORY_USED, used as f64),
            single(&MEMORY_PEAK, peak as f64),
            single(&MEMORY_MAX, maxmemory as f64),
            single(&MEMORY_RSS, proc_kb("/proc/self/status", "VmRSS") as f64),
            single(&HITS, stats.keyspace_hits.tally() as f64),
            single(&MISSES, stats.keyspace_misses.tally() as f64),
            single(&EXPIRED, stats.expired_keys.tally() as f64),
            evicted.finish(),
            single(&OOM_REJECTIONS, stats.oom_rejections.tally() as f64),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(counts: &[(MaxmemoryPolicy, u64)], policy: MaxmemoryPolicy) -> u64 {
        counts.iter().find(|(p, _)| *p == policy).map_or(u64::MAX, |(_, n)| *n)
    }

    #[test]
    fn evictions_go_to_the_policy_in_force_and_never_decrease() {
        let e = EvictionsByPolicy::default();
        let start = e.update(0, Some(MaxmemoryPolicy::NoEviction));
        assert_eq!(start.len(), MaxmemoryPolicy::ALL.len() - 1, "every evicting policy, at zero");
        assert!(start.iter().all(|(_, n)| *n == 0));
        let after = e.update(5, Some(MaxmemoryPolicy::AllkeysLru));
        assert_eq!(count(&after, MaxmemoryPolicy::AllkeysLru), 5);
        let after = e.update(8, Some(MaxmemoryPolicy::VolatileTtl));
        assert_eq!(count(&after, MaxmemoryPolicy::AllkeysLru), 5);
        assert_eq!(count(&after, MaxmemoryPolicy::VolatileTtl), 3);
        let reset = e.update(1, Some(MaxmemoryPolicy::VolatileTtl));
        assert_eq!(count(&reset, MaxmemoryPolicy::AllkeysLru), 0);
        assert_eq!(count(&reset, MaxmemoryPolicy::VolatileTtl), 1);
    }
}
