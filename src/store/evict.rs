//! Making room under `maxmemory` with Redis's eviction policies.
//!
//! As Redis, eviction is approximate: each round samples a few keys
//! (`maxmemory-samples`) and offers them to a small pool of the best
//! candidates seen so far, kept across rounds; the best candidate still
//! present is evicted. Sampling never walks the keyspace: it starts at a
//! random slot, reads the per-slot key counts (atomics, no locks) until it
//! has a window of non-empty slots, draws slots from that window weighted
//! by their counts, and picks random entries within them, locking only
//! those slots.
//!
//! Who may lose keys is the caller's choice: [`super::Store::make_room`]
//! takes a slot filter, so a cluster node can restrict eviction to the
//! slots it owns (replica copies are evicted by their owner).

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::config::MaxmemoryPolicy;
use crate::keyslot::{SLOTS, Slot};

use super::entry::Entry;
use super::{Store, now_ms};

/// Candidates the pool keeps across rounds (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// Non-empty slots a sampling round draws from.
const WINDOW: usize = 16;
/// Sampling rounds one eviction tries before concluding nothing is left.
const MAX_ROUNDS: usize = 16;
/// Most keys one round samples, whatever `maxmemory-samples` says (it
/// accepts up to 2^31 - 1, as Redis's does).
const MAX_SAMPLES: usize = 1024;
/// Milliseconds per tick of the LRU clock: fine enough to order accesses a
/// few milliseconds apart; the 32-bit clock wraps after about 497 days.
pub const LRU_TICK_MS: u64 = 10;
/// Counter of a new key under an LFU policy (Redis's `LFU_INIT_VAL`), so a
/// fresh key is not the first to go.
pub const LFU_INIT: u8 = 5;

/// The memory bound and how it is enforced (Redis's `maxmemory*` and
/// `lfu-*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPolicy {
    /// Bytes of `used_memory` allowed; 0 = unlimited.
    pub maxmemory: u64,
    /// What happens when a write would go past `maxmemory`.
    pub policy: MaxmemoryPolicy,
    /// Keys sampled per eviction round; at least 1.
    pub samples: u32,
    /// How many hits it takes to saturate the LFU counter (Redis's
    /// `lfu-log-factor`, default 10).
    pub lfu_log_factor: u32,
    /// Minutes per decrement of an idle key's LFU counter (Redis's
    /// `lfu-decay-time`, default 1; 0 = never decay).
    pub lfu_decay_time: u32,
}

