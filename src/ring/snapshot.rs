//! The immutable ring snapshot and its queries.

use std::fmt;

use super::member::{MemberState, RingMember};
use super::placement::{NodeIndex, SlotTable, place};
use super::ranges::{SlotRange, merge_runs};
use super::view::view_id;
use crate::keyslot::{Slot, key_slot};

/// Who owns and who replicates every slot, for one set of members.
///
/// Built once per member-set change and then only read (readers share it
/// behind an `Arc`). A pure function of the *set* of members, the vnode count
/// and the replica count: every node that sees the same members computes an
/// identical snapshot with the same [`view_id`](Self::view_id).
///
/// Node indices used by [`all_ranges`](Self::all_ranges) and friends index
/// [`nodes`](Self::nodes), which is sorted by id.
#[derive(Clone, PartialEq, Eq)]
pub struct RingSnapshot {
    nodes: Vec<RingMember>,
    vnodes: u32,
    replica_count: usize,
    table: SlotTable,
    view_id: u64,
}

impl RingSnapshot {
    /// Places every member in `members`, whatever its state, with `vnodes`
    /// tokens each and `replicas` replicas per slot (the owner excluded).
    ///
    /// Input order does not matter. When an id appears more than once, the
    /// members are sorted by `(id, state)` and the first is kept, i.e. the
    /// entry with the earliest state in `Joining < Active < Leaving`. (The
    /// membership layer should already have resolved duplicates; this only
    /// keeps the result deterministic.) With no members, or `vnodes == 0`,
    /// no slot has an owner.
    ///
    /// # Panics
    /// If more than 65535 distinct ids are given.
    pub fn build(members: &[RingMember], vnodes: u32, replicas: usize) -> RingSnapshot {
        let mut nodes = members.to_vec();
        nodes.sort_unstable();
        nodes.dedup_by(|later, first| later.id == first.id);
        let table = place(&nodes, vnodes, replicas);
        let view_id = view_id(&nodes, vnodes, replicas);
        RingSnapshot { nodes, vnodes, replica_count: replicas, table, view_id }
    }

    /// The serving ring: `Active` and `Leaving` members. Routing and
    /// `CLUSTER SLOTS` use it.
    pub fn serving(members: &[RingMember], vnodes: u32, replicas: usize) -> RingSnapshot {
        Self::build_filtered(members, vnodes, replicas, MemberState::is_serving)
    }

    /// The target ring: `Joining` and `Active` members, i.e. the ring once
    /// every join and leave under way has finished.
    pub fn target(members: &[RingMember], vnodes: u32, replicas: usize) -> RingSnapshot {
        Self::build_filtered(members, vnodes, replicas, MemberState::is_in_target)
    }

    fn build_filtered(
        members: &[RingMember],
        vnodes: u32,
        replicas: usize,
        keep: fn(MemberState) -> bool,
    ) -> RingSnapshot {
        let kept: Vec<RingMember> = members.iter().filter(|member| keep(member.state)).cloned().collect();
        Self::build(&kept, vnodes, replicas)
    }

    /// The placed members, sorted by id, one per id.
    pub fn nodes(&self) -> &[RingMember] {
        &self.nodes
    }

    /// The index of `node_id` in [`nodes`](Self::nodes), if it is placed.
    pub fn node_index(&self, node_id: &str) -> Option<usize> {
        self.nodes.binary_search_by(|node| node.id.as_str().cmp(node_id)).ok()
    }

    /// The placed member with id `node_id`, if any.
    pub fn member(&self, node_id: &str) -> Option<&RingMember> {
        self.node_index(node_id).map(|index| &self.nodes[index])
    }

    /// Whether no slot has an owner (no members, or zero vnodes).
    pub fn is_empty(&self) -> bool {
        self.table.owners.is_empty()
    }

    /// Fingerprint of the inputs (member ids and states, vnodes, replicas).
    /// Equal view ids mean equal snapshots; compare for equality only.
    pub fn view_id(&self) -> u64 {
        self.view_id
    }

    /// Tokens per node.
    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    /// The replica count asked for. A slot has fewer when there are not
    /// enough other nodes: see [`replicas_per_slot`](Self::replicas_per_slot).
    pub fn replica_count(&self) -> usize {
        self.replica_count
    }

