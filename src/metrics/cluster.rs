//! The cluster as this node sees it: its own identity, members by
//! liveness, gossip traffic, the ring, forwarding and peer connections.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use super::family::{Family, Kind, Spec, descs, single};
use super::members::MemberTracker;
use crate::cmd::ServerState;
use crate::keyslot::SLOTS;
use crate::membership::{MembershipHandle, StatsSnapshot};
use crate::peer::{PeerPool, PeerStatsSnapshot};
use crate::ring::{MemberState, moving_slots};
use crate::router::{ForwardResult, ForwardStats};
use crate::topology::Topology;

/// `shoal_node_info{node_id,version}`.
pub const NODE_INFO: Spec = Spec {
    name: "shoal_node_info",
    help: "Always 1; labels name this node and its version.",
    kind: Kind::Gauge,
    labels: &["node_id", "version"],
};
/// `shoal_node_state{state}`.
pub const NODE_STATE: Spec = Spec {
    name: "shoal_node_state",
    help: "1 for this node's lifecycle state (joining, active, leaving), 0 for the others.",
    kind: Kind::Gauge,
    labels: &["state"],
};
/// `shoal_node_start_time_seconds`.
pub const NODE_START_TIME: Spec = Spec {
    name: "shoal_node_start_time_seconds",
    help: "Unix time this node's process started (the started_at of its gossip identity).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_node_identity_bump`.
pub const NODE_BUMP: Spec = Spec {
    name: "shoal_node_identity_bump",
    help: "Bump of this node's gossip identity: grows with every state or address change.",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_cluster_members{state}`.
pub const MEMBERS: Spec = Spec {
    name: "shoal_cluster_members",
    help: "Members this node sees, itself included, by liveness: alive, suspect, or down (declared down \
           without a graceful leave, counted until it returns or for an hour).",
    kind: Kind::Gauge,
    labels: &["state"],
};
/// `shoal_cluster_membership_changes_total`.
pub const MEMBERSHIP_CHANGES: Spec = Spec {
    name: "shoal_cluster_membership_changes_total",
    help: "Changes of the member set or of a member's state or liveness seen by this node.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_cluster_duplicate_node_ids_total`.
pub const DUPLICATE_IDS: Spec = Spec {
    name: "shoal_cluster_duplicate_node_ids_total",
    help: "Node ids held by two live processes for longer than a grace period (a configuration error).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_gossip_packets_sent_total`.
pub const GOSSIP_SENT: Spec = Spec {
    name: "shoal_gossip_packets_sent_total",
    help: "Gossip datagrams sent.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_gossip_packets_received_total`.
pub const GOSSIP_RECEIVED: Spec = Spec {
    name: "shoal_gossip_packets_received_total",
    help: "Gossip datagrams received, accepted or not.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_gossip_packets_rejected_total{reason}`.
pub const GOSSIP_REJECTED: Spec = Spec {
    name: "shoal_gossip_packets_rejected_total",
    help: "Gossip datagrams dropped, by reason (bad_magic, bad_version, wrong_cluster, unknown_key, bad_mac, \
           too_large, malformed).",
    kind: Kind::Counter,
    labels: &["reason"],
};
/// `shoal_gossip_errors_total{operation}`.
pub const GOSSIP_ERRORS: Spec = Spec {
    name: "shoal_gossip_errors_total",
    help: "Gossip socket errors by operation (send, receive); the gossip loop went on.",
    kind: Kind::Counter,
    labels: &["operation"],
};
/// `shoal_ring_view_info{view_id}`.
pub const RING_VIEW: Spec = Spec {
    name: "shoal_ring_view_info",
    help: "Always 1; view_id fingerprints the serving ring (equal on nodes that agree on the members).",
    kind: Kind::Gauge,
    labels: &["view_id"],
};
/// `shoal_ring_view_changes_total`.
pub const RING_VIEW_CHANGES: Spec = Spec {
    name: "shoal_ring_view_changes_total",
    help: "Serving ring views this node published, the first included.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_ring_nodes`.
pub const RING_NODES: Spec = Spec {
    name: "shoal_ring_nodes",
    help: "Nodes in the serving ring (active and leaving members).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_ring_owned_slots`.
pub const RING_OWNED_SLOTS: Spec = Spec {
    name: "shoal_ring_owned_slots",
    help: "Hash slots (of 16384) this node owns in the serving ring.",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_ring_owned_slots_ratio`.
pub const RING_SHARE: Spec = Spec {
    name: "shoal_ring_owned_slots_ratio",
    help: "Share of the 16384 hash slots this node owns in the serving ring (0 to 1).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_cluster_replicas_configured`.
pub const REPLICAS_CONFIGURED: Spec = Spec {
    name: "shoal_cluster_replicas_configured",
    help: "Extra copies per slot asked for by cluster.replicas.",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_ring_replicas_per_slot`.
pub const RING_REPLICAS: Spec = Spec {
    name: "shoal_ring_replicas_per_slot",
    help: "Replica nodes the serving ring places per slot: cluster.replicas, capped at the ring's nodes \
           minus one.",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_ring_moving_slots`.
pub const RING_MOVING_SLOTS: Spec = Spec {
    name: "shoal_ring_moving_slots",
    help: "Slots whose owner or replicas differ between the serving ring and the ring once the joins and \
           leaves under way finish.",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_replication_under_replicated_slots`.
pub const UNDER_REPLICATED: Spec = Spec {
    name: "shoal_replication_under_replicated_slots",
    help: "Slots this node is an owner or replica of in the serving ring but does not hold a complete copy \
           of yet (0 everywhere = every slot has all its copies).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_rebalance_slots_to_pull`.
pub const SLOTS_TO_PULL: Spec = Spec {
    name: "shoal_rebalance_slots_to_pull",
    help: "Slots this node must copy (serving or target ring) and does not hold yet.",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_replication_slots_held`.
pub const SLOTS_HELD: Spec = Spec {
    name: "shoal_replication_slots_held",
    help: "Slots this node holds a complete copy of (owned or replicated).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_replication_keys_held`.
pub const KEYS_HELD: Spec = Spec {
    name: "shoal_replication_keys_held",
    help: "Keys this node stores, replica copies included (shoal_keys counts owned keys only).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_rebalance_pulled_keys_total`.
pub const PULLED_KEYS: Spec = Spec {
    name: "shoal_rebalance_pulled_keys_total",
    help: "Keys pulled from other nodes while copying slots.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_rebalance_pulled_bytes_total`.
pub const PULLED_BYTES: Spec = Spec {
    name: "shoal_rebalance_pulled_bytes_total",
    help: "Bytes pulled from other nodes while copying slots.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_rebalance_served_keys_total`.
pub const SERVED_KEYS: Spec = Spec {
    name: "shoal_rebalance_served_keys_total",
    help: "Keys sent to nodes pulling slots from this node.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_rebalance_handed_off_slots_total`.
pub const HANDED_OFF: Spec = Spec {
    name: "shoal_rebalance_handed_off_slots_total",
    help: "Slots this node stopped serving for their new owner.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_replication_batches_total{result}`.
pub const REPLICATED: Spec = Spec {
    name: "shoal_replication_batches_total",
    help: "Batches of written keys sent to a slot's other copies, by result (ok; failed = a copy gossip \
           still lists did not acknowledge, the client got -TRYAGAIN).",
    kind: Kind::Counter,
    labels: &["result"],
};
/// `shoal_replication_applied_total`.
pub const APPLIED: Spec = Spec {
    name: "shoal_replication_applied_total",
    help: "Key states received from owners (writes, pulls) that changed this node's copy.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_forwarded_requests_total{peer,result}`.
pub const FORWARDS: Spec = Spec {
    name: "shoal_forwarded_requests_total",
    help: "Requests sent to a peer (forwarded, split or fanned out), by peer node id and result (ok, \
           wrong_owner, error, unreachable, timeout, closed).",
    kind: Kind::Counter,
    labels: &["peer", "result"],
};
/// `shoal_forward_duration_seconds`.
pub const FORWARD_DURATION: Spec = Spec {
    name: "shoal_forward_duration_seconds",
    help: "Time from sending a request to a peer to its answer or failure.",
    kind: Kind::Histogram,
    labels: &[],
};
/// `shoal_peer_connection_state{peer,state}`.
pub const PEER_STATE: Spec = Spec {
    name: "shoal_peer_connection_state",
    help: "1 for the state of this node's connection to each peer (connected, connecting, backing_off, idle), \
           0 for the others.",
    kind: Kind::Gauge,
    labels: &["peer", "state"],
};
/// `shoal_peer_connections{direction}`.
pub const PEER_CONNECTIONS: Spec = Spec {
    name: "shoal_peer_connections",
    help: "Peer connections open now, by direction (outgoing, incoming).",
    kind: Kind::Gauge,
    labels: &["direction"],
};
/// `shoal_peer_reconnects_total`.
pub const PEER_RECONNECTS: Spec = Spec {
    name: "shoal_peer_reconnects_total",
    help: "Connections opened to a peer that had one before.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_peer_connect_failures_total`.
pub const PEER_CONNECT_FAILURES: Spec = Spec {
    name: "shoal_peer_connect_failures_total",
    help: "Connects to peers that failed or timed out.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_peer_handshake_failures_total`.
pub const PEER_HANDSHAKE_FAILURES: Spec = Spec {
    name: "shoal_peer_handshake_failures_total",
    help: "Peer handshakes refused or broken off, either side (wrong secret, cluster name or version).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_peer_requests_received_total`.
pub const PEER_REQUESTS_RECEIVED: Spec = Spec {
    name: "shoal_peer_requests_received_total",
    help: "Requests other nodes forwarded to this one.",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_peer_bad_frames_total`.
pub const PEER_BAD_FRAMES: Spec = Spec {
    name: "shoal_peer_bad_frames_total",
    help: "Peer frames refused: too large, undecodable or of an unknown kind.",
    kind: Kind::Counter,
    labels: &[],
};

/// Every family of this collector.
pub const SPECS: &[&Spec] = &[
    &NODE_INFO,
    &NODE_STATE,
    &NODE_START_TIME,
    &NODE_BUMP,
    &MEMBERS,
    &MEMBERSHIP_CHANGES,
    &DUPLICATE_IDS,
    &GOSSIP_SENT,
    &GOSSIP_RECEIVED,
    &GOSSIP_REJECTED,
    &GOSSIP_ERRORS,
    &RING_VIEW,
    &RING_VIEW_CHANGES,
    &RING_NODES,
    &RING_OWNED_SLOTS,
    &RING_SHARE,
    &REPLICAS_CONFIGURED,
    &RING_REPLICAS,
    &RING_MOVING_SLOTS,
    &UNDER_REPLICATED,
    &SLOTS_TO_PULL,
    &SLOTS_HELD,
    &KEYS_HELD,
    &PULLED_KEYS,
    &PULLED_BYTES,
    &SERVED_KEYS,
    &HANDED_OFF,
    &REPLICATED,
    &APPLIED,
    &FORWARDS,
    &FORWARD_DURATION,
    &PEER_STATE,
    &PEER_CONNECTIONS,
    &PEER_RECONNECTS,
    &PEER_CONNECT_FAILURES,
    &PEER_HANDSHAKE_FAILURES,
    &PEER_REQUESTS_RECEIVED,
    &PEER_BAD_FRAMES,
];

const PEER_STATES: [&str; 4] = ["connected", "connecting", "backing_off", "idle"];

/// What the collector reads.
pub struct ClusterSources {
    /// Topology and ring-view counter.
    pub server: Arc<ServerState>,
    /// Gossip identity and counters.
    pub membership: Arc<MembershipHandle>,
    /// Peer connections.
    pub pool: Arc<PeerPool>,
    /// Forwarding counters.
    pub forwards: Arc<ForwardStats>,
    /// Members by liveness.
    pub members: Arc<MemberTracker>,
    /// `cluster.replicas`.
    pub replicas: usize,
}

/// Ring figures derived from one topology, kept until the next one.
struct RingFacts {
    topology: Arc<Topology>,
    owned: usize,
    moving: usize,
}

/// See the module documentation.
pub struct ClusterCollector {
    sources: ClusterSources,
    ring: Mutex<Option<RingFacts>>,
    descs: Vec<Desc>,
}

impl ClusterCollector {
    /// A collector over `sources`.
    pub fn new(sources: ClusterSources) -> ClusterCollector {
        ClusterCollector { sources, ring: Mutex::new(None), descs: descs(SPECS) }
    }

    fn node(&self) -> Vec<MetricFamily> {
        let identity = self.sources.membership.local_identity();
        let mut info = Family::new(&NODE_INFO);
        info.add(&[&identity.node_id, env!("CARGO_PKG_VERSION")], 1.0);
        let mut state = Family::new(&NODE_STATE);
        for s in [MemberState::Joining, MemberState::Active, MemberState::Leaving] {
            state.add(&[state_name(s)], f64::from(u8::from(identity.state == s)));
        }
        vec![
            info.finish(),
            state.finish(),
            single(&NODE_START_TIME, identity.started_at as f64 / 1000.0),
            single(&NODE_BUMP, identity.bump as f64),
        ]
    }

    fn gossip(&self) -> Vec<MetricFamily> {
        let counts = self.sources.members.counts();
        let mut members = Family::new(&MEMBERS);
        members.add(&["alive"], counts.alive as f64);
        members.add(&["suspect"], counts.suspect as f64);
        members.add(&["down"], counts.down as f64);
        let s: StatsSnapshot = self.sources.membership.stats();
        let mut rejected = Family::new(&GOSSIP_REJECTED);
        for (reason, n) in [
            ("bad_magic", s.rejected_bad_magic),
            ("bad_version", s.rejected_bad_version),
            ("wrong_cluster", s.rejected_wrong_cluster),
            ("unknown_key", s.rejected_unknown_key),
            ("bad_mac", s.rejected_bad_mac),
            ("too_large", s.rejected_too_large),
            ("malformed", s.rejected_malformed),
        ] {
            rejected.add(&[reason], n as f64);
        }
        let mut errors = Family::new(&GOSSIP_ERRORS);
        errors.add(&["send"], s.send_errors as f64).add(&["receive"], s.recv_errors as f64);
        vec![
            members.finish(),
            single(&MEMBERSHIP_CHANGES, s.view_changes as f64),
            single(&DUPLICATE_IDS, s.duplicate_node_ids as f64),
            single(&GOSSIP_SENT, s.packets_sent as f64),
            single(&GOSSIP_RECEIVED, s.packets_received as f64),
            rejected.finish(),
            errors.finish(),
        ]
    }

    fn ring(&self, topology: &Arc<Topology>) -> Vec<MetricFamily> {
        let (owned, moving) = self.ring_facts(topology);
        let ring = &topology.serving;
        let mut view = Family::new(&RING_VIEW);
        view.add(&[&format!("{:016x}", ring.view_id())], 1.0);
        let changes = self.sources.server.stats.ring_view_changes.load(std::sync::atomic::Ordering::Relaxed);
        vec![
            view.finish(),
            single(&RING_VIEW_CHANGES, changes as f64),
            single(&RING_NODES, ring.nodes().len() as f64),
            single(&RING_OWNED_SLOTS, owned as f64),
            single(&RING_SHARE, owned as f64 / SLOTS as f64),
            single(&REPLICAS_CONFIGURED, self.sources.replicas as f64),
            single(&RING_REPLICAS, ring.replicas_per_slot() as f64),
            single(&RING_MOVING_SLOTS, moving as f64),
        ]
    }

    fn replication(&self) -> Vec<MetricFamily> {
        let r = self.sources.server.rebalance_info();
        let mut batches = Family::new(&REPLICATED);
        batches.add(&["ok"], r.replicated.saturating_sub(r.replication_failures) as f64);
        batches.add(&["failed"], r.replication_failures as f64);
        vec![
            single(&UNDER_REPLICATED, r.under_replicated as f64),
            single(&SLOTS_TO_PULL, r.slots_to_pull as f64),
            single(&SLOTS_HELD, r.slots_held as f64),
            single(&KEYS_HELD, r.keys_held as f64),
            single(&PULLED_KEYS, r.keys_pulled as f64),
            single(&PULLED_BYTES, r.bytes_pulled as f64),
            single(&SERVED_KEYS, r.keys_served as f64),
            single(&HANDED_OFF, r.slots_handed_off as f64),
            batches.finish(),
            single(&APPLIED, r.applied as f64),
        ]
    }

    /// Owned and moving slots for `topology`, computed once per topology.
    fn ring_facts(&self, topology: &Arc<Topology>) -> (usize, usize) {
        let mut cached = self.ring.lock();
        if let Some(facts) = cached.as_ref().filter(|f| Arc::ptr_eq(&f.topology, topology)) {
            return (facts.owned, facts.moving);
        }
        let serving = &topology.serving;
        let owned =
            serving.slot_counts().into_iter().find(|(id, _)| *id == topology.local_id).map_or(0, |(_, n)| n);
        let moving = moving_slots(serving, &topology.target).len();
        *cached = Some(RingFacts { topology: topology.clone(), owned, moving });
        (owned, moving)
    }

    fn peers(&self, topology: &Topology) -> Vec<MetricFamily> {
        let forwards = &self.sources.forwards;
        forwards.track(topology.members.iter().filter(|m| !m.is_local).map(|m| m.id.as_str()));
        let mut by_peer = Family::new(&FORWARDS);
        for (peer, counts) in forwards.peers().iter() {
            for result in ForwardResult::ALL {
                by_peer.add(&[peer, result.as_str()], counts.count(result) as f64);
            }
        }
        let mut latency = Family::new(&FORWARD_DURATION);
        latency.add_histogram(&[], &forwards.latency());

        let mut states = self.sources.pool.connection_states();
        for member in topology.members.iter().filter(|m| !m.is_local) {
            if !states.iter().any(|(id, _)| *id == member.id) {
                states.push((member.id.clone(), "idle"));
            }
        }
        let mut connection = Family::new(&PEER_STATE);
        for (peer, current) in &states {
            for state in PEER_STATES {
                connection.add(&[peer, state], f64::from(u8::from(*current == state)));
            }
        }
        let s: PeerStatsSnapshot = self.sources.pool.stats();
        let mut open = Family::new(&PEER_CONNECTIONS);
        open.add(&["outgoing"], s.open_outgoing as f64).add(&["incoming"], s.open_incoming as f64);
        vec![
            by_peer.finish(),
            latency.finish(),
            connection.finish(),
            open.finish(),
            single(&PEER_RECONNECTS, s.reconnects as f64),
            single(&PEER_CONNECT_FAILURES, s.connect_failures as f64),
            single(&PEER_HANDSHAKE_FAILURES, s.handshake_failures as f64),
            single(&PEER_REQUESTS_RECEIVED, s.requests_received as f64),
            single(&PEER_BAD_FRAMES, s.bad_frames as f64),
        ]
    }
}

fn state_name(state: MemberState) -> &'static str {
    match state {
        MemberState::Joining => "joining",
        MemberState::Active => "active",
        MemberState::Leaving => "leaving",
    }
}

impl Collector for ClusterCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let topology = self.sources.server.topology();
        let mut families = self.node();
        families.extend(self.gossip());
        families.extend(self.ring(&topology));
        families.extend(self.replication());
        families.extend(self.peers(&topology));
        families
    }
}
