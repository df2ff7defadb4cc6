//! The query API on small hand-made rings.

use super::{active, random_ids, reference_copies};
use crate::keyslot::{SLOTS, Slot, key_slot};
use crate::ring::{MemberState, RingMember, RingSnapshot, SlotRange, moving_slots};

#[test]
fn empty_ring_has_no_owners() {
    for ring in [RingSnapshot::build(&[], 256, 1), RingSnapshot::build(&active(&["node-a"]), 0, 1)] {
        assert!(ring.is_empty());
        assert_eq!(ring.owner(0), None);
        assert_eq!(ring.owner(16383), None);
        assert_eq!(ring.owner_of_key(b"foo"), None);
        assert_eq!(ring.replicas(7).count(), 0);
        assert_eq!(ring.copies(7).count(), 0);
        assert!(ring.all_ranges().is_empty());
        assert!(ring.slot_ranges("node-a").is_empty());
        assert!(ring.slot_counts().iter().all(|&(_, count)| count == 0));
    }
}

#[test]
fn single_node_owns_everything_without_replicas() {
    let ring = RingSnapshot::build(&active(&["solo"]), 256, 2);
    assert_eq!(ring.replica_count(), 2);
    assert_eq!(ring.replicas_per_slot(), 0);
    assert_eq!(ring.owner(9), Some("solo"));
    assert_eq!(ring.copies(9).collect::<Vec<_>>(), ["solo"]);
    assert_eq!(ring.slot_ranges("solo"), [SlotRange::new(0, 16383)]);
    assert_eq!(ring.all_ranges(), [(SlotRange::new(0, 16383), 0)]);
    assert_eq!(ring.slot_counts(), [("solo", SLOTS)]);
}

#[test]
fn ranges_cover_the_ring_and_agree_with_owners() {
    let ring = RingSnapshot::build(&active(&["node-a", "node-b", "node-c"]), 64, 1);
    let ranges = ring.all_ranges();
    let mut next: usize = 0;
    for (index, &(range, owner)) in ranges.iter().enumerate() {
        assert_eq!(range.start as usize, next);
        if index > 0 {
            assert_ne!(ranges[index - 1].1, owner, "runs are maximal");
        }
        for slot in range.start..=range.end {
            assert_eq!(ring.owner_index(slot), Some(owner));
        }
        next = range.end as usize + 1;
    }
    assert_eq!(next, SLOTS);

    for (id, count) in ring.slot_counts() {
        let owned: usize = ring.slot_ranges(id).iter().map(SlotRange::len).sum();
        assert_eq!(owned, count, "{id}");
    }
    assert!(ring.slot_ranges("stranger").is_empty());
}

#[test]
fn fast_sweep_matches_the_reference_rule() {
    let ids = random_ids(7, 6);
    let members: Vec<RingMember> =
        ids.iter().map(|id| RingMember::new(id.clone(), MemberState::Active)).collect();
    let ring = RingSnapshot::build(&members, 32, 3);
    for slot in (0..SLOTS as Slot).step_by(7).chain([SLOTS as Slot - 1]) {
        assert_eq!(ring.copies(slot).collect::<Vec<_>>(), reference_copies(&ids, 32, 3, slot), "slot {slot}");
    }
}

#[test]
fn owner_of_key_uses_redis_key_slots() {
    let ring = RingSnapshot::build(&active(&["node-a", "node-b", "node-c"]), 256, 1);
    for key in [&b"foo"[..], b"{user1}.a", b"user1", b""] {
        assert_eq!(ring.owner_of_key(key), ring.owner(key_slot(key)));
    }
    assert_eq!(ring.owner_of_key(b"{user1}.a"), ring.owner_of_key(b"user1"));
}

#[test]
fn serving_and_target_rings_pick_members_by_state() {
    let members = [
        RingMember::new("joiner", MemberState::Joining),
        RingMember::new("steady", MemberState::Active),
        RingMember::new("leaver", MemberState::Leaving),
    ];
    let ids =
        |ring: &RingSnapshot| -> Vec<String> { ring.nodes().iter().map(|node| node.id.clone()).collect() };
    let serving = RingSnapshot::serving(&members, 64, 1);
    let target = RingSnapshot::target(&members, 64, 1);
    assert_eq!(ids(&serving), ["leaver", "steady"]);
    assert_eq!(ids(&target), ["joiner", "steady"]);
    assert_eq!(ids(&RingSnapshot::build(&members, 64, 1)).len(), 3);
    assert_eq!(serving.member("leaver").unwrap().state, MemberState::Leaving);
    assert!(target.member("leaver").is_none());
}

#[test]
fn duplicate_ids_keep_the_earliest_state() {
    let forwards = [
        RingMember::new("node-a", MemberState::Leaving),
        RingMember::new("node-b", MemberState::Active),
        RingMember::new("node-a", MemberState::Active),
    ];
    let mut backwards = forwards.clone();
    backwards.reverse();
    let ring = RingSnapshot::build(&forwards, 64, 1);
    assert_eq!(ring, RingSnapshot::build(&backwards, 64, 1));
    assert_eq!(ring.nodes().len(), 2);
    assert_eq!(ring.member("node-a").unwrap().state, MemberState::Active);
    assert_eq!(ring.view_id(), RingSnapshot::build(&active(&["node-a", "node-b"]), 64, 1).view_id());
}

#[test]
fn moving_slots_of_identical_and_empty_rings() {
    let members = active(&["node-a", "node-b", "node-c"]);
    let ring = RingSnapshot::build(&members, 64, 1);
    let empty = RingSnapshot::build(&[], 64, 1);
    assert!(moving_slots(&ring, &ring.clone()).is_empty());
    assert!(moving_slots(&empty, &empty).is_empty());
    assert_eq!(moving_slots(&empty, &ring).len(), SLOTS);
    assert_eq!(moving_slots(&ring, &empty).len(), SLOTS);
    // A state change alone moves nothing, though the view id changes.
    let mut leaving = members.clone();
    leaving[1].state = MemberState::Leaving;
    let relabelled = RingSnapshot::build(&leaving, 64, 1);
    assert_ne!(relabelled.view_id(), ring.view_id());
    assert!(moving_slots(&ring, &relabelled).is_empty());
}

#[test]
fn debug_output_is_short() {
    let ring = RingSnapshot::build(&active(&["node-a"]), 256, 1);
    assert!(format!("{ring:?}").len() < 300);
}