    /// Replicas every slot actually has: the requested count capped at the
    /// number of nodes minus one (0 for an empty ring).
    pub fn replicas_per_slot(&self) -> usize {
        self.table.stride
    }

    /// Index in [`nodes`](Self::nodes) of the owner of `slot`; `None` for an
    /// empty ring.
    ///
    /// # Panics
    /// If `slot >= SLOTS` on a non-empty ring.
    pub fn owner_index(&self, slot: Slot) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        Some(self.table.owners[slot as usize] as usize)
    }

    /// Id of the owner of `slot`; `None` for an empty ring.
    ///
    /// # Panics
    /// If `slot >= SLOTS` on a non-empty ring.
    pub fn owner(&self, slot: Slot) -> Option<&str> {
        self.owner_index(slot).map(|index| self.id(index))
    }

    /// Id of the owner of the slot of `key` (Redis's CRC16 with hash tags).
    pub fn owner_of_key(&self, key: &[u8]) -> Option<&str> {
        self.owner(key_slot(key))
    }

    /// Indices in [`nodes`](Self::nodes) of the replicas of `slot`, the
    /// nearest clockwise first (the first one takes over if the owner fails).
    ///
    /// # Panics
    /// If `slot >= SLOTS` on a non-empty ring.
    pub fn replica_indices(&self, slot: Slot) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.replica_index_slice(slot).iter().map(|&index| index as usize)
    }

    /// Ids of the replicas of `slot`, nearest first; distinct from each
    /// other and from the owner.
    ///
    /// # Panics
    /// If `slot >= SLOTS` on a non-empty ring.
    pub fn replicas(&self, slot: Slot) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.replica_indices(slot).map(|index| self.id(index))
    }

    /// Ids of every node holding a copy of `slot`: the owner, then the
    /// replicas nearest first. Empty for an empty ring.
    ///
    /// # Panics
    /// If `slot >= SLOTS` on a non-empty ring.
    pub fn copies(&self, slot: Slot) -> impl Iterator<Item = &str> + '_ {
        self.owner(slot).into_iter().chain(self.replicas(slot))
    }

    /// The slot runs owned by `node_id`, in slot order, each maximal.
    /// Empty when the node is not placed or owns nothing.
    pub fn slot_ranges(&self, node_id: &str) -> Vec<SlotRange> {
        let Some(index) = self.node_index(node_id) else {
            return Vec::new();
        };
        self.all_ranges().into_iter().filter(|&(_, owner)| owner == index).map(|(range, _)| range).collect()
    }

    /// The whole ring as maximal runs of slots with one owner, in slot order,
    /// with the owner's index in [`nodes`](Self::nodes). Empty for an empty
    /// ring; otherwise the runs cover slots `0..SLOTS` exactly.
    pub fn all_ranges(&self) -> Vec<(SlotRange, usize)> {
        merge_runs(&self.table.owners).into_iter().map(|(range, owner)| (range, owner as usize)).collect()
    }

    /// Slots owned by each node, in [`nodes`](Self::nodes) order (nodes that
    /// own nothing included, with 0).
    pub fn slot_counts(&self) -> Vec<(&str, usize)> {
        let mut counts = vec![0usize; self.nodes.len()];
        for &owner in &self.table.owners {
            counts[owner as usize] += 1;
        }
        self.nodes.iter().zip(counts).map(|(node, count)| (node.id.as_str(), count)).collect()
    }

    fn id(&self, index: usize) -> &str {
        &self.nodes[index].id
    }

    /// The raw replica indices of `slot`, for comparing snapshots.
    pub(super) fn replica_index_slice(&self, slot: Slot) -> &[NodeIndex] {
        let stride = self.table.stride;
        let start = slot as usize * stride;
        &self.table.replicas[start..start + stride]
    }

    /// The raw owner index of `slot`, for comparing snapshots.
    pub(super) fn owner_node_index(&self, slot: Slot) -> Option<NodeIndex> {
        self.table.owners.get(slot as usize).copied()
    }
}

/// Shows the inputs and view id, not the 16384-entry table.
impl fmt::Debug for RingSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingSnapshot")
            .field("view_id", &format_args!("{:016x}", self.view_id))
            .field("vnodes", &self.vnodes)
            .field("replica_count", &self.replica_count)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}
