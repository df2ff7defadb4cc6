//! Who a node is on the gossip layer: the foca identity.
//!
//! Everything the ring and the peers need to know about a member travels in
//! the identity (custom broadcasts are sent a bounded number of times and have
//! no anti-entropy, identities are re-gossiped for as long as the member
//! lives). Changing any of it means a new identity with a higher `bump`,
//! handed to foca's `change_identity`.

use std::cmp::Ordering;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::ring::MemberState;

/// Longest node id accepted, in bytes. Identities travel in every packet
/// header, so they must stay small next to the UDP payload limit.
pub const MAX_NODE_ID_LEN: usize = 128;

/// A node as the cluster knows it: foca's identity type.
///
/// foca keys members by [`addr`](foca::Identity::addr), the advertised gossip
/// address; Shoal keys them by `node_id` (see
/// [`MemberView`](super::MemberView)). Two identities with one address are
/// two versions of one process: the one with the higher
/// [`precedence`](Self::precedence) wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The stable node id the ring hashes. Empty only for a seed placeholder.
    pub node_id: String,
    /// The advertised gossip address: foca's `Addr`, and the host the other
    /// advertised ports belong to.
    pub gossip_addr: SocketAddr,
    /// Advertised peer protocol (TCP) port.
    pub peer_port: u16,
    /// Advertised client (RESP) port.
    pub client_port: u16,
    /// Advertised metrics (HTTP) port; 0 when metrics are off.
    pub metrics_port: u16,
    /// Lifecycle state (joining, active, leaving).
    #[serde(with = "state_wire")]
    pub state: MemberState,
    /// Unix milliseconds when this process started; a new value for a known
    /// node id means the node restarted.
    pub started_at: u64,
    /// Version of this identity within the process: seeded from the wall
    /// clock at start, incremented by every change. Higher wins.
    pub bump: u64,
}

impl NodeIdentity {
    /// A placeholder for a seed known only by its address: the destination
    /// of an announce. foca accepts an announce whose destination has the
    /// receiver's address, whatever the rest of the identity says.
    pub fn seed(gossip_addr: SocketAddr) -> NodeIdentity {
        NodeIdentity {
            node_id: String::new(),
            gossip_addr,
            peer_port: 0,
            client_port: 0,
            metrics_port: 0,
            state: MemberState::Joining,
            started_at: 0,
            bump: 0,
        }
    }

    /// Whether this is a [`seed`](Self::seed) placeholder rather than a
    /// real member.
    pub fn is_seed_placeholder(&self) -> bool {
        self.node_id.is_empty()
    }

    /// The same node in `state`, as a newer identity (bump + 1).
    pub fn with_state(&self, state: MemberState) -> NodeIdentity {
        NodeIdentity { state, bump: self.bump.wrapping_add(1), ..self.clone() }
    }

    /// The advertised peer protocol address.
    pub fn peer_addr(&self) -> SocketAddr {
        SocketAddr::new(self.gossip_addr.ip(), self.peer_port)
    }

    /// The advertised client address.
    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::new(self.gossip_addr.ip(), self.client_port)
    }

    /// The advertised metrics address, if metrics are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        (self.metrics_port != 0).then(|| SocketAddr::new(self.gossip_addr.ip(), self.metrics_port))
    }

    /// Which of two identities is newer: by bump, then start time, then
    /// the remaining fields so that distinct identities never tie. Used for
    /// foca's address conflicts and to pick one identity per node id.
    pub fn precedence(&self, other: &NodeIdentity) -> Ordering {
        let key = |id: &NodeIdentity| {
            (
                id.bump,
                id.started_at,
                state_wire::to_byte(id.state),
                id.gossip_addr,
                id.peer_port,
                id.client_port,
                id.metrics_port,
            )
        };
        key(self).cmp(&key(other)).then_with(|| self.node_id.cmp(&other.node_id))
    }
}

impl foca::Identity for NodeIdentity {
    type Addr = SocketAddr;

    /// foca renews an identity the cluster declared down (auto-rejoin).
    /// While it was down, others took over its slots and may have accepted
    /// writes it never saw, so it comes back `joining` and copies its slots
    /// afresh instead of serving what it held (a leaving node stays
    /// leaving).
    fn renew(&self) -> Option<Self> {
        let state = match self.state {
            MemberState::Leaving => MemberState::Leaving,
            _ => MemberState::Joining,
        };
        Some(NodeIdentity { bump: self.bump.wrapping_add(1), state, ..self.clone() })
    }

    fn addr(&self) -> SocketAddr {
        self.gossip_addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.precedence(adversary) == Ordering::Greater
    }
}

