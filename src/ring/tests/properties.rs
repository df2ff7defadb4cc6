//! Properties of placement over generated member sets. A fixed RNG seed and
//! a modest case count keep runs reproducible and quick in debug builds.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::RngSeed;

use super::reference_copies;
use crate::keyslot::{SLOTS, Slot};
use crate::ring::{MemberState, RingMember, RingSnapshot, moving_slots};

/// Tokens per node in these tests: enough for the join share to be near
/// `1/(N+1)`, few enough to stay fast.
const VNODES: u32 = 64;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        rng_seed: RngSeed::Fixed(0x5348_4f41_4c21),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn any_state() -> impl Strategy<Value = MemberState> {
    prop_oneof![Just(MemberState::Joining), Just(MemberState::Active), Just(MemberState::Leaving),]
}

/// Between `min` and `max` distinct node ids.
fn distinct_ids(min: usize, max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-z0-9.-]{1,12}", min..=max).prop_map(|ids| ids.into_iter().collect())
}

fn active(ids: &[String]) -> Vec<RingMember> {
    ids.iter().map(|id| RingMember::new(id.clone(), MemberState::Active)).collect()
}

/// Whether every copy of `slot` in `ring` is also a copy in `other` or is
/// `except`.
fn copies_within(ring: &RingSnapshot, other: &RingSnapshot, slot: Slot, except: &str) -> bool {
    ring.copies(slot).all(|id| id == except || other.copies(slot).any(|held| held == id))
}

proptest! {
    #![proptest_config(config())]

    /// Members given in any order, with repeated ids, give one snapshot.
    #[test]
    fn insertion_order_does_not_matter(
        (members, shuffled) in prop::collection::vec(("[a-e]{1,2}", any_state()), 0..12)
            .prop_map(|pairs| {
                pairs.into_iter().map(|(id, state)| RingMember::new(id, state)).collect::<Vec<_>>()
            })
            .prop_flat_map(|members| (Just(members.clone()), Just(members).prop_shuffle())),
        replicas in 0usize..3,
    ) {
        let ring = RingSnapshot::build(&members, 16, replicas);
        let again = RingSnapshot::build(&shuffled, 16, replicas);
        prop_assert_eq!(ring.view_id(), again.view_id());
        prop_assert!(ring == again);
        prop_assert!(RingSnapshot::serving(&members, 16, replicas) == RingSnapshot::serving(&shuffled, 16, replicas));
        prop_assert!(RingSnapshot::target(&members, 16, replicas) == RingSnapshot::target(&shuffled, 16, replicas));
    }

    /// A join moves slots only to the joiner, about `1/(N+1)` of them, and a
    /// slot's new copies are its old copies plus possibly the joiner.
    #[test]
    fn join_moves_only_slots_to_the_joiner(ids in distinct_ids(2, 10), pick in any::<Index>()) {
        let joiner = ids[pick.index(ids.len())].clone();
        let before_ids: Vec<String> = ids.iter().filter(|id| **id != joiner).cloned().collect();
        let before = RingSnapshot::build(&active(&before_ids), VNODES, 1);
        let after = RingSnapshot::build(&active(&ids), VNODES, 1);

        let mut moved = 0;
        for slot in 0..SLOTS as Slot {
            if before.owner(slot) != after.owner(slot) {
                prop_assert_eq!(after.owner(slot), Some(joiner.as_str()), "slot {}", slot);
                moved += 1;
            }
            prop_assert!(copies_within(&after, &before, slot, &joiner), "slot {}", slot);
        }
        let joiner_slots = after.slot_ranges(&joiner).iter().map(|range| range.len()).sum::<usize>();
        prop_assert_eq!(moved, joiner_slots);
        let fair_share = SLOTS as f64 / ids.len() as f64;
        let share = moved as f64 / fair_share;
        prop_assert!((0.5..=1.6).contains(&share), "joiner took {} slots, fair share {:.0}", moved, fair_share);
    }

    /// A leave moves only the leaver's slots, and every other copy stays.
    #[test]
    fn leave_moves_only_the_leavers_slots(ids in distinct_ids(2, 10), pick in any::<Index>()) {
        let leaver = ids[pick.index(ids.len())].clone();
        let after_ids: Vec<String> = ids.iter().filter(|id| **id != leaver).cloned().collect();
        let before = RingSnapshot::build(&active(&ids), VNODES, 1);
        let after = RingSnapshot::build(&active(&after_ids), VNODES, 1);

        for slot in 0..SLOTS as Slot {
            if before.owner(slot) != after.owner(slot) {
                prop_assert_eq!(before.owner(slot), Some(leaver.as_str()), "slot {}", slot);
            }
            prop_assert!(copies_within(&before, &after, slot, &leaver), "slot {}", slot);
        }
    }

    /// Every slot has the owner plus `min(replicas, N - 1)` distinct replicas,
    /// exactly those the naive rule finds.
    #[test]
    fn replicas_are_distinct_and_follow_the_rule(
        ids in distinct_ids(1, 8),
        vnodes in 1u32..24,
        replicas in 0usize..5,
    ) {
        let ring = RingSnapshot::build(&active(&ids), vnodes, replicas);
        let expected = 1 + replicas.min(ids.len() - 1);
        for slot in 0..SLOTS as Slot {
            let copies: Vec<&str> = ring.copies(slot).collect();
            prop_assert_eq!(copies.len(), expected);
            prop_assert_eq!(copies.iter().collect::<BTreeSet<_>>().len(), expected, "slot {}", slot);
        }
        for slot in (0..SLOTS as Slot).step_by(331) {
            prop_assert_eq!(
                ring.copies(slot).collect::<Vec<_>>(),
                reference_copies(&ids, vnodes, replicas, slot),
                "slot {}", slot
            );
        }
    }

    /// `moving_slots` lists exactly the slots whose owner or replica set
    /// differs, compared by id.
    #[test]
    fn moving_slots_are_those_whose_copies_differ(
        ids in distinct_ids(1, 8),
        pick in any::<Index>(),
        replicas in 0usize..3,
    ) {
        let joiner = ids[pick.index(ids.len())].clone();
        let members: Vec<RingMember> = ids
            .iter()
            .map(|id| {
                let state = if *id == joiner { MemberState::Joining } else { MemberState::Active };
                RingMember::new(id.clone(), state)
            })
            .collect();
        let serving = RingSnapshot::serving(&members, 16, replicas);
        let target = RingSnapshot::target(&members, 16, replicas);
        let expected: Vec<Slot> = (0..SLOTS as Slot)
            .filter(|&slot| {
                serving.owner(slot) != target.owner(slot)
                    || serving.replicas(slot).collect::<BTreeSet<_>>()
                        != target.replicas(slot).collect::<BTreeSet<_>>()
            })
            .collect();
        prop_assert_eq!(moving_slots(&serving, &target), expected.clone());
        prop_assert_eq!(moving_slots(&target, &serving), expected);
    }
}
