//! Token positions of virtual nodes on the 64-bit ring.
//!
//! This hash is the placement contract between every node and every version
//! of Shoal: two nodes that disagree about a token disagree about who owns a
//! slot. It is XXH3-64 (whose output is frozen by its specification) over
//! explicitly built bytes, never `std::hash::Hash`, `RandomState` or ahash,
//! whose outputs may change between builds, platforms or processes. Golden
//! values in the tests pin it.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Seed of every hash the ring computes: the ASCII bytes `shoal-r1` read as a
/// big-endian number. Any fixed value would do; changing it moves every slot
/// and changes every view id.
pub const RING_SEED: u64 = 0x7368_6f61_6c2d_7231;

/// The position of virtual node `index` of node `node_id`:
/// `xxh3_64_with_seed(node_id ++ (index as u32).to_le_bytes(), RING_SEED)`.
///
/// Tokens keep their full 64 bits. Rounding them to the 16384 slot positions
/// would make tokens of different nodes collide and pile slots onto whichever
/// node wins the tie.
pub fn vnode_token(node_id: &str, index: u32) -> u64 {
    let mut bytes = Vec::with_capacity(node_id.len() + 4);
    bytes.extend_from_slice(node_id.as_bytes());
    bytes.extend_from_slice(&index.to_le_bytes());
    xxh3_64_with_seed(&bytes, RING_SEED)
}

/// The ring position of slot `slot`: the slots sit evenly on the ring,
/// `2^50` apart, slot 0 at position 0.
pub fn slot_position(slot: crate::keyslot::Slot) -> u64 {
    (slot as u64) << 50
}
