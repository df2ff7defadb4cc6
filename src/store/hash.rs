//! The hash value type: a map of fields to values, kept compact while
//! small.
//!
//! Like Redis, a hash starts **packed** (Redis's listpack): every pair in
//! one buffer, in insertion order, found by a linear scan. It turns into a
//! **table** (Redis's hashtable) for good once it holds more than
//! [`MAX_PACKED_ENTRIES`] fields or is given a field or value longer than
//! [`MAX_PACKED_VALUE`] bytes, and never goes back, so `OBJECT ENCODING`
//! reports what Redis would for the same commands.
//!
//! Measured with glibc's allocator, before Shoal moved to jemalloc (fields
//! `field:N`, 10-byte values, the `Hash` box included): a packed hash of 5
//! fields takes 192 bytes, of 128 fields 2.7 KB (21 bytes a field); a table
//! takes 60 to 67 bytes a field. [`Hash::heap_size`] adds up the
//! allocations themselves, rounded as the allocator rounds them, in O(1):
//! within 3% of those measurements (15% under for hashes that just
//! converted, whose freed buffer fragments).

use std::sync::LazyLock;

use super::entry::alloc_size;
use hashbrown::HashTable;

/// Most fields a packed hash holds (Redis's `hash-max-listpack-entries`).
pub const MAX_PACKED_ENTRIES: usize = 128;

/// Longest field or value a packed hash holds (Redis's
/// `hash-max-listpack-value`).
pub const MAX_PACKED_VALUE: usize = 64;

/// Field hashes for every table of the process: random per process (no
/// flooding by chosen fields), the same for all tables so none stores its
/// own hasher.
static FIELD_HASHER: LazyLock<ahash::RandomState> = LazyLock::new(ahash::RandomState::new);

/// A Redis hash: unique fields, each with a value.
#[derive(Clone)]
pub struct Hash {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Packed(Packed),
    Table(Table),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Hash {
    /// An empty (packed) hash.
    pub fn new() -> Hash {
        Hash { repr: Repr::Packed(Packed::default()) }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len as usize,
            Repr::Table(t) => t.entries.len(),
        }
    }

    /// True when the hash has no field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(p) => p.find(field).map(|at| at.value(&p.buf)),
            Repr::Table(t) => t.position(field).map(|i| split_entry(&t.entries[i]).1),
        }
    }

    /// True if `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. An existing field
    /// keeps its place in the iteration order.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Repr::Packed(p) = &self.repr
            && (field.len() > MAX_PACKED_VALUE || value.len() > MAX_PACKED_VALUE)
        {
            self.repr = Repr::Table(Table::from_packed(p));
        }
        let added = match &mut self.repr {
            Repr::Packed(p) => p.insert(field, value),
            Repr::Table(t) => t.insert(field, value),
        };
        if let Repr::Packed(p) = &self.repr
            && p.len as usize > MAX_PACKED_ENTRIES
        {
            self.repr = Repr::Table(Table::from_packed(p));
        }
        added
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => p.remove(field),
            Repr::Table(t) => t.remove(field),
        }
    }

    /// Every (field, value) pair: insertion order while packed, in no
    /// particular order once a table.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (packed, table) = match &self.repr {
            Repr::Packed(p) => (Some(p.iter()), None),
            Repr::Table(t) => (None, Some(t.entries.iter().map(|e| split_entry(e)))),
        };
        packed.into_iter().flatten().chain(table.into_iter().flatten())
    }

    /// The pair at position `n` of [`Hash::iter`]'s order (O(1) for a
    /// table, a scan for a packed hash); for random picks.
    pub fn nth(&self, n: usize) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Packed(p) => p.iter().nth(n),
            Repr::Table(t) => t.entries.get(n).map(|e| split_entry(e)),
        }
    }

    /// True while the hash is packed (see the module documentation).
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed(_))
    }

    /// Redis's `OBJECT ENCODING` name for this hash.
    pub fn encoding(&self) -> &'static str {
        if self.is_packed() { "listpack" } else { "hashtable" }
    }

    /// Bytes allocated for the contents (not the `Hash` itself), as malloc
    /// rounds allocations. O(1).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => alloc_size(p.buf.capacity()),
            Repr::Table(t) => {
                alloc_size(t.entries.capacity() * size_of::<Box<[u8]>>())
                    + alloc_size(t.index.allocation_size())
                    + t.entry_bytes
            }
        }
    }

    /// One step of `HSCAN` over a table: visits up to `count` pairs from
    /// `cursor` (0 starts a scan) and returns the cursor to continue from,
    /// 0 when the scan is complete. A packed hash is visited whole at once
    /// (as Redis does for a listpack), whatever the cursor.
    ///
    /// A table is walked from its last position down: the cursor is how
    /// many positions remain. Removing a field moves only the last pair,
    /// into the hole, so a pair not yet visited stays below the cursor:
    /// every pair present for the whole scan is returned at least once.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        let Repr::Table(t) = &self.repr else {
            self.iter().for_each(|(f, v)| visit(f, v));
            return 0;
        };
        let len = t.entries.len();
        let end = match usize::try_from(cursor) {
            Ok(0) => len,
            Ok(c) => c.min(len),
            Err(_) => len,
        };
        let start = end.saturating_sub(count.max(1));
        for entry in t.entries[start..end].iter().rev() {
            let (f, v) = split_entry(entry);
            visit(f, v);
        }
        start as u64
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs = self.iter().map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v)));
        f.debug_struct("Hash")
            .field("encoding", &self.encoding())
            .field("pairs", &pairs.collect::<Vec<_>>())
            .finish()
    }
}

