//! What a node knows of the cluster at one moment, as plain data: the live
//! members with their addresses and states, and the serving ring built from
//! them. Pure: the node rebuilds it whenever membership changes and
//! publishes it for commands (`CLUSTER ...`, `SHOAL ...`, `INFO cluster`)
//! and for routing, which read it without locks.

use std::net::SocketAddr;
use std::sync::Arc;

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
}

impl Topology {
    /// A topology holding only the local node (before membership starts).
    pub fn single(local: TopologyMember, vnodes: u32, replicas: usize) -> Topology {
        let ring = RingSnapshot::serving(
            &[crate::ring::RingMember::new(local.id.clone(), local.state)],
            vnodes,
            replicas,
        );
        Topology { local_id: local.id.clone(), members: vec![local], serving: Arc::new(ring) }
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
