//! The store: every key this node holds, grouped by hash slot.
//!
//! Pure (no sockets, no tasks). Each of the 16384 slots has its own table
//! behind its own lock, so a slot's keys can be counted, listed and moved
//! without scanning the node (migration, `CLUSTER COUNTKEYSINSLOT`), and
//! requests on different slots rarely contend.
//!
//! Commands lock the slots they touch through [`Store::lock`] (one key) or
//! [`Store::lock_slots`] (several, in ascending order so two commands never
//! deadlock). Expiry is lazy on access ([`Locked::get`]) plus
//! [`Store::expire_cycle`], run periodically by the server.
//!
//! Memory used ([`Store::used_memory`]) is the sum of what every slot
//! accounts (nodes, keys and values as the allocator sizes them, bucket
//! arrays) plus the store's fixed structures. [`Store::make_room`] keeps it
//! under `maxmemory` by evicting per Redis's policies (see `evict.rs`).

mod clock;
mod entry;
mod evict;
mod hash;
mod table;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use bytes::Bytes;

use parking_lot::{Mutex, MutexGuard, RwLockReadGuard};

pub use clock::{FrozenNow, HybridClock, Untouched, freeze_now, leave_untouched, now_ms};
pub use entry::{Entry, SHARED_HEADER, Value, alloc_size};
pub use evict::{LFU_INIT, LRU_TICK_MS, MemoryPolicy, OutOfMemory, is_lfu};
pub use hash::{Hash, MAX_PACKED_ENTRIES, MAX_PACKED_VALUE};
pub use table::{ENTRY_OVERHEAD, INLINE_KEY, SlotTable, key_heap_size};

use crate::keyslot::{SLOTS, Slot, key_slot};
use crate::util::striped::{Counter, StripedRwLock, StripedWriteGuard};

/// Counters the store keeps for `INFO` and metrics, striped per thread
/// ([`Counter`]): reads count on every request.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Keys removed because their TTL passed (lazily or by the active cycle).
    pub expired_keys: Counter,
    /// Reads that found their key.
    pub keyspace_hits: Counter,
    /// Reads that did not.
    pub keyspace_misses: Counter,
    /// Keys evicted to make room under `maxmemory` (`INFO` `evicted_keys`).
    pub evicted_keys: Counter,
    /// Writes refused because memory would exceed `maxmemory` (`-OOM`).
    pub oom_rejections: AtomicU64,
}

/// What `WATCH` remembers of a key, to tell at `EXEC` whether it changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyStamp {
    /// The live entry's version; 0 when the key does not exist.
    pub version: u64,
    /// Removals from the key's slot so far (see [`SlotTable::removals`]).
    pub removals: u64,
}

impl KeyStamp {
    /// True when a key stamped `self` earlier, stamped `now` at present,
    /// may have changed in between. A live key changed when its version
    /// did (every write stamps a new one; deletion and expiry leave none).
    /// An absent key changed when it exists now, or when its slot lost
    /// an entry meanwhile (it may have been created and deleted again):
    /// conservative, as another key of the slot may have been removed.
    pub fn changed_since(&self, now: &KeyStamp) -> bool {
        if self.version != 0 {
            now.version != self.version
        } else {
            now.version != 0 || now.removals != self.removals
        }
    }
}

/// Per-slot key counts readable without the slot's lock, so eviction can
/// pick non-empty slots cheaply. Written under the slot's lock whenever a
/// change leaves the slot's counts different from what is published.
#[derive(Debug)]
struct SlotCounts {
    keys: Box<[AtomicU32]>,
    volatile: Box<[AtomicU32]>,
}

impl SlotCounts {
    fn new() -> SlotCounts {
        let zeros = || (0..SLOTS).map(|_| AtomicU32::new(0)).collect();
        SlotCounts { keys: zeros(), volatile: zeros() }
    }
}

