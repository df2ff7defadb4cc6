//! One slot's keys.
//!
//! The table holds a pointer per bucket to a node that carries the key and
//! its [`Entry`]; keys of up to [`INLINE_KEY`] bytes sit inside the node.
//! A hash table's buckets are between 44% and 87% full, so keeping buckets
//! small (8 bytes, not the 72 of a key and entry inline) saves more than
//! the node's allocation costs: at one million 16-byte keys with 64-byte
//! values this layout measured 190 bytes per key against 265 for entries
//! stored in the buckets (see README, Memory).

use std::sync::LazyLock;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as TableEntry;

use super::entry::{Entry, alloc_size};

/// Longest key stored inside its node; longer keys get their own allocation.
pub const INLINE_KEY: usize = 22;

/// A key as the table keeps it.
#[derive(Debug)]
enum StoredKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Boxed(Box<[u8]>),
}

impl StoredKey {
    fn new(key: &[u8]) -> StoredKey {
        if key.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..key.len()].copy_from_slice(key);
            StoredKey::Inline { len: key.len() as u8, bytes }
        } else {
            StoredKey::Boxed(key.into())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            StoredKey::Inline { len, bytes } => &bytes[..*len as usize],
            StoredKey::Boxed(b) => b,
        }
    }
}

/// What a bucket points to.
#[derive(Debug)]
struct Node {
    key: StoredKey,
    entry: Entry,
}

/// Heap bytes of a key of `len` bytes besides its node (0 when inline).
pub const fn key_heap_size(len: usize) -> usize {
    if len <= INLINE_KEY { 0 } else { alloc_size(len) }
}

/// Bytes a slot table spends per entry besides the value and a long key's
/// own allocation: the node, its bucket pointer and control byte. Spare
/// buckets are accounted with the table (see [`SlotTable::bytes`]).
pub const ENTRY_OVERHEAD: usize =
    alloc_size(std::mem::size_of::<Node>()) + std::mem::size_of::<Box<Node>>() + 1;

/// The keys of one hash slot, with what accounting needs kept up to date.
///
/// Every change goes through these methods so the entry count, the count of
/// keys with a TTL and the accounted bytes never drift from the map.
#[derive(Debug)]
pub struct SlotTable {
    map: HashTable<Box<Node>>,
    volatile: usize,
    /// The nodes', long keys' and values' allocations. (The bucket array is
    /// accounted as a whole, from the map's capacity: it grows in steps and
    /// shrinks only when the table gets sparse.)
    heap: usize,
    /// Entries ever removed from this slot (deleted, expired, evicted,
    /// flushed): lets `WATCH` notice a key created and deleted again.
    removals: u64,
}

/// One hasher for every slot's keys, seeded at random once per process. Kept
/// out of the tables, so that a slot's lock and table header share one cache
/// line (see `store::SlotCell`).
static KEY_HASHER: LazyLock<ahash::RandomState> = LazyLock::new(ahash::RandomState::new);

/// What a change did to the accounted bytes (the store sums these).
pub type BytesDelta = isize;

impl Default for SlotTable {
    fn default() -> SlotTable {
        SlotTable::new()
    }
}

impl SlotTable {
    /// An empty table.
    pub fn new() -> SlotTable {
        SlotTable { map: HashTable::new(), volatile: 0, heap: 0, removals: 0 }
    }

    fn hash(key: &[u8]) -> u64 {
        KEY_HASHER.hash_one(key)
    }

    /// Accounts a change of the entries' heap by `heap_delta` and of the
    /// bucket array from `buckets_before` bytes; returns the total change.
    fn settle(&mut self, heap_delta: isize, buckets_before: usize) -> BytesDelta {
        self.heap = (self.heap as isize + heap_delta) as usize;
        heap_delta + self.bucket_bytes() as isize - buckets_before as isize
    }

    /// Gives memory back after removals: an empty table drops its bucket
    /// array, a table under 1/8 full shrinks to twice its length.
    fn shrink_if_sparse(&mut self) {
        if self.map.is_empty() {
            if self.map.capacity() > 0 {
                self.map = HashTable::new();
            }
        } else if self.map.capacity() > 16 && self.map.len() * 8 < self.map.capacity() {
            self.map.shrink_to(self.map.len() * 2, |n| Self::hash(n.key.as_slice()));
        }
    }

    /// Heap bytes of an entry stored under a key of `key_len` bytes, without
    /// its bucket (the bucket array is accounted as a whole).
    fn heap_of(entry: &Entry, key_len: usize) -> usize {
        alloc_size(std::mem::size_of::<Node>()) + key_heap_size(key_len) + entry.value.heap_size()
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

    /// Accounted bytes of the bucket array alone.
    pub fn bucket_bytes(&self) -> usize {
        alloc_size(self.map.allocation_size())
    }

    /// Accounted bytes of this slot: its nodes', keys' and values'
    /// allocations and its bucket array.
    pub fn bytes(&self) -> usize {
        self.heap + self.bucket_bytes()
    }

    /// The entry of `key`, expired or not.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.find(Self::hash(key), |n| n.key.as_slice() == key).map(|n| &n.entry)
    }

