//! The placement sweep: from a node list to the slot -> owner and replicas
//! table.
//!
//! Every node's tokens are collected and sorted once; then one pass over the
//! slots, in ring order, moves a cursor to the first token at or after each
//! slot's position. Replicas come from walking on clockwise from the owner's
//! token and skipping nodes already chosen.

use super::member::RingMember;
use super::token::{slot_position, vnode_token};
use crate::keyslot::{SLOTS, Slot};

/// Index of a node in a snapshot's sorted node list. `u16` keeps the slot
/// table small (32 KiB of owners); it limits a ring to 65535 nodes.
pub(super) type NodeIndex = u16;

/// Largest node count a slot table can index.
pub(super) const MAX_NODES: usize = NodeIndex::MAX as usize;

/// Who holds each slot.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct SlotTable {
    /// `owners[slot]`: the owner's node index. Empty when the ring has no
    /// tokens (no nodes, or zero vnodes).
    pub owners: Vec<NodeIndex>,
    /// Replicas of slot `s` are `replicas[s * stride..(s + 1) * stride]`,
    /// nearest first.
    pub replicas: Vec<NodeIndex>,
    /// Replicas per slot: the requested count, capped at the number of other
    /// nodes. Every slot has exactly this many.
    pub stride: usize,
}

/// Places `nodes` (sorted by id, ids distinct) with `vnodes` tokens each and
/// up to `replicas` replicas per slot.
///
/// # Panics
/// If there are more than [`MAX_NODES`] nodes.
pub(super) fn place(nodes: &[RingMember], vnodes: u32, replicas: usize) -> SlotTable {
    assert!(nodes.len() <= MAX_NODES, "a ring holds at most {MAX_NODES} nodes, got {}", nodes.len());
    let tokens = sorted_tokens(nodes, vnodes);
    if tokens.is_empty() {
        return SlotTable { owners: Vec::new(), replicas: Vec::new(), stride: 0 };
    }
    let stride = replicas.min(nodes.len() - 1);
    let mut owners = Vec::with_capacity(SLOTS);
    let mut replica_table = Vec::with_capacity(SLOTS * stride);
    let mut walker = ReplicaWalker::new(nodes.len(), stride);

    let mut cursor = 0;
    for slot in 0..SLOTS as Slot {
        let position = slot_position(slot);
        while cursor < tokens.len() && tokens[cursor].0 < position {
            cursor += 1;
        }
        // Past the last token the ring wraps to the first one.
        let owner_token = if cursor == tokens.len() { 0 } else { cursor };
        owners.push(tokens[owner_token].1);
        replica_table.extend_from_slice(walker.replicas_after(&tokens, owner_token));
    }

    SlotTable { owners, replicas: replica_table, stride }
}

/// Every token of every node as `(position, node index)`, in ring order.
/// Two nodes hashing to the same position (astronomically unlikely) are
/// ordered by node index, so the result is still a function of the set.
fn sorted_tokens(nodes: &[RingMember], vnodes: u32) -> Vec<(u64, NodeIndex)> {
    let mut tokens = Vec::with_capacity(nodes.len() * vnodes as usize);
    for (index, node) in nodes.iter().enumerate() {
        let index = index as NodeIndex;
        tokens.extend((0..vnodes).map(|i| (vnode_token(&node.id, i), index)));
    }
    tokens.sort_unstable();
    tokens
}

/// Finds the replicas that follow an owner's token, remembering the last
/// answer (consecutive slots usually share an owner token).
struct ReplicaWalker {
    stride: usize,
    /// `seen[node] == round` marks a node as already chosen in this walk;
    /// bumping `round` clears all marks at once.
    seen: Vec<u32>,
    round: u32,
    last_token: Option<usize>,
    chosen: Vec<NodeIndex>,
}

impl ReplicaWalker {
    fn new(node_count: usize, stride: usize) -> Self {
        ReplicaWalker {
            stride,
            seen: vec![0; node_count],
            round: 0,
            last_token: None,
            chosen: Vec::with_capacity(stride),
        }
    }

    /// The first `stride` distinct nodes clockwise after token `owner_token`,
    /// other than its owner. Terminates because every node has a token and
    /// `stride` is below the node count.
    fn replicas_after(&mut self, tokens: &[(u64, NodeIndex)], owner_token: usize) -> &[NodeIndex] {
        if self.last_token == Some(owner_token) {
            return &self.chosen;
        }
        self.last_token = Some(owner_token);
        self.chosen.clear();
        self.round += 1;
        self.seen[tokens[owner_token].1 as usize] = self.round;
        let mut at = owner_token;
        while self.chosen.len() < self.stride {
            at = (at + 1) % tokens.len();
            let node = tokens[at].1;
            if self.seen[node as usize] != self.round {
                self.seen[node as usize] = self.round;
                self.chosen.push(node);
            }
        }
        &self.chosen
    }
}