/// Every key this node holds.
pub struct Store {
    slots: Box<[SlotCell]>,
    /// Taken shared by every command and exclusively by those that must see
    /// or change the whole keyspace at once (`FLUSHALL`, `EXEC`).
    gate: StripedRwLock,
    used: AtomicI64,
    /// Highest `used` seen.
    peak: AtomicU64,
    /// What the store's own structures take before any key is stored.
    base: u64,
    clock: HybridClock,
    stats: StoreStats,
    lru_epoch_ms: u64,
    limits: evict::Limits,
    pool: Mutex<evict::EvictionPool>,
    counts: SlotCounts,
    /// The slots this node owns, one bit each: what DBSIZE, KEYS, SCAN and
    /// RANDOMKEY see and what eviction takes from. Every slot until the
    /// node learns otherwise; the other slots hold replica copies.
    owned: Box<[AtomicU64]>,
    /// Keys evicted since the last [`Store::take_evicted`], kept only while
    /// [`Store::record_evictions`] is on (their deletion must replicate).
    evicted: Mutex<Vec<Bytes>>,
    recording_evictions: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("used_memory", &self.used_memory()).finish_non_exhaustive()
    }
}

/// One slot's lock and table header, on a cache line of their own: a
/// request for a random key then misses one line here, not two, and slots
/// locked by different threads never share a line.
#[derive(Debug)]
#[repr(align(64))]
struct SlotCell(Mutex<SlotTable>);

impl std::ops::Deref for SlotCell {
    type Target = Mutex<SlotTable>;

    fn deref(&self) -> &Mutex<SlotTable> {
        &self.0
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        let slots = (0..SLOTS).map(|_| SlotCell(Mutex::new(SlotTable::new()))).collect();
        let base = std::mem::size_of::<Store>()
            + SLOTS * std::mem::size_of::<SlotCell>()
            + 2 * SLOTS * std::mem::size_of::<AtomicU32>();
        Store {
            slots,
            gate: StripedRwLock::new(),
            used: AtomicI64::new(base as i64),
            peak: AtomicU64::new(base as u64),
            base: base as u64,
            clock: HybridClock::new(),
            stats: StoreStats::default(),
            lru_epoch_ms: now_ms(),
            limits: evict::Limits::new(MemoryPolicy::default()),
            pool: Mutex::new(evict::EvictionPool::default()),
            counts: SlotCounts::new(),
            owned: (0..SLOTS / 64).map(|_| AtomicU64::new(u64::MAX)).collect(),
            evicted: Mutex::new(Vec::new()),
            recording_evictions: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether this node owns `slot` (see the `owned` field).
    pub fn owns(&self, slot: usize) -> bool {
        self.owned[slot / 64].load(Ordering::Relaxed) & (1 << (slot % 64)) != 0
    }

    /// Sets which slots this node owns.
    pub fn set_owned(&self, owned: impl Fn(Slot) -> bool) {
        for (word, bits) in self.owned.iter().enumerate() {
            let mut value = 0u64;
            for bit in 0..64 {
                if owned((word * 64 + bit) as Slot) {
                    value |= 1 << bit;
                }
            }
            bits.store(value, Ordering::Relaxed);
        }
    }

    /// Turns on (or off) keeping the keys eviction removes, for
    /// [`Store::take_evicted`].
    pub fn record_evictions(&self, on: bool) {
        self.recording_evictions.store(on, Ordering::Relaxed);
        if !on {
            self.evicted.lock().clear();
        }
    }

    /// The keys evicted since the last call (only while recording).
    pub fn take_evicted(&self) -> Vec<Bytes> {
        if !self.recording_evictions.load(Ordering::Relaxed) {
            return Vec::new();
        }
        std::mem::take(&mut *self.evicted.lock())
    }

    fn note_evicted(&self, key: &[u8]) {
        if self.recording_evictions.load(Ordering::Relaxed) {
            self.evicted.lock().push(Bytes::copy_from_slice(key));
        }
    }

    /// Removes every key of `slot` (a copy this node no longer holds).
    /// Returns how many were removed.
    pub fn clear_slot(&self, slot: Slot) -> usize {
        let mut table = self.slots[slot as usize].lock();
        let (n, delta) = table.clear();
        self.note_slot(slot, &table);
        drop(table);
        self.account(delta);
        n
    }

    /// Publishes a slot's counts after a change (call with its lock held).
    fn note_slot(&self, slot: impl Into<usize>, table: &SlotTable) {
        let slot = slot.into();
        for (published, now) in
            [(&self.counts.keys[slot], table.len()), (&self.counts.volatile[slot], table.volatile_len())]
        {
            let now = now as u32;
            if published.load(Ordering::Relaxed) != now {
                published.store(now, Ordering::Relaxed);
            }
        }
    }

    /// Shared access for one command (see the `gate` field).
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read()
    }

    /// Exclusive access to the whole keyspace: no other command runs until
    /// the guard drops.
    pub fn exclusive(&self) -> StripedWriteGuard<'_> {
        self.gate.write()
    }