/// The state's wire encoding: explicit bytes, so reordering
/// [`MemberState`] cannot change what peers decode.
mod state_wire {
    use serde::{Deserialize, Deserializer, Serializer, de};

    use crate::ring::MemberState;

    pub(super) fn to_byte(state: MemberState) -> u8 {
        match state {
            MemberState::Joining => 1,
            MemberState::Active => 2,
            MemberState::Leaving => 3,
        }
    }

    pub(super) fn serialize<S: Serializer>(state: &MemberState, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(to_byte(*state))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<MemberState, D::Error> {
        match u8::deserialize(deserializer)? {
            1 => Ok(MemberState::Joining),
            2 => Ok(MemberState::Active),
            3 => Ok(MemberState::Leaving),
            other => Err(de::Error::custom(format_args!("unknown member state {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use foca::{Codec, Identity, Member};

    use super::*;

    fn node(bump: u64) -> NodeIdentity {
        NodeIdentity {
            node_id: "n1".into(),
            gossip_addr: "127.0.0.1:7000".parse().unwrap(),
            peer_port: 7001,
            client_port: 7002,
            metrics_port: 0,
            state: MemberState::Joining,
            started_at: 1_000,
            bump,
        }
    }

    #[test]
    fn renew_wins_the_address_conflict() {
        let old = NodeIdentity { state: MemberState::Active, ..node(5) };
        let new = old.renew().unwrap();
        assert_eq!(new.bump, 6);
        assert_eq!(new.state, MemberState::Joining, "a node declared down comes back joining");
        assert_eq!(new.addr(), old.addr());
        assert!(new.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&new));
    }

    #[test]
    fn state_change_is_a_newer_identity() {
        let old = node(5);
        let new = old.with_state(MemberState::Active);
        assert_eq!(new.state, MemberState::Active);
        assert_eq!(new.started_at, old.started_at);
        assert!(new.win_addr_conflict(&old));
    }

    #[test]
    fn higher_bump_wins_over_later_start() {
        let mut restarted = node(5);
        restarted.started_at = 9_000;
        assert!(node(6).win_addr_conflict(&restarted));
    }

    #[test]
    fn distinct_identities_never_tie() {
        let a = node(5);
        let mut others =
            vec![a.with_state(MemberState::Leaving), a.clone(), NodeIdentity::seed(a.gossip_addr)];
        let mut renamed = a.clone();
        renamed.node_id = "n2".into();
        others.push(renamed);
        let mut moved = a.clone();
        moved.client_port = 1;
        others.push(moved);
        for x in &others {
            for y in &others {
                if x != y {
                    assert_ne!(x.win_addr_conflict(y), y.win_addr_conflict(x), "{x:?} vs {y:?}");
                }
            }
        }
    }

    #[test]
    fn seed_placeholder_is_distinguishable() {
        let seed = NodeIdentity::seed("127.0.0.1:7000".parse().unwrap());
        assert!(seed.is_seed_placeholder());
        assert!(!node(1).is_seed_placeholder());
        assert_eq!(seed.addr(), node(1).addr());
        assert!(node(1).win_addr_conflict(&seed));
    }

    #[test]
    fn advertised_addresses_share_the_gossip_host() {
        let id = node(1);
        assert_eq!(id.peer_addr(), "127.0.0.1:7001".parse().unwrap());
        assert_eq!(id.client_addr(), "127.0.0.1:7002".parse().unwrap());
        assert_eq!(id.metrics_addr(), None);
    }

    fn encode(id: &NodeIdentity) -> Vec<u8> {
        let mut buf = Vec::new();
        foca::PostcardCodec.encode_member(&Member::alive(id.clone()), &mut buf).unwrap();
        buf
    }

    #[test]
    fn wire_round_trip_and_unknown_state() {
        let id = node(7);
        let bytes = encode(&id);
        let decoded: Member<NodeIdentity> = foca::PostcardCodec.decode_member(&bytes[..]).unwrap();
        assert_eq!(decoded.id(), &id);

        let leaving = NodeIdentity { state: MemberState::Leaving, ..id.clone() };
        let other = encode(&leaving);
        let diff: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != other[i]).collect();
        assert_eq!(diff.len(), 1, "only the state byte differs");
        assert_eq!((bytes[diff[0]], other[diff[0]]), (1, 3));
        let mut bad = bytes.clone();
        bad[diff[0]] = 9;
        let result: Result<Member<NodeIdentity>, _> = foca::PostcardCodec.decode_member(&bad[..]);
        assert!(result.is_err());
    }
}