/// All pairs in one buffer: `[field len][field][value len][value]` each,
/// lengths one byte (both are at most [`MAX_PACKED_VALUE`]).
#[derive(Clone, Default)]
struct Packed {
    buf: Vec<u8>,
    len: u16,
}

/// Where one pair sits in a packed buffer.
struct PackedPair {
    /// Offset of the field's length byte.
    start: usize,
    /// Offset of the value's length byte.
    value_len_at: usize,
    /// Offset just past the value.
    end: usize,
}

impl PackedPair {
    fn value<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.value_len_at + 1..self.end]
    }
}

impl Packed {
    fn pairs(&self) -> impl Iterator<Item = PackedPair> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let start = at;
            let value_len_at = start + 1 + self.buf[start] as usize;
            let end = value_len_at + 1 + self.buf[value_len_at] as usize;
            at = end;
            Some(PackedPair { start, value_len_at, end })
        })
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs().map(|s| (&self.buf[s.start + 1..s.value_len_at], s.value(&self.buf)))
    }

    fn find(&self, field: &[u8]) -> Option<PackedPair> {
        self.pairs().find(|s| &self.buf[s.start + 1..s.value_len_at] == field)
    }

    fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some(slot) = self.find(field) {
            let old_len = slot.end - slot.value_len_at - 1;
            if value.len() > old_len {
                // Exact growth: a packed hash is small and rarely grows by much.
                self.buf.reserve_exact(value.len() - old_len);
            }
            let replacement = std::iter::once(value.len() as u8).chain(value.iter().copied());
            self.buf.splice(slot.value_len_at..slot.end, replacement);
            return false;
        }
        self.buf.reserve_exact(2 + field.len() + value.len());
        self.buf.push(field.len() as u8);
        self.buf.extend_from_slice(field);
        self.buf.push(value.len() as u8);
        self.buf.extend_from_slice(value);
        self.len += 1;
        true
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some(slot) = self.find(field) else { return false };
        self.buf.drain(slot.start..slot.end);
        self.len -= 1;
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
        true
    }
}

/// Pairs in a dense vector, each one allocation (`[field len varint]
/// [field][value]`), found through an index of positions hashed by field.
#[derive(Clone, Default)]
struct Table {
    entries: Vec<Box<[u8]>>,
    index: HashTable<u32>,
    /// Sum of [`allocation`] over the entries.
    entry_bytes: usize,
}

fn hash_field(field: &[u8]) -> u64 {
    FIELD_HASHER.hash_one(field)
}

/// One pair as a table stores it, allocated at its exact size (a buffer
/// shrunk afterwards may keep its larger malloc chunk).
fn pack_entry(field: &[u8], value: &[u8]) -> Box<[u8]> {
    let header = (usize::BITS - field.len().leading_zeros()).div_ceil(7).max(1) as usize;
    let mut out = Vec::with_capacity(header + field.len() + value.len());
    let mut n = field.len();
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
    out.extend_from_slice(field);
    out.extend_from_slice(value);
    out.into_boxed_slice()
}

