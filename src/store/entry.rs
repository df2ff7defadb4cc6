//! What the store keeps per key.

use bytes::Bytes;

/// Bytes accounted per entry on top of its key and value: the hash table
/// slot, the entry header and allocator overhead, so `used_memory` tracks
/// what the process really spends rather than just the payload.
pub const ENTRY_OVERHEAD: usize = 64;

/// A stored value. Later types (hashes, ...) are further variants.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A Redis string: any bytes.
    Str(Bytes),
}

impl Value {
    /// Bytes this value holds on the heap, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(b) => b.len(),
        }
    }

    /// Redis's name for the type, as `TYPE` answers it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }
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
    /// Last access, in seconds of the store's LRU clock (for eviction and
    /// `OBJECT IDLETIME`).
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

    /// Accounted size of an entry with this key length.
    pub fn accounted_size(&self, key_len: usize) -> usize {
        key_len + self.value.heap_size() + ENTRY_OVERHEAD
    }
}
