//! Frozen placement. These numbers were computed once and checked against
//! the C reference implementation of XXH3 (libxxhash) and an independent
//! script of the placement rule. If one of these tests fails, placement has
//! changed: nodes of different versions would disagree about owners. Do not
//! update the numbers unless that is the intent, and then say so loudly.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{active, reference_copies};
use crate::ring::{MemberState, RING_SEED, RingMember, RingSnapshot, slot_position, vnode_token};

#[test]
fn seed_is_the_documented_constant() {
    assert_eq!(RING_SEED, u64::from_be_bytes(*b"shoal-r1"));
}

#[test]
fn tokens_are_pinned() {
    let pinned: [(&str, u32, u64); 5] = [
        ("node-a", 0, 15274158958293788839),
        ("node-a", 1, 6350743473373067194),
        ("node-b", 0, 18098230602294457184),
        ("node-c", 255, 17971999416550235539),
        ("", 0, 8248240474173437973),
    ];
    for (id, index, token) in pinned {
        assert_eq!(vnode_token(id, index), token, "token of ({id:?}, {index})");
        // The same from bytes spelled out by hand: id bytes ++ index as u32 LE.
        let mut bytes = id.as_bytes().to_vec();
        bytes.extend_from_slice(&[index as u8, (index >> 8) as u8, 0, 0]);
        assert_eq!(xxh3_64_with_seed(&bytes, RING_SEED), token);
    }
}

#[test]
fn slot_positions_are_pinned() {
    assert_eq!(slot_position(0), 0);
    assert_eq!(slot_position(1), 1 << 50);
    assert_eq!(slot_position(16383), 0xfffc_0000_0000_0000);
}

#[test]
fn owners_of_a_three_node_ring_are_pinned() {
    let ring = RingSnapshot::build(&active(&["node-c", "node-a", "node-b"]), 256, 2);
    let pinned: [(u16, [&str; 3]); 6] = [
        (0, ["node-c", "node-b", "node-a"]),
        (1, ["node-c", "node-b", "node-a"]),
        (5000, ["node-b", "node-a", "node-c"]),
        (8191, ["node-a", "node-c", "node-b"]),
        (12182, ["node-b", "node-a", "node-c"]),
        (16383, ["node-c", "node-b", "node-a"]),
    ];
    let ids: Vec<String> = ["node-a", "node-b", "node-c"].map(String::from).to_vec();
    for (slot, copies) in pinned {
        assert_eq!(ring.copies(slot).collect::<Vec<_>>(), copies, "slot {slot}");
        assert_eq!(reference_copies(&ids, 256, 2, slot), copies, "slot {slot}");
    }
    // `foo` hashes to slot 12182.
    assert_eq!(ring.owner_of_key(b"foo"), Some("node-b"));
    assert_eq!(ring.slot_counts(), vec![("node-a", 5527), ("node-b", 5488), ("node-c", 5369)]);
}

#[test]
fn view_ids_are_pinned() {
    let all_active = active(&["node-a", "node-b", "node-c"]);
    assert_eq!(RingSnapshot::build(&all_active, 256, 1).view_id(), 10228972863654992554);
    let mixed = [
        RingMember::new("node-c", MemberState::Leaving),
        RingMember::new("node-a", MemberState::Active),
        RingMember::new("node-b", MemberState::Joining),
    ];
    assert_eq!(RingSnapshot::build(&mixed, 256, 1).view_id(), 17304765845145575816);
    assert_eq!(RingSnapshot::build(&[], 256, 1).view_id(), 13506610386626775370);
}

#[test]
fn view_id_covers_states_vnodes_and_replicas() {
    let members = active(&["node-a", "node-b", "node-c"]);
    let base = RingSnapshot::build(&members, 256, 1).view_id();
    assert_ne!(RingSnapshot::build(&members, 128, 1).view_id(), base);
    assert_ne!(RingSnapshot::build(&members, 256, 2).view_id(), base);
    let mut leaving = members.clone();
    leaving[0].state = MemberState::Leaving;
    assert_ne!(RingSnapshot::build(&leaving, 256, 1).view_id(), base);
    // Length prefixes keep ids from running into each other.
    assert_ne!(
        RingSnapshot::build(&active(&["ab", "c"]), 256, 1).view_id(),
        RingSnapshot::build(&active(&["a", "bc"]), 256, 1).view_id()
    );
}
