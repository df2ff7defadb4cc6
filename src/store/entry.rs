//! What the store keeps per key, and what each key costs in memory.

use bytes::Bytes;

use super::hash::Hash;
use super::table::{ENTRY_OVERHEAD, key_heap_size};

/// Bytes the allocator hands out for a request of `n` bytes, following
/// jemalloc's size classes (Shoal's global allocator, see `lib.rs`): 8,
/// then 16-byte steps up to 128, then four classes per power of two. A
/// model, so `used_memory` follows what the process really spends instead
/// of summing payload lengths.
pub const fn alloc_size(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => n.next_multiple_of(16),
        _ => {
            // Four classes between consecutive powers of two (at most 25% lost).
            let step = 1 << (usize::BITS - 1 - (n - 1).leading_zeros() - 2);
            n.next_multiple_of(step)
        }
    }
}

/// The reference-count header `Bytes` allocates the first time a value is
/// shared (a reply to `GET` clones it); counted for every non-empty string
/// so accounting never falls short of what reads make it cost.
pub const SHARED_HEADER: usize = alloc_size(3 * std::mem::size_of::<usize>());

/// A stored value. Later types (lists, sets, ...) are further variants.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A Redis string: any bytes.
    Str(Bytes),
    /// A Redis hash. Boxed so that the variant does not make every entry
    /// (mostly strings) larger.
    Hash(Box<Hash>),
}

/// Strings up to this length are `embstr` in Redis (one allocation with
/// the object header).
const EMBSTR_MAX: usize = 44;

impl Value {
    /// Bytes this value holds on the heap, as the allocator counts them.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(b) if b.is_empty() => 0,
            Value::Str(b) => alloc_size(b.len()) + SHARED_HEADER,
            Value::Hash(h) => alloc_size(size_of::<Hash>()) + h.heap_size(),
        }
    }

    /// Redis's name for the type, as `TYPE` answers it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
        }
    }

    /// Redis's name for the value's encoding, as `OBJECT ENCODING` answers
    /// it: `int`, `embstr` or `raw` for a string (by its text: a canonical
    /// 64-bit integer, at most 44 bytes, longer), `listpack` or `hashtable`
    /// for a hash (see [`struct@Hash`]).
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(b) if is_integer(b) => "int",
            Value::Str(b) if b.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) => "raw",
            Value::Hash(h) => h.encoding(),
        }
    }
}

/// True for the decimal text of an `i64` as Redis writes it: optional
/// `-`, no leading zeros, no `+`, no `-0`.
fn is_integer(text: &[u8]) -> bool {
    if text.is_empty() || text.len() > 20 {
        return false;
    }
    let parsed = std::str::from_utf8(text).ok().and_then(|t| t.parse::<i64>().ok());
    parsed.is_some_and(|n| itoa::Buffer::new().format(n).as_bytes() == text)
}

/// One key's value with what replication, expiry and eviction need.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 = never.
    pub expires_at: u64,
    /// Hybrid-clock version of the last write (see [`super::HybridClock`]).
    pub version: u64,
    /// What eviction knows of the key's use, one field for both kinds as
    /// Redis's `lru` field: under an LFU policy the access minute (16 bits)
    /// and a logarithmic frequency counter (8 bits) (see
    /// [`super::Store::touch`]); otherwise the last access on the store's LRU
    /// clock (see [`super::Store::lru_now`]).
    pub access: u32,
}

impl Entry {
    /// A new entry without expiry.
    pub fn new(value: Value, version: u64) -> Entry {
        Entry { value, expires_at: 0, version, access: 0 }
    }

    /// True once `now_ms` has reached the expiry time.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at != 0 && self.expires_at <= now_ms
    }

    /// True when the entry has a TTL.
    pub fn is_volatile(&self) -> bool {
        self.expires_at != 0
    }

    /// Accounted size of an entry with this key length: the value's and a
    /// long key's allocations plus [`ENTRY_OVERHEAD`].
    pub fn accounted_size(&self, key_len: usize) -> usize {
        key_heap_size(key_len) + self.value.heap_size() + ENTRY_OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(Bytes::copy_from_slice(v.as_bytes()))
    }

    #[test]
    fn string_encodings_as_redis() {
        for int in ["0", "1", "-1", "12345", "9223372036854775807", "-9223372036854775808"] {
            assert_eq!(s(int).encoding(), "int", "{int}");
        }
        for embstr in ["", "-0", "007", " 1", "1 ", "+1", "9223372036854775808", "1.5", "-", "abc"] {
            assert_eq!(s(embstr).encoding(), "embstr", "{embstr:?}");
        }
        assert_eq!(s(&"a".repeat(44)).encoding(), "embstr");
        assert_eq!(s(&"a".repeat(45)).encoding(), "raw");
    }

    #[test]
    fn allocation_model() {
        assert_eq!(alloc_size(0), 0);
        assert_eq!(alloc_size(1), 8);
        assert_eq!(alloc_size(9), 16);
        assert_eq!(alloc_size(24), 32);
        assert_eq!(alloc_size(64), 64);
        assert_eq!(alloc_size(65), 80);
        assert_eq!(alloc_size(128), 128);
        assert_eq!(alloc_size(129), 160);
        assert_eq!(alloc_size(257), 320);
        assert_eq!(alloc_size(1024), 1024);
        assert_eq!(alloc_size(1025), 1280);
        assert_eq!(alloc_size(14 * 1024 + 1), 16 * 1024);
        assert_eq!(alloc_size((1 << 20) + 1), (1 << 20) + (1 << 18));
        assert_eq!(s("").heap_size(), 0);
        assert_eq!(s("abc").heap_size(), 8 + 32);
    }

    fn string(text: &str) -> Value {
        Value::Str(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn encodings_are_redis_names() {
        for int in ["0", "-1", "123", "9223372036854775807", "-9223372036854775808"] {
            assert_eq!(string(int).encoding(), "int", "{int}");
        }
        for text in ["", "01", "-0", "+1", " 1", "1.5", "9223372036854775808", "abc"] {
            assert_eq!(string(text).encoding(), "embstr", "{text:?}");
        }
        assert_eq!(string(&"x".repeat(44)).encoding(), "embstr");
        assert_eq!(string(&"x".repeat(45)).encoding(), "raw");
        let mut hash = Hash::new();
        hash.insert(b"f", b"v");
        assert_eq!(Value::Hash(Box::new(hash.clone())).encoding(), "listpack");
        hash.insert(b"f", &[b'v'; 65]);
        assert_eq!(Value::Hash(Box::new(hash)).encoding(), "hashtable");
    }

    #[test]
    fn hashes_cost_string_entries_nothing() {
        assert_eq!(size_of::<Value>(), size_of::<Bytes>());
    }

    #[test]
    fn type_names() {
        assert_eq!(string("v").type_name(), "string");
        assert_eq!(Value::Hash(Box::default()).type_name(), "hash");
    }
}