    /// Mutable access to the entry of `key`, expired or not. The caller must
    /// not change the value's size or the expiry through it; use
    /// [`SlotTable::replace_with`] for that.
    pub fn peek_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.find_mut(Self::hash(key), |n| n.key.as_slice() == key).map(|n| &mut n.entry)
    }

    /// Stores `entry` under `key`, returning the previous entry.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> (Option<Entry>, BytesDelta) {
        let added = Self::heap_of(&entry, key.len());
        let volatile = entry.is_volatile();
        let buckets = self.bucket_bytes();
        let found =
            self.map.entry(Self::hash(key), |n| n.key.as_slice() == key, |n| Self::hash(n.key.as_slice()));
        let old = match found {
            TableEntry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().entry, entry)),
            TableEntry::Vacant(v) => {
                v.insert(Box::new(Node { key: StoredKey::new(key), entry }));
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
        (old, self.settle(added as isize - removed as isize, buckets))
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> (Option<Entry>, BytesDelta) {
        let buckets = self.bucket_bytes();
        let Ok(found) = self.map.find_entry(Self::hash(key), |n| n.key.as_slice() == key) else {
            return (None, 0);
        };
        let old = found.remove().0.entry;
        self.removals += 1;
        if old.is_volatile() {
            self.volatile -= 1;
        }
        let size = Self::heap_of(&old, key.len());
        self.shrink_if_sparse();
        (Some(old), self.settle(-(size as isize), buckets))
    }

    /// Changes the entry of `key` in place with `f` (which may change its
    /// value and expiry), keeping the accounting right. Returns `f`'s result,
    /// or `None` if the key is absent.
    pub fn replace_with<R>(
        &mut self,
        key: &[u8],
        f: impl FnOnce(&mut Entry) -> R,
    ) -> Option<(R, BytesDelta)> {
        let buckets = self.bucket_bytes();
        let entry = self.peek_mut(key)?;
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
        Some((result, self.settle(after as isize - before as isize, buckets)))
    }

    /// Removes every entry for which `expired` holds; returns how many were
    /// removed and the bytes freed.
    pub fn remove_where(&mut self, mut expired: impl FnMut(&Entry) -> bool) -> (usize, BytesDelta) {
        let buckets = self.bucket_bytes();
        let mut removed = 0;
        let mut freed = 0usize;
        let mut volatile_removed = 0;
        self.map.retain(|node| {
            let entry = &node.entry;
            if expired(entry) {
                removed += 1;
                freed += Self::heap_of(entry, node.key.as_slice().len());
                if entry.is_volatile() {
                    volatile_removed += 1;
                }
                false
            } else {
                true
            }
        });
        self.volatile -= volatile_removed;
        self.removals += removed as u64;
        if removed > 0 {
            self.shrink_if_sparse();
        }
        (removed, self.settle(-(freed as isize), buckets))
    }

    /// Removes everything; returns the entry count and bytes freed.
    pub fn clear(&mut self) -> (usize, BytesDelta) {
        let n = self.map.len();
        let freed = self.bytes();
        self.map = HashTable::new();
        self.volatile = 0;
        self.heap = 0;
        self.removals += n as u64;
        (n, -(freed as isize))
    }

    /// Iterates keys and entries (any order).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.map.iter().map(|n| (n.key.as_slice(), &n.entry))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;
    use bytes::Bytes;

    fn entry(v: &str) -> Entry {
        Entry::new(Value::Str(Bytes::copy_from_slice(v.as_bytes())), 1)
    }

    #[test]
    fn node_layout_stays_compact() {
        assert_eq!(std::mem::size_of::<StoredKey>(), 24);
        assert_eq!(std::mem::size_of::<Node>(), 80);
    }

    #[test]
    fn short_and_long_keys_round_trip() {
        let mut t = SlotTable::new();
        let long = "k".repeat(INLINE_KEY + 1);
        let keys = ["", "a", &"x".repeat(INLINE_KEY), &long];
        for (i, k) in keys.iter().enumerate() {
            assert!(t.insert(k.as_bytes(), entry(&i.to_string())).0.is_none());
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.peek(k.as_bytes()).map(|e| e.value.clone()), Some(entry(&i.to_string()).value));
        }
        let mut seen: Vec<Vec<u8>> = t.iter().map(|(k, _)| k.to_vec()).collect();
        seen.sort();
        let mut want: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
        want.sort();
        assert_eq!(seen, want);
        let with_long = t.bytes();
        t.remove(long.as_bytes());
        assert_eq!(
            with_long - t.bytes(),
            alloc_size(size_of::<Node>()) + key_heap_size(long.len()) + entry("3").value.heap_size()
        );
        for k in keys {
            t.remove(k.as_bytes());
        }
        assert_eq!((t.len(), t.bytes()), (0, 0));
    }

    #[test]
    fn grows_and_shrinks_with_its_keys() {
        let mut t = SlotTable::new();
        for i in 0..1000 {
            t.insert(format!("k{i}").as_bytes(), entry("v"));
        }
        let full = t.bucket_bytes();
        for i in 0..990 {
            t.remove(format!("k{i}").as_bytes());
        }
        assert!(t.bucket_bytes() * 10 < full, "shrunk: {} of {full}", t.bucket_bytes());
        assert_eq!(t.len(), 10);
        assert!(t.peek(b"k995").is_some());
    }
}
