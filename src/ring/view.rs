//! The view id: a fingerprint of what a ring was built from.
//!
//! Two nodes that built their rings from the same members (ids and states),
//! vnode count and replica count get the same view id, whatever order they
//! learnt of the members in. Gossip has no global order, so view ids are
//! only compared for equality, e.g. by a forwarded request to tell whether
//! sender and receiver see the same ring.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::member::RingMember;
use super::token::RING_SEED;

/// Version of the byte encoding below; part of the hashed bytes, so a change
/// of encoding cannot collide with the old one.
const VIEW_ENCODING_VERSION: u8 = 1;

/// The view id of `nodes` (sorted by id, ids distinct) placed with `vnodes`
/// tokens and `replicas` replicas: XXH3-64 with [`RING_SEED`] over
///
/// ```text
/// version u8 | vnodes u32 LE | replicas u64 LE |
///   for each node: id length u64 LE | id bytes | state byte
/// ```
pub(super) fn view_id(nodes: &[RingMember], vnodes: u32, replicas: usize) -> u64 {
    let ids_len: usize = nodes.iter().map(|node| node.id.len() + 9).sum();
    let mut bytes = Vec::with_capacity(13 + ids_len);
    bytes.push(VIEW_ENCODING_VERSION);
    bytes.extend_from_slice(&vnodes.to_le_bytes());
    bytes.extend_from_slice(&(replicas as u64).to_le_bytes());
    for node in nodes {
        bytes.extend_from_slice(&(node.id.len() as u64).to_le_bytes());
        bytes.extend_from_slice(node.id.as_bytes());
        bytes.push(node.state.view_byte());
    }
    xxh3_64_with_seed(&bytes, RING_SEED)
}