/// The (field, value) of a table entry.
fn split_entry(entry: &[u8]) -> (&[u8], &[u8]) {
    let (mut len, mut shift, mut at) = (0usize, 0, 0);
    loop {
        let byte = entry[at];
        len |= ((byte & 0x7f) as usize) << shift;
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    entry[at..].split_at(len)
}

fn field_of(entry: &[u8]) -> &[u8] {
    split_entry(entry).0
}

impl Table {
    fn from_packed(packed: &Packed) -> Table {
        let mut table = Table {
            entries: Vec::with_capacity(packed.len as usize),
            index: HashTable::with_capacity(packed.len as usize),
            entry_bytes: 0,
        };
        for (field, value) in packed.iter() {
            table.insert(field, value);
        }
        table
    }

    fn position(&self, field: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index.find(hash_field(field), |&i| field_of(&entries[i as usize]) == field).map(|&i| i as usize)
    }

    fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let entry = pack_entry(field, value);
        self.entry_bytes += alloc_size(entry.len());
        if let Some(i) = self.position(field) {
            let old = std::mem::replace(&mut self.entries[i], entry);
            self.entry_bytes -= alloc_size(old.len());
            return false;
        }
        // Positions are u32 to keep the index small: four billion fields
        // would need hundreds of gigabytes.
        let position = self.entries.len() as u32;
        self.entries.push(entry);
        let entries = &self.entries;
        self.index
            .insert_unique(hash_field(field), position, |&i| hash_field(field_of(&entries[i as usize])));
        true
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let entries = &self.entries;
        let Ok(found) =
            self.index.find_entry(hash_field(field), |&i| field_of(&entries[i as usize]) == field)
        else {
            return false;
        };
        let position = found.remove().0 as usize;
        let last = self.entries.len() - 1;
        if position != last {
            // The last pair moves into the hole: point its index entry there.
            let moved = hash_field(field_of(&self.entries[last]));
            if let Some(i) = self.index.find_mut(moved, |&i| i as usize == last) {
                *i = position as u32;
            }
        }
        let old = self.entries.swap_remove(position);
        self.entry_bytes -= alloc_size(old.len());
        if self.entries.len() * 4 < self.entries.capacity() && self.entries.capacity() > 16 {
            self.shrink();
        }
        true
    }

    /// Gives memory back after many removals, as Redis resizes its tables.
    fn shrink(&mut self) {
        self.entries.shrink_to_fit();
        let entries = &self.entries;
        self.index.shrink_to_fit(|&i| hash_field(field_of(&entries[i as usize])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(pairs: &[(&str, &str)]) -> Hash {
        let mut h = Hash::new();
        for (f, v) in pairs {
            h.insert(f.as_bytes(), v.as_bytes());
        }
        h
    }

    fn pairs(h: &Hash) -> Vec<(String, String)> {
        h.iter()
            .map(|(f, v)| (String::from_utf8_lossy(f).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    #[test]
    fn packed_keeps_insertion_order_and_updates_in_place() {
        let mut h = hash_of(&[("a", "1"), ("b", "2"), ("c", "3")]);
        assert!(!h.insert(b"b", b"twenty"));
        assert!(!h.insert(b"a", b""));
        assert!(h.remove(b"c"));
        assert!(!h.remove(b"c"));
        assert!(h.insert(b"d", b"4"));
        let want: Vec<(String, String)> = [("a", ""), ("b", "twenty"), ("d", "4")]
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(&h), want);
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(b"b"), Some(&b"twenty"[..]));
        assert_eq!(h.get(b"x"), None);
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.nth(2), Some((&b"d"[..], &b"4"[..])));
    }

    #[test]
    fn converts_like_redis_and_never_back() {
        let mut h = Hash::new();
        for i in 0..MAX_PACKED_ENTRIES {
            h.insert(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"f0", b"again");
        assert_eq!(h.encoding(), "listpack", "updating an existing field adds nothing");
        h.insert(b"one-more", b"v");
        assert_eq!(h.encoding(), "hashtable");
        for i in 0..MAX_PACKED_ENTRIES {
            h.remove(format!("f{i}").as_bytes());
        }
        assert_eq!((h.len(), h.encoding()), (1, "hashtable"));

        let long = [b'x'; MAX_PACKED_VALUE];
        let mut h = Hash::new();
        h.insert(&long, &long);
        assert_eq!(h.encoding(), "listpack", "64 bytes still fit");
        h.insert(b"f", &[b'y'; MAX_PACKED_VALUE + 1]);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(&long), Some(&long[..]));
        let mut h = hash_of(&[("a", "1")]);
        h.insert(&[b'z'; MAX_PACKED_VALUE + 1], b"1");
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn table_finds_updates_and_removes() {
        let mut h = Hash::new();
        let n = 5000;
        for i in 0..n {
            assert!(h.insert(format!("field:{i}").as_bytes(), format!("{i}").as_bytes()));
        }
        assert_eq!(h.len(), n);
        assert!(!h.insert(b"field:7", b"seven"));
        for i in (0..n).step_by(3) {
            assert!(h.remove(format!("field:{i}").as_bytes()), "{i}");
        }
        for i in 0..n {
            let got = h.get(format!("field:{i}").as_bytes());
            match i {
                7 => assert_eq!(got, Some(&b"seven"[..])),
                _ if i % 3 == 0 => assert_eq!(got, None),
                _ => assert_eq!(got, Some(format!("{i}").as_bytes())),
            }
        }
        assert_eq!(h.len(), n - n.div_ceil(3));
        assert_eq!(h.iter().count(), h.len());
        let big = vec![b'v'; 300];
        h.insert(&big, &big);
        assert_eq!(h.get(&big), Some(&big[..]), "a field longer than one varint byte");
        let copy = h.clone();
        assert_eq!(copy, h);
    }

    #[test]
    fn removing_everything_from_a_table_gives_memory_back() {
        let mut h = Hash::new();
        for i in 0..10_000 {
            h.insert(format!("f{i}").as_bytes(), b"value");
        }
        let full = h.heap_size();
        for i in 0..9_990 {
            h.remove(format!("f{i}").as_bytes());
        }
        assert!(h.heap_size() < full / 20, "{} of {full}", h.heap_size());
        assert_eq!(h.len(), 10);
        for i in 9_990..10_000 {
            assert_eq!(h.get(format!("f{i}").as_bytes()), Some(&b"value"[..]));
        }
    }

    #[test]
    fn heap_size_follows_contents() {
        let mut h = Hash::new();
        assert_eq!(h.heap_size(), 0);
        h.insert(b"field", b"value");
        // 12 bytes asked (reserved exactly), 16 taken.
        assert_eq!(h.heap_size(), 16);
        for i in 0..1000 {
            h.insert(format!("field:{i}").as_bytes(), b"0123456789");
        }
        let table = h.heap_size();
        // Per field: a 16-byte slot in the vector, 32 bytes of entry, and
        // the index's 4-byte slot and control byte at its load factor.
        assert!((50_000..120_000).contains(&table), "{table}");
        h.insert(b"big", &[b'x'; 10_000]);
        assert!(h.heap_size() >= table + 10_000);
        h.remove(b"big");
        assert_eq!(h.heap_size(), table);
    }

    fn scan_all(h: &Hash, count: usize, mut between: impl FnMut(usize)) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            cursor = h.scan(cursor, count, |f, _| seen.push(f.to_vec()));
            calls += 1;
            between(calls);
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn scan_visits_every_pair_once_when_nothing_changes() {
        let small = hash_of(&[("a", "1"), ("b", "2")]);
        assert_eq!(small.scan(12345, 1, |_, _| {}), 0, "a packed hash ends the scan at once");
        let mut h = Hash::new();
        for i in 0..1000 {
            h.insert(format!("{i}").as_bytes(), b"v");
        }
        let mut seen = scan_all(&h, 7, |_| {});
        seen.sort();
        let mut want: Vec<Vec<u8>> = (0..1000).map(|i| format!("{i}").into_bytes()).collect();
        want.sort();
        assert_eq!(seen, want);
        assert_eq!(h.scan(u64::MAX, 5000, |_, _| {}), 0);
    }

    #[test]
    fn scan_returns_pairs_that_stay_while_others_come_and_go() {
        let mut h = Hash::new();
        for i in 0..1000 {
            h.insert(format!("keep:{i}").as_bytes(), b"v");
            h.insert(format!("drop:{i}").as_bytes(), b"v");
        }
        // Between calls, remove some fields and add others.
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = h.scan(cursor, 10, |f, _| seen.push(f.to_vec()));
            for j in 0..5 {
                h.remove(format!("drop:{}", round * 5 + j).as_bytes());
                h.insert(format!("new:{round}:{j}").as_bytes(), b"v");
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(&format!("keep:{i}").into_bytes()), "keep:{i} missed");
        }
    }
}
