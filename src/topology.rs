//! What a node knows of the cluster at one moment, as plain data: the live
//! members with their addresses and states, and the serving ring built from
//! them. Pure: the node rebuilds it whenever membership changes and
//! publishes it for commands (`CLUSTER ...`, `SHOAL ...`, `INFO cluster`)
//! and for routing, which read it without locks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::keyslot::Slot;
use crate::ring::{MemberState, RingSnapshot};

/// One live member as commands and routing need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyMember {
    /// Stable node id.
    pub id: String,
    /// Where Redis clients reach it.
    pub client_addr: SocketAddr,
    /// Where peers reach it (forwarding).
    pub peer_addr: SocketAddr,
    /// Its gossip address.
    pub gossip_addr: SocketAddr,
    /// Its metrics port (0 = off).
    pub metrics_port: u16,
    /// Joining, active or leaving.
    pub state: MemberState,
    /// Identity bump (grows with every state or address change).
    pub bump: u64,
    /// Unix ms at which its process started.
    pub started_at: u64,
    /// True while gossip suspects it (not yet declared down).
    pub suspect: bool,
    /// True for the local node.
    pub is_local: bool,
}

/// The cluster as this node sees it.
#[derive(Debug, Clone)]
pub struct Topology {
    /// This node's id.
    pub local_id: String,
    /// Live members sorted by id, this node included.
    pub members: Vec<TopologyMember>,
    /// The ring that routes requests (active and leaving members).
    pub serving: Arc<RingSnapshot>,
    /// The ring once ownership changes under way finish (joining and
    /// active members); equal to `serving` when nothing moves.
    pub target: Arc<RingSnapshot>,
    /// Slots this node owns in `serving` but has handed off to their new
    /// owner (the id): routed there, never served here.
    pub handoffs: Arc<BTreeMap<Slot, String>>,
}

/// The nodes other than this one that must apply a write to a slot.
pub type WriteTargets<'t> = SmallVec<[&'t str; 4]>;

impl Topology {
    /// A topology holding only the local node (before membership starts).
    pub fn single(local: TopologyMember, vnodes: u32, replicas: usize) -> Topology {
        let members = [crate::ring::RingMember::new(local.id.clone(), local.state)];
        let serving = RingSnapshot::serving(&members, vnodes, replicas);
        let target = RingSnapshot::target(&members, vnodes, replicas);
        Topology::new(local.id.clone(), vec![local], Arc::new(serving), Arc::new(target))
    }

    /// A topology without handoffs.
    pub fn new(
        local_id: String,
        members: Vec<TopologyMember>,
        serving: Arc<RingSnapshot>,
        target: Arc<RingSnapshot>,
    ) -> Topology {
        Topology { local_id, members, serving, target, handoffs: Arc::default() }
    }

    /// The node that serves `slot` now: its serving owner, or the node it
    /// was handed off to. `None` when no member serves.
    pub fn owner(&self, slot: Slot) -> Option<&str> {
        let owner = self.serving.owner(slot)?;
        if !self.handoffs.is_empty()
            && owner == self.local_id
            && let Some(to) = self.handoffs.get(&slot)
        {
            return Some(to);
        }
        Some(owner)
    }

    /// Whether any member besides this node is live.
    pub fn has_peers(&self) -> bool {
        self.members.len() > 1
    }

    /// Every node but this one holding a copy of `slot` in the serving or
    /// the target ring: where the owner sends each write.
    pub fn write_targets(&self, slot: Slot) -> WriteTargets<'_> {
        let mut targets = WriteTargets::new();
        for id in self.serving.copies(slot).chain(self.target.copies(slot)) {
            if id != self.local_id && !targets.contains(&id) {
                targets.push(id);
            }
        }
        targets
    }

    /// Whether this node holds `slot` in the serving or the target ring.
    pub fn is_copy(&self, node_id: &str, slot: Slot) -> bool {
        self.serving.copies(slot).chain(self.target.copies(slot)).any(|id| id == node_id)
    }

    /// The member with `id`.
    pub fn member(&self, id: &str) -> Option<&TopologyMember> {
        self.members.binary_search_by(|m| m.id.as_str().cmp(id)).ok().map(|i| &self.members[i])
    }

    /// This node's entry.
    pub fn local(&self) -> Option<&TopologyMember> {
        self.member(&self.local_id)
    }

    /// Members that own slots in the serving ring (active or leaving), sorted by id.
    pub fn serving_members(&self) -> impl Iterator<Item = &TopologyMember> {
        self.members.iter().filter(|m| m.state.is_serving())
    }

    /// The ring's view id (equal on nodes that see the same member set).
    pub fn view_id(&self) -> u64 {
        self.serving.view_id()
    }

    /// True when every slot has an owner.
    pub fn all_slots_owned(&self) -> bool {
        !self.serving.is_empty()
    }
}
