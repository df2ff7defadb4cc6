//! One slot's keys.

use hashbrown::HashMap;
use hashbrown::hash_map::EntryRef;

use super::entry::{Entry, alloc_size};

/// The keys of one hash slot, with what accounting needs kept up to date.
///
/// Every change goes through these methods so the entry count, the count of
/// keys with a TTL and the accounted bytes never drift from the map.
#[derive(Debug)]
pub struct SlotTable {
    map: HashMap<Box<[u8]>, Entry, ahash::RandomState>,
    volatile: usize,
    /// The keys' and values' own allocations.
    heap: usize,
    /// The map's bucket array as last accounted (it grows in steps and
    /// never shrinks on removal, so it is accounted as a whole).
    buckets: usize,
}

/// What a change did to the accounted bytes (the store sums these).
pub type BytesDelta = isize;

impl SlotTable {
    /// An empty table hashing with `hasher`.
    pub fn new(hasher: ahash::RandomState) -> SlotTable {
        SlotTable { map: HashMap::with_hasher(hasher), volatile: 0, heap: 0, buckets: 0 }
    }

    /// Accounts a change of the entries' heap by `heap_delta` and any change
    /// of the bucket array; returns the total change.
    fn settle(&mut self, heap_delta: isize) -> BytesDelta {
        self.heap = (self.heap as isize + heap_delta) as usize;
        let buckets = alloc_size(self.map.allocation_size());
        let delta = heap_delta + buckets as isize - self.buckets as isize;
        self.buckets = buckets;
        delta
    }

    /// Gives memory back after removals: an empty table drops its bucket
    /// array, a table under 1/8 full halves down to twice its length.
    fn shrink_if_sparse(&mut self) {
        if self.map.is_empty() {
            if self.map.capacity() > 0 {
                self.map = HashMap::with_hasher(self.map.hasher().clone());
            }
        } else if self.map.capacity() > 16 && self.map.len() * 8 < self.map.capacity() {
            self.map.shrink_to(self.map.len() * 2);
        }
    }

    /// Heap bytes of an entry stored under a key of `key_len` bytes, without
    /// its bucket (the bucket array is accounted as a whole).
    fn heap_of(entry: &Entry, key_len: usize) -> usize {
        alloc_size(key_len) + entry.value.heap_size()
    }

    /// Number of entries (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the slot holds no entry.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entries that have a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    /// Accounted bytes of the bucket array alone.
    pub fn bucket_bytes(&self) -> usize {
        self.buckets
    }

    /// Accounted bytes of this slot: its keys' and values' allocations and
    /// its bucket array.
    pub fn bytes(&self) -> usize {
        self.heap + self.buckets
    }

    /// The entry of `key`, expired or not.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Mutable access to the entry of `key`, expired or not. The caller must
    /// not change the value's size or the expiry through it; use
    /// [`SlotTable::replace_with`] for that.
    pub fn peek_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// Stores `entry` under `key`, returning the previous entry.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> (Option<Entry>, BytesDelta) {
        let added = Self::heap_of(&entry, key.len());
        let volatile = entry.is_volatile();
        let old = match self.map.entry_ref(key) {
            EntryRef::Occupied(mut o) => Some(std::mem::replace(o.get_mut(), entry)),
            EntryRef::Vacant(v) => {
                v.insert(entry);
                None
            }
        };
        let removed = old.as_ref().map_or(0, |e| Self::heap_of(e, key.len()));
        if volatile {
            self.volatile += 1;
        }
        if old.as_ref().is_some_and(Entry::is_volatile) {
            self.volatile -= 1;
        }
        (old, self.settle(added as isize - removed as isize))
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> (Option<Entry>, BytesDelta) {
        match self.map.remove(key) {
            Some(old) => {
                if old.is_volatile() {
                    self.volatile -= 1;
                }
                let size = Self::heap_of(&old, key.len());
                self.shrink_if_sparse();
                (Some(old), self.settle(-(size as isize)))
            }
            None => (None, 0),
        }
    }

    /// Changes the entry of `key` in place with `f` (which may change its
    /// value and expiry), keeping the accounting right. Returns `f`'s result,
    /// or `None` if the key is absent.
    pub fn replace_with<R>(
        &mut self,
        key: &[u8],
        f: impl FnOnce(&mut Entry) -> R,
    ) -> Option<(R, BytesDelta)> {
        let entry = self.map.get_mut(key)?;
        let before = Self::heap_of(entry, key.len());
        let was_volatile = entry.is_volatile();
        let result = f(entry);
        let after = Self::heap_of(entry, key.len());
        let now_volatile = entry.is_volatile();
        if was_volatile != now_volatile {
            if now_volatile {
                self.volatile += 1;
            } else {
                self.volatile -= 1;
            }
        }
        Some((result, self.settle(after as isize - before as isize)))
    }

    /// Removes every entry for which `expired` holds; returns how many were
    /// removed and the bytes freed.
    pub fn remove_where(&mut self, mut expired: impl FnMut(&Entry) -> bool) -> (usize, BytesDelta) {
        let mut removed = 0;
        let mut freed = 0usize;
        let mut volatile_removed = 0;
        self.map.retain(|key, entry| {
            if expired(entry) {
                removed += 1;
                freed += Self::heap_of(entry, key.len());
                if entry.is_volatile() {
                    volatile_removed += 1;
                }
                false
            } else {
                true
            }
        });
        self.volatile -= volatile_removed;
        if removed > 0 {
            self.shrink_if_sparse();
        }
        (removed, self.settle(-(freed as isize)))
    }

    /// Removes everything; returns the entry count and bytes freed.
    pub fn clear(&mut self) -> (usize, BytesDelta) {
        let n = self.map.len();
        let freed = self.bytes();
        self.map = HashMap::with_hasher(self.map.hasher().clone());
        self.volatile = 0;
        self.heap = 0;
        self.buckets = 0;
        (n, -(freed as isize))
    }

    /// Iterates keys and entries (any order).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.map.iter().map(|(k, v)| (&k[..], v))
    }

    /// The `n`th entry in iteration order (for random sampling).
    pub fn nth(&self, n: usize) -> Option<(&[u8], &Entry)> {
        self.iter().nth(n)
    }

    /// Every entry in iteration order starting at the `start`th and
    /// wrapping around (for sampling from a random position).
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = (&[u8], &Entry)> {
        let start = if self.map.is_empty() { 0 } else { start % self.map.len() };
        self.iter().skip(start).chain(self.iter().take(start))
    }
}