    /// Locks the slot of `key`.
    pub fn lock(&self, key: &[u8]) -> Locked<'_> {
        self.lock_slot(key_slot(key))
    }

    /// Locks one slot.
    pub fn lock_slot(&self, slot: Slot) -> Locked<'_> {
        Locked { store: self, tables: smallvec::smallvec![(slot, self.slots[slot as usize].lock())] }
    }

    /// Locks the slots of all `keys`, in ascending slot order.
    pub fn lock_keys<K: AsRef<[u8]>>(&self, keys: &[K]) -> Locked<'_> {
        self.lock_slots(keys.iter().map(|k| key_slot(k.as_ref())))
    }

    /// Locks the given slots (duplicates allowed), in ascending order.
    pub fn lock_slots(&self, slots: impl IntoIterator<Item = Slot>) -> Locked<'_> {
        let mut wanted: Vec<Slot> = slots.into_iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let tables = wanted.into_iter().map(|s| (s, self.slots[s as usize].lock())).collect();
        Locked { store: self, tables }
    }

    /// Accounted bytes of everything stored, the store's own fixed
    /// structures included (DESIGN.md section 5's memory used).
    pub fn used_memory(&self) -> u64 {
        self.used.load(Ordering::Relaxed).max(0) as u64
    }

    /// The highest [`Store::used_memory`] since start or the last
    /// [`Store::reset_peak`].
    pub fn peak_memory(&self) -> u64 {
        self.peak.load(Ordering::Relaxed).max(self.used_memory())
    }

    /// Restarts the peak from the current use (`CONFIG RESETSTAT`).
    pub fn reset_peak(&self) {
        self.peak.store(self.used_memory(), Ordering::Relaxed);
    }

    /// The part of [`Store::used_memory`] taken by the empty store.
    pub fn base_memory(&self) -> u64 {
        self.base
    }

    /// The version clock.
    pub fn clock(&self) -> &HybridClock {
        &self.clock
    }

    /// Hit, miss and expiry counters.
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// The LRU clock: ticks of [`LRU_TICK_MS`] since the store was
    /// created, wrapping at 2^32.
    pub fn lru_now(&self) -> u32 {
        (now_ms().saturating_sub(self.lru_epoch_ms) / LRU_TICK_MS) as u32
    }

    /// Milliseconds of the LRU clock's epoch.
    pub fn lru_epoch_ms(&self) -> u64 {
        self.lru_epoch_ms
    }

    /// Number of keys in one slot (expired ones not yet removed included).
    pub fn slot_len(&self, slot: Slot) -> usize {
        self.slots[slot as usize].lock().len()
    }

    /// Key count and count of keys with a TTL, over the slots this node
    /// owns (replica copies are not counted).
    pub fn counts(&self) -> (usize, usize) {
        self.slots.iter().enumerate().filter(|(slot, _)| self.owns(*slot)).fold(
            (0, 0),
            |(keys, volatile), (_, t)| {
                let t = t.lock();
                (keys + t.len(), volatile + t.volatile_len())
            },
        )
    }

    /// Key count over every slot, replica copies included.
    pub fn held_keys(&self) -> usize {
        self.slots.iter().map(|t| t.lock().len()).sum()
    }

    /// Removes every key. Returns how many were removed.
    pub fn flush(&self) -> usize {
        let mut removed = 0;
        for slot in 0..SLOTS {
            let mut table = self.slots[slot].lock();
            let (n, delta) = table.clear();
            self.note_slot(slot, &table);
            drop(table);
            removed += n;
            self.account(delta);
        }
        self.pool.lock().clear();
        removed
    }

    /// Visits the non-empty slots in ascending order from `start`, one locked
    /// at a time, until `visit` breaks or the last slot was visited. Returns the slot
    /// after the last one visited ([`SLOTS`] when the walk reached the end).
    ///
    /// Not a snapshot: other commands run between slots. Expired entries not
    /// yet removed are visited too; check [`Entry::is_expired`].
    pub fn walk_slots(
        &self,
        start: usize,
        mut visit: impl FnMut(Slot, &SlotTable) -> ControlFlow<()>,
    ) -> usize {
        for slot in start..SLOTS {
            if !self.owns(slot) {
                continue;
            }
            let table = self.slots[slot].lock();
            if !table.is_empty() && visit(slot as Slot, &table).is_break() {
                return slot + 1;
            }
        }
        SLOTS
    }

    /// A random live key, or `None` when the store holds none.
    ///
    /// Picks a slot with probability proportional to its entry count (one
    /// pass over the slots), removes that slot's expired entries, then picks
    /// one of its keys uniformly; if the slot turned out to hold only
    /// expired keys it tries again. Gives up (`None`) after a bounded number
    /// of tries, which only concurrent deletions can exhaust.
    pub fn random_key(&self) -> Option<Bytes> {
        const TRIES: usize = 64;
        for _ in 0..TRIES {
            let slot = self.weighted_random_slot()?;
            let now = now_ms();
            let mut table = self.slots[slot].lock();
            if table.volatile_len() > 0 {
                let (removed, delta) = table.remove_where(|e| e.is_expired(now));
                self.note_slot(slot, &table);
                self.account(delta);
                self.stats.expired_keys.fetch_add(removed as u64, Ordering::Relaxed);
            }
            if table.is_empty() {
                continue;
            }
            let n = rand::random_range(0..table.len());
            return table.nth(n).map(|(key, _)| Bytes::copy_from_slice(key));
        }
        None
    }

    /// A slot chosen with probability proportional to its entry count
    /// (weighted reservoir sampling), or `None` if every slot is empty.
    fn weighted_random_slot(&self) -> Option<usize> {
        let mut total = 0usize;
        let mut chosen = None;
        for (slot, table) in self.slots.iter().enumerate() {
            if !self.owns(slot) {
                continue;
            }
            let len = table.lock().len();
            if len == 0 {
                continue;
            }
            total += len;
            if rand::random_range(0..total) < len {
                chosen = Some(slot);
            }
        }
        chosen
    }

    /// One step of active expiry, as Redis's cycle: visits slots from
    /// `*cursor`, removing expired keys from those that hold keys with a TTL,
    /// until about `budget` entries were examined (a slot without TTLs
    /// counts as one). Returns (examined, removed).
    pub fn expire_cycle(&self, cursor: &mut usize, budget: usize) -> (usize, usize) {
        let now = now_ms();
        let (mut examined, mut removed) = (0, 0);
        for _ in 0..SLOTS {
            let slot = *cursor % SLOTS;
            *cursor = (slot + 1) % SLOTS;
            let mut table = self.slots[slot].lock();
            if table.volatile_len() == 0 {
                // A visit costs a lock even when there is nothing to do:
                // it counts, so one step never walks all 16384 slots.
                examined += 1;
                if examined >= budget {
                    break;
                }
                continue;
            }
            examined += table.len();
            let (n, delta) = table.remove_where(|e| e.is_expired(now));
            self.note_slot(slot, &table);
            drop(table);
            removed += n;
            self.account(delta);
            if examined >= budget {
                break;
            }
        }
        self.stats.expired_keys.fetch_add(removed as u64, Ordering::Relaxed);
        (examined, removed)
    }

    fn account(&self, delta: isize) {
        if delta != 0 {
            let now = self.used.fetch_add(delta as i64, Ordering::Relaxed) + delta as i64;
            // Only a growth past the peak writes it.
            if delta > 0 && now as u64 > self.peak.load(Ordering::Relaxed) {
                self.peak.fetch_max(now as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Slots locked for one command. Reads through it expire keys lazily.
pub struct Locked<'a> {
    store: &'a Store,
    /// Most commands touch one slot: kept inline, no allocation per command.
    tables: smallvec::SmallVec<[(Slot, MutexGuard<'a, SlotTable>); 2]>,
}

impl<'a> Locked<'a> {
    fn table(&mut self, key: &[u8]) -> &mut SlotTable {
        if self.tables.len() == 1 {
            // One slot locked (most commands): the key's slot is not worked
            // out again on every access, only checked in debug builds.
            let (slot, table) = &mut self.tables[0];
            debug_assert_eq!(*slot, key_slot(key), "command touched a key whose slot it did not lock");
            return table;
        }
        let slot = key_slot(key);
        let (_, table) = self
            .tables
            .iter_mut()
            .find(|(s, _)| *s == slot)
            .expect("command touched a key whose slot it did not lock");
        table
    }

    /// The store these slots belong to.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The live entry of `key`: removes it first if its TTL has passed.
    /// Does not count hits or misses (see [`Locked::read`]).
    pub fn get(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now = now_ms();
        let store = self.store;
        let table = self.table(key);
        if table.peek(key).is_some_and(|e| e.is_expired(now)) {
            let (_, delta) = table.remove(key);
            store.account(delta);
            store.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        table.peek_mut(key)
    }

    /// Like [`Locked::get`] for a read command: counts a keyspace hit or
    /// miss and refreshes the entry's access time.
    pub fn read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let store = self.store;
        match self.get(key) {
            Some(e) => {
                store.stats.keyspace_hits.fetch_add(1, Ordering::Relaxed);
                store.touch(e);
                Some(e)
            }
            None => {
                store.stats.keyspace_misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Like [`Locked::read`] but leaves the access time alone, for commands
    /// that look at a key without using it (`EXISTS`, `TYPE`, `TTL`; Redis's
    /// `LOOKUP_NOTOUCH`).
    pub fn read_untouched(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let stats = &self.store.stats;
        let entry = self.get(key);
        let counter = if entry.is_some() { &stats.keyspace_hits } else { &stats.keyspace_misses };
        counter.fetch_add(1, Ordering::Relaxed);
        entry
    }

    /// The key's stamp for `WATCH` (expiring it first if its TTL passed).
    pub fn stamp(&mut self, key: &[u8]) -> KeyStamp {
        let version = self.get(key).map_or(0, |e| e.version);
        KeyStamp { version, removals: self.table(key).removals() }
    }

    /// True if `key` exists (and has not expired).
    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Stores `value` under `key` with a fresh version, replacing what was
    /// there; `expires_at` 0 means no TTL. Returns the replaced entry.
    ///
    /// Under an LFU policy an overwritten key keeps its (touched) frequency,
    /// as Redis's does; otherwise the access time is now.
    pub fn set(&mut self, key: &[u8], value: Value, expires_at: u64) -> Option<Entry> {
        let store = self.store;
        let (old_version, access) = match self.get(key) {
            Some(old) if is_lfu(store.limits.policy()) => {
                store.touch(old);
                (old.version, old.access)
            }
            Some(old) => (old.version, store.lru_now()),
            None => (0, store.fresh_access()),
        };
        let version = store.clock.next_after(old_version);
        self.put(key, Entry { value, expires_at, version, access })
    }

    /// Stores a whole entry as given (its version included).
    pub fn put(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        let store = self.store;
        let (old, delta) = self.table(key).insert(key, entry);
        store.account(delta);
        old
    }

    /// Changes the live entry of `key` in place with `f` (value and expiry
    /// may change) and stamps a new version. `None` if the key is absent.
    pub fn update<R>(&mut self, key: &[u8], f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        self.get(key)?;
        let store = self.store;
        let (result, delta) = self.table(key).replace_with(key, |e| {
            let r = f(e);
            e.version = store.clock.next_after(e.version);
            store.touch(e);
            r
        })?;
        store.account(delta);
        Some(result)
    }

    /// Removes `key` if it exists and has not expired; returns its entry.
    pub fn delete(&mut self, key: &[u8]) -> Option<Entry> {
        self.get(key)?;
        let store = self.store;
        let (old, delta) = self.table(key).remove(key);
        store.account(delta);
        old
    }

    /// Applies a copy's state of `key` at `version` from its owner: the
    /// entry (or `None`: deleted) replaces what is here only if what is
    /// here is older. Returns whether it did. Later local versions stay
    /// newer than `version`.
    pub fn apply(&mut self, key: &[u8], version: u64, entry: Option<Entry>) -> bool {
        let store = self.store;
        store.clock.observe(version);
        let table = self.table(key);
        if table.peek(key).is_some_and(|e| e.version >= version) {
            return false;
        }
        let delta = match entry {
            Some(entry) => table.insert(key, entry).1,
            None => match table.remove(key) {
                (Some(_), delta) => delta,
                (None, _) => return false,
            },
        };
        store.account(delta);
        true
    }

    /// The locked table of one slot (for commands that walk a slot).
    pub fn slot_table(&mut self, slot: Slot) -> Option<&mut SlotTable> {
        self.tables.iter_mut().find(|(s, _)| *s == slot).map(|(_, t)| &mut **t)
    }
}

impl Drop for Locked<'_> {
    /// Publishes the counts of every slot this command may have changed.
    fn drop(&mut self) {
        for (slot, table) in &self.tables {
            self.store.note_slot(*slot, table);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_lock_and_table_header_fill_one_cache_line() {
        assert_eq!(std::mem::size_of::<SlotCell>(), 64);
        assert_eq!(std::mem::align_of::<SlotCell>(), 64);
    }
    use bytes::Bytes;

    fn s(v: &str) -> Value {
        Value::Str(Bytes::copy_from_slice(v.as_bytes()))
    }

    #[test]
    fn accounts_memory_through_every_change() {
        let store = Store::new();
        let base = store.used_memory();
        assert_eq!(base, store.base_memory());
        assert!(base > 0);
        let table_of = |key: &[u8]| store.slots[key_slot(key) as usize].lock().bytes() as u64;
        let mut db = store.lock(b"k");
        db.set(b"k", s("hello"), 0);
        drop(db);
        let node = (ENTRY_OVERHEAD - 9) as u64;
        let buckets = table_of(b"k") - node - (alloc_size(5) + SHARED_HEADER) as u64;
        assert!(buckets >= 9, "the bucket array is accounted: {buckets}");
        assert_eq!(store.used_memory(), base + table_of(b"k"));
        let mut db = store.lock(b"k");
        db.update(b"k", |e| e.value = s(&"x".repeat(100)));
        drop(db);
        assert_eq!(store.used_memory(), base + buckets + node + (alloc_size(100) + SHARED_HEADER) as u64);
        store.lock(b"k").delete(b"k");
        assert_eq!(store.used_memory(), base, "an emptied table frees its buckets");
        for i in 0..1000 {
            let key = format!("key:{i}");
            store.lock(key.as_bytes()).set(key.as_bytes(), s("v"), 0);
        }
        assert_eq!(store.counts(), (1000, 0));
        assert_eq!(store.flush(), 1000);
        assert_eq!(store.used_memory(), base);
    }

    #[test]
    fn counts_are_published_after_every_change() {
        let store = Store::new();
        let slot = key_slot(b"{t}a") as usize;
        let published = |store: &Store| {
            (
                store.counts.keys[slot].load(Ordering::Relaxed),
                store.counts.volatile[slot].load(Ordering::Relaxed),
            )
        };
        store.lock(b"{t}a").set(b"{t}a", s("v"), 0);
        store.lock(b"{t}b").set(b"{t}b", s("v"), now_ms() - 1);
        assert_eq!(published(&store), (2, 1));
        let mut cursor = slot;
        store.expire_cycle(&mut cursor, 1);
        assert_eq!(published(&store), (1, 0));
        store.flush();
        assert_eq!(published(&store), (0, 0));
    }

    #[test]
    fn expires_lazily_and_actively() {
        let store = Store::new();
        let past = now_ms() - 1;
        for i in 0..100 {
            let key = format!("k{i}");
            store.lock(key.as_bytes()).set(key.as_bytes(), s("v"), past);
        }
        store.lock(b"live").set(b"live", s("v"), now_ms() + 60_000);
        assert!(store.lock(b"k1").get(b"k1").is_none());
        assert_eq!(store.stats().expired_keys.load(Ordering::Relaxed), 1);
        let mut cursor = 0;
        let (_, removed) = store.expire_cycle(&mut cursor, usize::MAX);
        assert_eq!(removed, 99);
        assert_eq!(store.counts(), (1, 1));
        let live = store.slots[key_slot(b"live") as usize].lock().bytes() as u64;
        assert_eq!(store.used_memory(), store.base_memory() + live);
    }

    #[test]
    fn versions_grow_with_each_write() {
        let store = Store::new();
        let mut db = store.lock(b"k");
        db.set(b"k", s("a"), 0);
        let v1 = db.get(b"k").unwrap().version;
        db.update(b"k", |e| e.value = s("b"));
        let v2 = db.get(b"k").unwrap().version;
        assert!(v2 > v1);
    }

    #[test]
    fn locks_many_slots_in_order() {
        let store = Store::new();
        let keys = [&b"a"[..], b"b", b"{a}x", b"c"];
        let mut db = store.lock_keys(&keys);
        for k in keys {
            db.set(k, s("v"), 0);
        }
        assert_eq!(db.tables.len(), 3);
        assert!(db.tables.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn walks_slots_in_order_and_stops_on_break() {
        let store = Store::new();
        for key in ["a", "b", "c", "{a}x"] {
            store.lock(key.as_bytes()).set(key.as_bytes(), s("v"), 0);
        }
        let mut seen = Vec::new();
        let end = store.walk_slots(0, |slot, table| {
            seen.push((slot, table.len()));
            ControlFlow::Continue(())
        });
        assert_eq!(end, SLOTS);
        let mut want: Vec<(Slot, usize)> =
            [(key_slot(b"a"), 2), (key_slot(b"b"), 1), (key_slot(b"c"), 1)].into();
        want.sort();
        assert_eq!(seen, want);
        let first = want[0].0 as usize;
        assert_eq!(store.walk_slots(0, |_, _| ControlFlow::Break(())), first + 1);
        assert_eq!(store.walk_slots(want[2].0 as usize + 1, |_, _| ControlFlow::Break(())), SLOTS);
    }

    #[test]
    fn random_key_skips_and_removes_expired_keys() {
        let store = Store::new();
        assert_eq!(store.random_key(), None);
        let past = now_ms() - 1;
        store.lock(b"gone").set(b"gone", s("v"), past);
        assert_eq!(store.random_key(), None);
        assert_eq!(store.counts(), (0, 0));
        store.lock(b"{t}gone").set(b"{t}gone", s("v"), past);
        store.lock(b"{t}live").set(b"{t}live", s("v"), 0);
        for _ in 0..10 {
            assert_eq!(store.random_key().as_deref(), Some(&b"{t}live"[..]));
        }
        assert_eq!(store.stats().expired_keys.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn random_key_reaches_every_key() {
        let store = Store::new();
        for i in 0..20 {
            let key = format!("k{i}");
            store.lock(key.as_bytes()).set(key.as_bytes(), s("v"), 0);
        }
        let seen: std::collections::HashSet<Bytes> = (0..300).filter_map(|_| store.random_key()).collect();
        assert_eq!(seen.len(), 20);
    }

    #[test]
    fn untouched_reads_count_but_keep_the_access_time() {
        let store = Store::new();
        let mut db = store.lock(b"k");
        db.set(b"k", s("v"), 0);
        db.get(b"k").unwrap().access = 0;
        assert!(db.read_untouched(b"k").is_some());
        assert_eq!(db.get(b"k").unwrap().access, 0);
        drop(db);
        assert!(store.lock(b"x").read_untouched(b"x").is_none());
        assert_eq!(store.stats().keyspace_hits.load(Ordering::Relaxed), 1);
        assert_eq!(store.stats().keyspace_misses.load(Ordering::Relaxed), 1);
    }
}
