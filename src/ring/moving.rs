//! Which slots an ownership change moves.

use super::placement::NodeIndex;
use super::snapshot::RingSnapshot;
use crate::keyslot::{SLOTS, Slot};

/// The slots whose owner or set of replicas differs between the `serving`
/// and the `target` ring, in slot order. These are the slots that need new
/// copies pulled, dual writes and a handoff before the change completes.
///
/// Replicas are compared as sets: a replica that only changes rank (nearest
/// vs second nearest) already holds the data.
pub fn moving_slots(serving: &RingSnapshot, target: &RingSnapshot) -> Vec<Slot> {
    // Node indices differ between snapshots; translate serving indices into
    // target indices once, so the per-slot comparison is on integers.
    let to_target: Vec<Option<NodeIndex>> = serving
        .nodes()
        .iter()
        .map(|node| target.node_index(&node.id).map(|index| index as NodeIndex))
        .collect();
    let translate = |index: NodeIndex| to_target[index as usize];

    (0..SLOTS as Slot)
        .filter(|&slot| {
            !same_owner(serving, target, slot, translate)
                || !same_replica_set(serving, target, slot, translate)
        })
        .collect()
}

fn same_owner(
    serving: &RingSnapshot,
    target: &RingSnapshot,
    slot: Slot,
    translate: impl Fn(NodeIndex) -> Option<NodeIndex>,
) -> bool {
    match (serving.owner_node_index(slot), target.owner_node_index(slot)) {
        (None, None) => true,
        (Some(before), Some(after)) => translate(before) == Some(after),
        _ => false,
    }
}

fn same_replica_set(
    serving: &RingSnapshot,
    target: &RingSnapshot,
    slot: Slot,
    translate: impl Fn(NodeIndex) -> Option<NodeIndex>,
) -> bool {
    let before = serving.replica_index_slice(slot);
    let after = target.replica_index_slice(slot);
    before.len() == after.len()
        && before.iter().all(|&index| translate(index).is_some_and(|index| after.contains(&index)))
}