impl Default for MemoryPolicy {
    fn default() -> Self {
        MemoryPolicy {
            maxmemory: 0,
            policy: MaxmemoryPolicy::NoEviction,
            samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

/// True for the policies that track access frequency rather than recency.
pub fn is_lfu(policy: MaxmemoryPolicy) -> bool {
    matches!(policy, MaxmemoryPolicy::AllkeysLfu | MaxmemoryPolicy::VolatileLfu)
}

fn is_volatile_only(policy: MaxmemoryPolicy) -> bool {
    matches!(
        policy,
        MaxmemoryPolicy::VolatileLru
            | MaxmemoryPolicy::VolatileLfu
            | MaxmemoryPolicy::VolatileRandom
            | MaxmemoryPolicy::VolatileTtl
    )
}

fn is_random(policy: MaxmemoryPolicy) -> bool {
    matches!(policy, MaxmemoryPolicy::AllkeysRandom | MaxmemoryPolicy::VolatileRandom)
}

/// A write refused: memory is over `maxmemory` and nothing (more) may be
/// evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("used memory is over maxmemory and nothing can be evicted")]
pub struct OutOfMemory;

/// [`MemoryPolicy`] in atomics, read on every write and read.
#[derive(Debug)]
pub(super) struct Limits {
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
}

impl Limits {
    pub(super) fn new(p: MemoryPolicy) -> Limits {
        let limits = Limits {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(0),
            samples: AtomicU32::new(0),
            lfu_log_factor: AtomicU32::new(0),
            lfu_decay_time: AtomicU32::new(0),
        };
        limits.set(p);
        limits
    }

    pub(super) fn set(&self, p: MemoryPolicy) {
        let index = MaxmemoryPolicy::ALL.iter().position(|&x| x == p.policy).unwrap_or(0);
        self.maxmemory.store(p.maxmemory, Ordering::Relaxed);
        self.policy.store(index as u8, Ordering::Relaxed);
        self.samples.store(p.samples.max(1), Ordering::Relaxed);
        self.lfu_log_factor.store(p.lfu_log_factor, Ordering::Relaxed);
        self.lfu_decay_time.store(p.lfu_decay_time, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> MemoryPolicy {
        MemoryPolicy {
            maxmemory: self.maxmemory.load(Ordering::Relaxed),
            policy: self.policy(),
            samples: self.samples.load(Ordering::Relaxed),
            lfu_log_factor: self.lfu_log_factor.load(Ordering::Relaxed),
            lfu_decay_time: self.lfu_decay_time.load(Ordering::Relaxed),
        }
    }

    pub(super) fn policy(&self) -> MaxmemoryPolicy {
        MaxmemoryPolicy::ALL[self.policy.load(Ordering::Relaxed) as usize]
    }

    pub(super) fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }

    pub(super) fn lfu_log_factor(&self) -> u32 {
        self.lfu_log_factor.load(Ordering::Relaxed)
    }

    pub(super) fn lfu_decay_time(&self) -> u32 {
        self.lfu_decay_time.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------- LFU

/// The LFU clock: Unix minutes, modulo 2^16 (Redis's `LFUGetTimeInMinutes`).
pub fn lfu_minutes(now_ms: u64) -> u16 {
    ((now_ms / 60_000) & 0xFFFF) as u16
}

/// Packs an access minute and a counter into an entry's `access` field.
pub fn lfu_pack(minutes: u16, counter: u8) -> u32 {
    (minutes as u32) << 8 | counter as u32
}

/// The counter of an `access` field after decaying it by one for every
/// `decay_time` minutes since the key's last access (Redis's
/// `LFUDecrAndReturn`).
pub fn lfu_decayed(access: u32, now_minutes: u16, decay_time: u32) -> u8 {
    let last = ((access >> 8) & 0xFFFF) as u16;
    let counter = (access & 0xFF) as u8;
    if decay_time == 0 {
        return counter;
    }
    // Redis counts a wrapped clock as 65535 - last + now.
    let elapsed = if now_minutes >= last {
        (now_minutes - last) as u32
    } else {
        65535 - last as u32 + now_minutes as u32
    };
    let periods = elapsed / decay_time;
    counter.saturating_sub(periods.min(255) as u8)
}

/// One logarithmic increment (Redis's `LFULogIncr`): the counter grows with
/// probability `1 / ((counter - LFU_INIT) * factor + 1)`; `r` is uniform in
/// [0, 1).
pub fn lfu_log_incr(counter: u8, factor: u32, r: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT) as f64;
    let p = 1.0 / (base * factor as f64 + 1.0);
    if r < p { counter + 1 } else { counter }
}

// ---------------------------------------------------------------- pool

/// A key worth evicting, as seen when it was sampled.
#[derive(Debug, Clone)]
struct Candidate {
    /// Higher is a better victim: idle time, inverse frequency or
    /// nearness of expiry.
    score: u64,
    slot: Slot,
    /// The entry's version and access field when sampled: if either changed
    /// the key was written or used since, and is not evicted on old news.
    version: u64,
    access: u32,
    key: Box<[u8]>,
}

/// The best candidates seen across rounds, worst first.
#[derive(Debug, Default)]
pub(super) struct EvictionPool {
    candidates: Vec<Candidate>,
}

impl EvictionPool {
    /// True if a candidate with `score` would enter the pool.
    fn wants(&self, score: u64) -> bool {
        self.candidates.len() < POOL_SIZE || self.candidates[0].score < score
    }

    fn offer(&mut self, candidate: Candidate) {
        if !self.wants(candidate.score) {
            return;
        }
        if let Some(i) =
            self.candidates.iter().position(|c| c.slot == candidate.slot && c.key == candidate.key)
        {
            self.candidates.remove(i);
        }
        if self.candidates.len() == POOL_SIZE {
            self.candidates.remove(0);
        }
        let at = self.candidates.partition_point(|c| c.score <= candidate.score);
        self.candidates.insert(at, candidate);
    }

    fn pop_best(&mut self) -> Option<Candidate> {
        self.candidates.pop()
    }

    /// Forgets every candidate (after `FLUSHALL`, or a policy change).
    pub(super) fn clear(&mut self) {
        self.candidates.clear();
    }
}

// ---------------------------------------------------------------- store

/// Which entries a sampling round considers.
#[derive(Clone, Copy)]
struct Sampling<'f> {
    policy: MaxmemoryPolicy,
    volatile_only: bool,
    owned: &'f dyn Fn(Slot) -> bool,
}

impl Store {
    /// The memory bound and eviction settings in force.
    pub fn memory_policy(&self) -> MemoryPolicy {
        self.limits.get()
    }

    /// Changes the memory bound and eviction settings (`CONFIG SET`).
    /// Candidates gathered under another policy are dropped.
    pub fn set_memory_policy(&self, p: MemoryPolicy) {
        let before = self.limits.policy();
        self.limits.set(p);
        if before != p.policy {
            self.pool.lock().clear();
        }
    }

    /// Makes room for a write of about `incoming` accounted bytes: while
    /// `used_memory + incoming` is over `maxmemory`, evicts a key per the
    /// policy from the slots `owned` accepts. Fails when the policy is
    /// `noeviction` or nothing evictable is left.
    pub fn make_room(&self, incoming: u64, owned: &dyn Fn(Slot) -> bool) -> Result<(), OutOfMemory> {
        let max = self.limits.maxmemory();
        if max == 0 {
            return Ok(());
        }
        loop {
            if self.used_memory().saturating_add(incoming) <= max {
                return Ok(());
            }
            let policy = self.limits.policy();
            if policy == MaxmemoryPolicy::NoEviction || !self.evict_one(policy, owned) {
                return Err(OutOfMemory);
            }
        }
    }

    /// Removes one key per `policy` (or at least one expired key found
    /// while sampling). False when no candidate could be found.
    fn evict_one(&self, policy: MaxmemoryPolicy, owned: &dyn Fn(Slot) -> bool) -> bool {
        let how = Sampling { policy, volatile_only: is_volatile_only(policy), owned };
        if is_random(policy) {
            return (0..MAX_ROUNDS).any(|_| self.evict_random(how));
        }
        let mut pool = self.pool.lock();
        for _ in 0..MAX_ROUNDS {
            let (sampled, expired) = self.populate(&mut pool, how);
            if expired > 0 {
                return true;
            }
            while let Some(candidate) = pool.pop_best() {
                if self.evict_candidate(&candidate, how) {
                    return true;
                }
            }
            if sampled == 0 {
                return false;
            }
        }
        false
    }

    /// Evicts `c` if it is still there as it was sampled.
    fn evict_candidate(&self, c: &Candidate, how: Sampling<'_>) -> bool {
        let mut table = self.slots[c.slot as usize].lock();
        let same = table.peek(&c.key).is_some_and(|e| {
            e.version == c.version && e.access == c.access && (!how.volatile_only || e.is_volatile())
        });
        if !same {
            return false;
        }
        let (_, delta) = table.remove(&c.key);
        self.note_slot(c.slot, &table);
        drop(table);
        self.account(delta);
        self.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
        self.note_evicted(&c.key);
        true
    }

    /// One random key (among keys with a TTL for `volatile-random`).
    fn evict_random(&self, how: Sampling<'_>) -> bool {
        let Some(&slot) = self.draw_slots(how, 1).first() else { return false };
        let now = now_ms();
        let mut table = self.slots[slot as usize].lock();
        let eligible = if how.volatile_only { table.volatile_len() } else { table.len() };
        if eligible == 0 {
            return false;
        }
        let n = rand::random_range(0..eligible);
        let Some(key) = table
            .iter()
            .filter(|(_, e)| !how.volatile_only || e.is_volatile())
            .nth(n)
            .map(|(k, e)| (Box::<[u8]>::from(k), e.is_expired(now)))
        else {
            return false;
        };
        let (_, delta) = table.remove(&key.0);
        self.note_slot(slot, &table);
        drop(table);
        self.account(delta);
        let counter = if key.1 { &self.stats.expired_keys } else { &self.stats.evicted_keys };
        counter.fetch_add(1, Ordering::Relaxed);
        if !key.1 {
            self.note_evicted(&key.0);
        }
        true
    }

    /// Samples up to `samples` entries into the pool. Expired entries met
    /// on the way are removed as expiry does. Returns (entries sampled,
    /// expired entries removed).
    fn populate(&self, pool: &mut EvictionPool, how: Sampling<'_>) -> (usize, usize) {
        let samples = (self.limits.get().samples as usize).min(MAX_SAMPLES);
        let mut draws = self.draw_slots(how, samples);
        draws.sort_unstable();
        let now = now_ms();
        let lru_now = self.lru_now();
        let lfu_now = lfu_minutes(now);
        let decay = self.limits.lfu_decay_time();
        let (mut sampled, mut expired) = (0, 0);
        for group in draws.chunk_by(|a, b| a == b) {
            let slot = group[0];
            let mut table = self.slots[slot as usize].lock();
            let eligible = if how.volatile_only { table.volatile_len() } else { table.len() };
            if eligible == 0 {
                continue;
            }
            let mut saw_expired = false;
            for _ in group {
                let n = rand::random_range(0..eligible);
                let found = table.iter().filter(|(_, e)| !how.volatile_only || e.is_volatile()).nth(n);
                let Some((key, entry)) = found else { continue };
                sampled += 1;
                if entry.is_expired(now) {
                    saw_expired = true;
                    continue;
                }
                let score = match how.policy {
                    MaxmemoryPolicy::VolatileTtl => u64::MAX - entry.expires_at,
                    p if is_lfu(p) => 255 - lfu_decayed(entry.access, lfu_now, decay) as u64,
                    _ => lru_now.wrapping_sub(entry.access) as u64,
                };
                if pool.wants(score) {
                    pool.offer(Candidate {
                        score,
                        slot,
                        version: entry.version,
                        access: entry.access,
                        key: key.into(),
                    });
                }
            }
            if saw_expired {
                let (n, delta) = table.remove_where(|e| e.is_expired(now));
                self.note_slot(slot, &table);
                drop(table);
                self.account(delta);
                self.stats.expired_keys.fetch_add(n as u64, Ordering::Relaxed);
                expired += n;
            }
        }
        (sampled, expired)
    }

    /// Draws `n` slots (with repetition) that hold eligible keys, each with
    /// probability proportional to its count of eligible keys among a
    /// window of up to [`WINDOW`] such slots after a random start. Reads
    /// only the per-slot counters; empty when no slot qualifies.
    fn draw_slots(&self, how: Sampling<'_>, n: usize) -> Vec<Slot> {
        let counts = if how.volatile_only { &self.counts.volatile } else { &self.counts.keys };
        let start = rand::random_range(0..SLOTS);
        let mut window: smallvec::SmallVec<[(Slot, u64); WINDOW]> = smallvec::SmallVec::new();
        let mut total = 0u64;
        for i in 0..SLOTS {
            let slot = (start + i) % SLOTS;
            let count = counts[slot].load(Ordering::Relaxed) as u64;
            if count == 0 || !(how.owned)(slot as Slot) {
                continue;
            }
            total += count;
            window.push((slot as Slot, total));
            if window.len() == WINDOW {
                break;
            }
        }
        if total == 0 {
            return Vec::new();
        }
        (0..n)
            .map(|_| {
                let r = rand::random_range(0..total);
                window[window.partition_point(|&(_, upto)| upto <= r)].0
            })
            .collect()
    }

    /// Refreshes what eviction knows of a key's use: its LFU counter under
    /// an LFU policy, else its LRU time. Nothing while the running command
    /// leaves keys untouched (`CLIENT NO-TOUCH`, see [`super::leave_untouched`]).
    pub fn touch(&self, entry: &mut Entry) {
        if super::clock::is_untouched() {
            return;
        }
        entry.access = if is_lfu(self.limits.policy()) {
            let now = lfu_minutes(now_ms());
            let counter = lfu_decayed(entry.access, now, self.limits.lfu_decay_time());
            let counter = lfu_log_incr(counter, self.limits.lfu_log_factor(), rand::random::<f64>());
            lfu_pack(now, counter)
        } else {
            self.lru_now()
        };
    }

    /// The `access` field of a new key.
    pub fn fresh_access(&self) -> u32 {
        if is_lfu(self.limits.policy()) { lfu_pack(lfu_minutes(now_ms()), LFU_INIT) } else { self.lru_now() }
    }

    /// The decayed LFU counter of an entry (`OBJECT FREQ`); meaningful under
    /// an LFU policy only.
    pub fn lfu_counter(&self, entry: &Entry) -> u8 {
        lfu_decayed(entry.access, lfu_minutes(now_ms()), self.limits.lfu_decay_time())
    }

    /// Seconds since the entry was last used (`OBJECT IDLETIME`);
    /// meaningful under a non-LFU policy only.
    pub fn idle_secs(&self, entry: &Entry) -> u64 {
        self.lru_now().wrapping_sub(entry.access) as u64 * LRU_TICK_MS / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;
    use bytes::Bytes;

    fn value(len: usize) -> Value {
        Value::Str(Bytes::from(vec![b'x'; len]))
    }

    /// How many of the keys `k0`..`k999` still exist among the hot ones
    /// (every tenth) or the cold ones (the rest).
    fn survivors(store: &Store, hot: bool) -> usize {
        (0..1000)
            .filter(|i| (i % 10 == 0) == hot)
            .filter(|i| {
                let key = format!("k{i}");
                store.lock(key.as_bytes()).exists(key.as_bytes())
            })
            .count()
    }

    fn fill(store: &Store, n: usize, ttl: bool) {
        let expires = if ttl { now_ms() + 3_600_000 } else { 0 };
        for i in 0..n {
            let key = format!("{}{i}", if ttl { "v" } else { "k" });
            store.lock(key.as_bytes()).set(key.as_bytes(), value(100), expires);
        }
    }

    fn policy(policy: MaxmemoryPolicy, maxmemory: u64) -> MemoryPolicy {
        MemoryPolicy { maxmemory, policy, ..MemoryPolicy::default() }
    }

    const ALL: &dyn Fn(Slot) -> bool = &|_| true;

    /// A limit that leaves room for `fraction` of what the keys take now.
    fn keep(store: &Store, fraction: f64) -> u64 {
        let base = store.base_memory();
        base + ((store.used_memory() - base) as f64 * fraction) as u64
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        assert_eq!(lfu_log_incr(LFU_INIT, 10, 0.99), LFU_INIT + 1, "below INIT+1 it always grows");
        assert_eq!(lfu_log_incr(15, 10, 0.5), 15, "p = 1/101");
        assert_eq!(lfu_log_incr(15, 10, 0.009), 16);
        assert_eq!(lfu_log_incr(255, 0, 0.0), 255);
        let access = lfu_pack(100, 20);
        assert_eq!(lfu_decayed(access, 100, 1), 20);
        assert_eq!(lfu_decayed(access, 107, 1), 13);
        assert_eq!(lfu_decayed(access, 107, 2), 17);
        assert_eq!(lfu_decayed(access, 107, 0), 20);
        assert_eq!(lfu_decayed(access, 500, 1), 0);
        // The minute clock wrapped: 65535 - 65530 + 3 minutes passed.
        assert_eq!(lfu_decayed(lfu_pack(65530, 20), 3, 1), 12);
        let mut rng_counter = LFU_INIT;
        for i in 0..100_000u32 {
            rng_counter = lfu_log_incr(rng_counter, 10, (i as f64 * 0.618_033_988_7).fract());
        }
        // Redis's table for factor 10: about 142 after 100k hits.
        assert!((120..170).contains(&rng_counter), "100k hits with factor 10: {rng_counter}");
    }

    #[test]
    fn pool_keeps_the_best_candidates() {
        let mut pool = EvictionPool::default();
        for score in [5u64, 1, 9, 3, 7] {
            for i in 0..5u64 {
                let key = format!("{score}-{i}").into_bytes().into_boxed_slice();
                pool.offer(Candidate { score: score * 10 + i, slot: 0, version: 0, access: 0, key });
            }
        }
        assert_eq!(pool.candidates.len(), POOL_SIZE);
        assert!(pool.candidates.windows(2).all(|w| w[0].score <= w[1].score));
        assert!(!pool.wants(10), "worse than every candidate kept");
        assert_eq!(pool.pop_best().map(|c| c.score), Some(94));
        let again = pool.candidates[3].clone();
        pool.offer(Candidate { score: 200, ..again.clone() });
        assert_eq!(pool.candidates.iter().filter(|c| c.key == again.key).count(), 1);
        assert_eq!(pool.pop_best().map(|c| c.key), Some(again.key));
    }

    #[test]
    fn draws_only_eligible_owned_slots() {
        let store = Store::new();
        let how =
            |volatile_only, owned| Sampling { policy: MaxmemoryPolicy::AllkeysLru, volatile_only, owned };
        assert!(store.draw_slots(how(false, ALL), 5).is_empty());
        store.lock(b"a").set(b"a", value(1), 0);
        store.lock(b"b").set(b"b", value(1), now_ms() + 60_000);
        let a = crate::keyslot::key_slot(b"a");
        let b = crate::keyslot::key_slot(b"b");
        let drawn = store.draw_slots(how(false, ALL), 200);
        assert!(drawn.contains(&a) && drawn.contains(&b));
        assert!(store.draw_slots(how(true, ALL), 50).iter().all(|&s| s == b));
        let not_b = move |s: Slot| s != b;
        assert!(store.draw_slots(how(false, &not_b), 50).iter().all(|&s| s == a));
        assert!(store.draw_slots(how(true, &not_b), 50).is_empty());
    }

    #[test]
    fn noeviction_refuses_and_unlimited_allows() {
        let store = Store::new();
        fill(&store, 100, false);
        assert_eq!(store.make_room(1 << 40, ALL), Ok(()), "maxmemory 0 is unlimited");
        let used = store.used_memory();
        store.set_memory_policy(policy(MaxmemoryPolicy::NoEviction, used + 1000));
        assert_eq!(store.make_room(500, ALL), Ok(()));
        assert_eq!(store.make_room(2000, ALL), Err(OutOfMemory));
        assert_eq!(store.counts().0, 100);
    }

    #[test]
    fn every_policy_evicts_down_to_the_limit() {
        for p in MaxmemoryPolicy::ALL.iter().copied().filter(|&p| p != MaxmemoryPolicy::NoEviction) {
            let store = Store::new();
            fill(&store, 500, false);
            fill(&store, 500, true);
            let limit = keep(&store, 0.5);
            store.set_memory_policy(policy(p, limit));
            assert_eq!(store.make_room(0, ALL), Ok(()), "{p}");
            assert!(store.used_memory() <= limit, "{p}");
            let (keys, volatile) = store.counts();
            let evicted = store.stats().evicted_keys.load(Ordering::Relaxed) as usize;
            assert_eq!(keys + evicted, 1000, "{p}");
            if is_volatile_only(p) {
                assert_eq!(keys - volatile, 500, "{p} keeps every key without a TTL");
            }
        }
    }

    #[test]
    fn volatile_policies_fail_once_no_ttl_key_is_left() {
        let store = Store::new();
        fill(&store, 50, false);
        fill(&store, 10, true);
        store.set_memory_policy(policy(MaxmemoryPolicy::VolatileLru, 1));
        assert_eq!(store.make_room(0, ALL), Err(OutOfMemory));
        assert_eq!(store.counts(), (50, 0));
        assert_eq!(store.stats().evicted_keys.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn eviction_respects_the_slot_filter() {
        let store = Store::new();
        fill(&store, 300, false);
        let keep = crate::keyslot::key_slot(b"k1");
        let others = move |s: Slot| s != keep;
        store.set_memory_policy(policy(MaxmemoryPolicy::AllkeysRandom, 1));
        assert_eq!(store.make_room(0, &others), Err(OutOfMemory));
        assert!(store.lock(b"k1").exists(b"k1"));
        assert!(store.counts().0 >= 1);
    }

    #[test]
    fn volatile_ttl_evicts_the_nearest_expiry_first() {
        let store = Store::new();
        let now = now_ms();
        for i in 0..200u64 {
            let key = format!("t{i}");
            store.lock(key.as_bytes()).set(key.as_bytes(), value(100), now + 1_000_000 + i * 1000);
        }
        let limit = keep(&store, 0.75);
        store.set_memory_policy(MemoryPolicy { samples: 10, ..policy(MaxmemoryPolicy::VolatileTtl, limit) });
        store.make_room(0, ALL).unwrap();
        let survivors: Vec<u64> = (0..200u64)
            .filter(|i| store.lock(format!("t{i}").as_bytes()).exists(format!("t{i}").as_bytes()))
            .collect();
        let early = survivors.iter().filter(|&&i| i < 50).count();
        let late = survivors.iter().filter(|&&i| i >= 150).count();
        assert!(early < late, "soonest expiries go first: {early} early vs {late} late survivors");
    }

    #[test]
    fn lru_keeps_recently_used_keys() {
        let store = Store::new();
        fill(&store, 1000, false);
        let now = store.lru_now();
        for i in 0..1000 {
            let key = format!("k{i}");
            let access = if i % 10 == 0 { now } else { now.wrapping_sub(1000) };
            store.lock(key.as_bytes()).get(key.as_bytes()).unwrap().access = access;
        }
        store.set_memory_policy(policy(MaxmemoryPolicy::AllkeysLru, keep(&store, 0.5)));
        store.make_room(0, ALL).unwrap();
        let alive = |hot: bool| survivors(&store, hot);
        let (hot, cold) = (alive(true), alive(false));
        assert!(hot as f64 / 100.0 > cold as f64 / 900.0 + 0.2, "hot {hot}/100 vs cold {cold}/900");
    }

    #[test]
    fn lfu_keeps_frequently_used_keys() {
        let store = Store::new();
        store.set_memory_policy(policy(MaxmemoryPolicy::AllkeysLfu, 0));
        fill(&store, 1000, false);
        for i in (0..1000).step_by(10) {
            let key = format!("k{i}");
            for _ in 0..50 {
                store.lock(key.as_bytes()).read(key.as_bytes());
            }
        }
        store.set_memory_policy(policy(MaxmemoryPolicy::AllkeysLfu, keep(&store, 0.5)));
        store.make_room(0, ALL).unwrap();
        let alive = |hot: bool| survivors(&store, hot);
        assert!(alive(true) >= 95, "frequently read keys survive: {}", alive(true));
        assert!(alive(false) < 900);
    }
}
