//! One slot's keys.

use hashbrown::HashMap;
use hashbrown::hash_map::EntryRef;

use super::entry::Entry;

/// The keys of one hash slot, with what accounting needs kept up to date.
///
/// Every change goes through these methods so the entry count, the count of
/// keys with a TTL and the accounted bytes never drift from the map.
#[derive(Debug)]
pub struct SlotTable {
    map: HashMap<Box<[u8]>, Entry, ahash::RandomState>,
    volatile: usize,
    bytes: usize,
    /// Entries ever removed from this slot (deleted, expired, flushed):
    /// lets `WATCH` notice a key created and deleted again.
    removals: u64,
}

/// What a change did to the accounted bytes (the store sums these).
pub type BytesDelta = isize;

impl SlotTable {
    /// An empty table hashing with `hasher`.
    pub fn new(hasher: ahash::RandomState) -> SlotTable {
        SlotTable { map: HashMap::with_hasher(hasher), volatile: 0, bytes: 0, removals: 0 }
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

    /// How many entries were ever removed from this slot.
    pub fn removals(&self) -> u64 {
        self.removals
    }

    /// Accounted bytes of this slot's entries.
    pub fn bytes(&self) -> usize {
        self.bytes
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
        let added = entry.accounted_size(key.len());
        let volatile = entry.is_volatile();
        let old = match self.map.entry_ref(key) {
            EntryRef::Occupied(mut o) => Some(std::mem::replace(o.get_mut(), entry)),
            EntryRef::Vacant(v) => {
                v.insert(entry);
                None
            }
        };
        let removed = old.as_ref().map_or(0, |e| e.accounted_size(key.len()));
        if volatile {
            self.volatile += 1;
        }
        if old.as_ref().is_some_and(Entry::is_volatile) {
            self.volatile -= 1;
        }
        let delta = added as isize - removed as isize;
        self.bytes = (self.bytes as isize + delta) as usize;
        (old, delta)
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> (Option<Entry>, BytesDelta) {
        match self.map.remove(key) {
            Some(old) => {
                self.removals += 1;
                if old.is_volatile() {
                    self.volatile -= 1;
                }
                let size = old.accounted_size(key.len());
                self.bytes -= size;
                (Some(old), -(size as isize))
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
        let before = entry.accounted_size(key.len());
        let was_volatile = entry.is_volatile();
        let result = f(entry);
        let after = entry.accounted_size(key.len());
        let now_volatile = entry.is_volatile();
        if was_volatile != now_volatile {
            if now_volatile {
                self.volatile += 1;
            } else {
                self.volatile -= 1;
            }
        }
        let delta = after as isize - before as isize;
        self.bytes = (self.bytes as isize + delta) as usize;
        Some((result, delta))
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
                freed += entry.accounted_size(key.len());
                if entry.is_volatile() {
                    volatile_removed += 1;
                }
                false
            } else {
                true
            }
        });
        self.volatile -= volatile_removed;
        self.bytes -= freed;
        self.removals += removed as u64;
        (removed, -(freed as isize))
    }

    /// Removes everything; returns the entry count and bytes freed.
    pub fn clear(&mut self) -> (usize, BytesDelta) {
        let n = self.map.len();
        let freed = self.bytes;
        self.map = HashMap::with_hasher(self.map.hasher().clone());
        self.volatile = 0;
        self.bytes = 0;
        self.removals += n as u64;
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
}
