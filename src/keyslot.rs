//! Redis Cluster's key to slot mapping: `CRC16(key) mod 16384`, where a
//! `{hash tag}` (the text between the first `{` and the next `}`, when not
//! empty) is hashed instead of the whole key. Pure, and identical to Redis,
//! so `CLUSTER KEYSLOT` agrees and cluster-aware clients route correctly.

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// A slot number, `0..16384`.
pub type Slot = u16;

/// The slot of `key`.
///
/// ```
/// use shoal::keyslot::key_slot;
/// assert_eq!(key_slot(b"foo"), 12182); // as redis-cli CLUSTER KEYSLOT foo
/// // Keys sharing a {hash tag} share a slot, so one node owns them all.
/// assert_eq!(key_slot(b"{user1}:cart"), key_slot(b"{user1}:profile"));
/// ```
pub fn key_slot(key: &[u8]) -> Slot {
    (crc16(hash_tag(key)) & (SLOTS as u16 - 1)) as Slot
}

/// The part of `key` that is hashed: the `{tag}` contents if present and
/// non-empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis uses.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc = (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ byte) as usize];
    }
    crc
}

const CRC16_TABLE: [u16; 256] = build_table();

const fn build_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_golden_values() {
        // The CRC16 check value, and slots as redis-server's CLUSTER KEYSLOT reports them.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn follows_hash_tags() {
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"{user1000}.following"));
        // Empty tag: the whole key is hashed.
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        // Only the first `{` counts.
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"{unclosed"), b"{unclosed");
    }
}
