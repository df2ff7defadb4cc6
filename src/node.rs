//! A running node: wires the store, the client server, gossip membership
//! and the published topology, and stops them all on shutdown.
//!
//! Every node is a cluster node: with no seeds it is a cluster of one that
//! others may join. The node owns three sockets (client TCP, peer TCP,
//! gossip UDP), bound by [`NodeSockets::bind`] or handed in by tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::cmd::{ServerState, Settings};
use crate::config::{self, Config};
use crate::membership::{
    GossipOverrides, GossipProfile, Liveness, MemberView, Membership, MembershipConfig, MembershipError,
    MembershipHandle,
};
use crate::metrics::{Metrics, MetricsSources};
use crate::peer::{self, PeerConfig, PeerError, PeerPool, PeerStats};
use crate::replication::{Replication, ReplicationSettings, rebalance};
use crate::ring::{MemberState, RingSnapshot};
use crate::router::{NodeService, Router};
use crate::server::accept_loop;
use crate::store::Store;
use crate::topology::{Topology, TopologyMember};

/// How often the active expiry cycle runs (Redis's `hz 10`).
const EXPIRE_PERIOD: Duration = Duration::from_millis(100);
/// Entries examined per expiry step.
const EXPIRE_BUDGET: usize = 2000;
/// Longest one expiry round may run before yielding.
const EXPIRE_TIME_LIMIT: Duration = Duration::from_millis(25);
/// How long a graceful leave waits for gossip to carry the news.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a node that left keeps answering peers that have not noticed.
const PEER_LINGER: Duration = Duration::from_millis(500);

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A socket could not be bound or read; nothing was started.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The gossip layer refused its settings; nothing was started.
    #[error("gossip membership could not start")]
    Membership(#[from] MembershipError),
    /// The peer layer refused its settings; nothing was started.
    #[error("the peer protocol could not start")]
    Peer(#[from] PeerError),
    /// The cluster secret file could not be read; nothing was started.
    #[error("cannot read cluster.secret_file {path}")]
    SecretFile {
        /// The configured path.
        path: String,
        /// Why reading failed.
        source: std::io::Error,
    },
}

/// The sockets a node serves on.
pub struct NodeSockets {
    /// Redis clients.
    pub client: TcpListener,
    /// Other nodes' forwarded requests.
    pub peer: TcpListener,
    /// SWIM gossip.
    pub gossip: UdpSocket,
    /// Prometheus `/metrics`, `/health`, `/ready`; `None` = no endpoint.
    pub metrics: Option<TcpListener>,
}

impl NodeSockets {
    /// Binds the client, peer, gossip and metrics ports of `config` on
    /// `node.bind` (no metrics listener when `metrics.port` is 0).
    pub async fn bind(config: &Config) -> std::io::Result<NodeSockets> {
        let ip = config.node.bind;
        let client = bind_tcp(SocketAddr::new(ip, config.server.port), "client").await?;
        let peer = bind_tcp(SocketAddr::new(ip, config.peer.port), "peer").await?;
        let gossip_addr = SocketAddr::new(ip, config.gossip_port());
        let gossip = UdpSocket::bind(gossip_addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot bind the gossip port {gossip_addr}: {e}"))
        })?;
        let metrics = match config.metrics.port {
            0 => None,
            port => Some(bind_tcp(SocketAddr::new(ip, port), "metrics").await?),
        };
        Ok(NodeSockets { client, peer, gossip, metrics })
    }

    /// Binds the client, peer and gossip sockets on free ports of
    /// 127.0.0.1, without a metrics endpoint (tests).
    pub async fn loopback() -> std::io::Result<NodeSockets> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(NodeSockets {
            client: TcpListener::bind(any).await?,
            peer: TcpListener::bind(any).await?,
            gossip: UdpSocket::bind(any).await?,
            metrics: None,
        })
    }

    /// Like [`loopback`](Self::loopback), with the metrics endpoint on a
    /// free port too.
    pub async fn loopback_with_metrics() -> std::io::Result<NodeSockets> {
        let mut sockets = NodeSockets::loopback().await?;
        sockets.metrics = Some(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?);
        Ok(sockets)
    }
}

async fn bind_tcp(addr: SocketAddr, what: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for {what} connections on {addr}: {e}"))
    })
}

/// The run-time settings a node's commands see, from its configuration.
pub fn settings_from_config(config: &Config, config_file: &str) -> Settings {
    Settings {
        bind: config.node.bind.to_string(),
        port: config.server.port,
        maxclients: config.server.maxclients as u64,
        timeout: config.server.timeout,
        proto_max_bulk_len: config.server.proto_max_bulk_len.as_u64(),
        max_multibulk_len: config.server.max_multibulk_len,
        requirepass: config.server.requirepass.clone(),
        maxmemory: config.store.maxmemory.as_u64(),
        maxmemory_policy: config.store.maxmemory_policy.as_str().to_string(),
        maxmemory_samples: config.store.maxmemory_samples as u64,
        cluster_port: config.peer.port,
        announce_ip: config.advertise_addr().to_string(),
        loglevel: redis_loglevel(&config.log.level).to_string(),
        config_file: config_file.to_string(),
        ..Settings::default()
    }
}

/// Redis's `loglevel` word for a log filter: its default level (the first
/// directive without a target), `notice` when there is none.
fn redis_loglevel(filter: &str) -> &'static str {
    let level = filter.split(',').map(str::trim).find(|d| !d.contains('=')).unwrap_or("info");
    match level.to_ascii_lowercase().as_str() {
        "trace" | "debug" => "debug",
        "warn" | "error" => "warning",
        "off" => "nothing",
        _ => "notice",
    }
}

/// A started node. Drop does not stop it: call [`NodeHandle::shutdown`].
pub struct NodeHandle {
    node_id: String,
    addr: SocketAddr,
    peer_addr: SocketAddr,
    gossip_addr: SocketAddr,
    store: Arc<Store>,
    server: Arc<ServerState>,
    membership: Arc<MembershipHandle>,
    pool: Arc<PeerPool>,
    replication: Arc<Replication>,
    forwards: Arc<crate::router::ForwardStats>,
    metrics: Arc<Metrics>,
    metrics_addr: Option<SocketAddr>,
    drain_timeout: Duration,
    /// Stops background tasks (membership, topology) after clients are done.
    background: CancellationToken,
    tracker: TaskTracker,
}

impl NodeHandle {
    /// Starts a node with `config` on `sockets`. Ports actually bound (port
    /// 0 picks a free one) replace the configured ones (`metrics.port`
    /// becomes 0 without a metrics listener); an unset `node.id` is derived
    /// from the bound client port.
    pub async fn start(
        config: Config,
        sockets: NodeSockets,
        config_file: &str,
    ) -> Result<NodeHandle, NodeError> {
        let mut config = config;
        let addr = sockets.client.local_addr()?;
        let peer_addr = sockets.peer.local_addr()?;
        let gossip_local = sockets.gossip.local_addr()?;
        config.server.port = addr.port();
        config.peer.port = peer_addr.port();
        config.gossip.port = Some(gossip_local.port());
        let metrics_addr = sockets.metrics.as_ref().map(TcpListener::local_addr).transpose()?;
        config.metrics.port = metrics_addr.map_or(0, |a| a.port());
        let node_id = config.node_id();
        let advertise_ip = config.advertise_addr();

        let shutdown = CancellationToken::new();
        let background = CancellationToken::new();
        let store = Arc::new(Store::new());
        let settings = settings_from_config(&config, config_file);
        store.set_memory_policy(settings.memory_policy());
        let server = Arc::new(ServerState::new(settings, shutdown.clone()));
        let tracker = TaskTracker::new();

        let secret = cluster_secret(&config)?;
        let peer_config = Arc::new(PeerConfig {
            cluster_name: config.cluster.name.clone(),
            secret: secret.clone(),
            connect_timeout: config.peer.connect_timeout.as_duration(),
            request_timeout: config.peer.request_timeout.as_duration(),
            max_frame_bytes: config.peer.max_frame_bytes.as_u64().min(u32::MAX as u64) as usize,
            ..PeerConfig::new(node_id.clone())
        });
        peer_config.validate()?;
        let peer_stats = Arc::new(PeerStats::default());
        let pool = Arc::new(PeerPool::with_stats(
            peer_config.clone(),
            background.child_token(),
            tracker.clone(),
            peer_stats.clone(),
        ));

        let replication = Replication::new(
            store.clone(),
            server.clone(),
            pool.clone(),
            ReplicationSettings {
                mode: config.replication.mode,
                timeout: config.replication.timeout.as_duration(),
                max_bytes_per_sec: config.rebalance.max_bytes_per_sec.as_u64(),
            },
        );

        {
            let replication = Arc::downgrade(&replication);
            let _ = server.rebalance.set(crate::cmd::RebalanceSource(Box::new(move || {
                replication.upgrade().map(|r| r.info()).unwrap_or_default()
            })));
        }

        let membership_config = membership_config(&config, &node_id, advertise_ip, gossip_local, secret)?;
        let bootstrap_timeout = membership_config.bootstrap_timeout;
        let membership =
            Arc::new(Membership::start(membership_config, sockets.gossip, background.child_token())?);
        let gossip_addr = membership.local_identity().gossip_addr;

        let vnodes = config.ring.vnodes;
        let replicas = config.cluster.replicas as usize;
        publish_topology(&replication, &node_id, &membership.members().borrow(), vnodes, replicas);
        // Tasks here and in the layers below carry the caller's span (if any): nodes sharing a
        // process (`shoal local-cluster`) log under their own id.
        tracker.spawn(
            topology_loop(
                replication.clone(),
                pool.clone(),
                node_id.clone(),
                membership.members(),
                vnodes,
                replicas,
                background.clone(),
            )
            .in_current_span(),
        );
        tracker.spawn(
            rebalance::run(replication.clone(), membership.clone(), bootstrap_timeout, background.clone())
                .in_current_span(),
        );
        let cluster_keyspace = config.cluster.keyspace == config::Keyspace::Cluster;
        let router = Arc::new(Router::new(
            store.clone(),
            server.clone(),
            pool.clone(),
            replication.clone(),
            cluster_keyspace,
        ));
        let forwards = router.forward_stats().clone();
        let metrics = Arc::new(
            Metrics::new(MetricsSources {
                store: store.clone(),
                server: server.clone(),
                membership: membership.clone(),
                pool: pool.clone(),
                forwards: router.forward_stats().clone(),
                replicas,
            })
            .expect("metric families are declared once each"),
        );
        // The endpoint outlives client service, like peers: /health and
        // /ready tell load balancers that the node is going.
        metrics.start(sockets.metrics, background.clone(), &tracker);
        let service = Arc::new(NodeService::new(store.clone(), server.clone(), replication.clone()));
        // Peers keep being served until the node's background stops, after
        // its own clients: a leaving node still answers forwarded requests.
        tracker.spawn(
            peer::serve(sockets.peer, service, peer_config, background.clone(), tracker.clone(), peer_stats)
                .in_current_span(),
        );
        tracker
            .spawn(accept_loop(sockets.client, router, shutdown.clone(), tracker.clone()).in_current_span());
        tracker.spawn(expire_loop(store.clone(), shutdown.clone()).in_current_span());
        Ok(NodeHandle {
            node_id,
            addr,
            peer_addr,
            gossip_addr,
            store,
            server,
            membership,
            pool,
            replication,
            forwards,
            metrics,
            metrics_addr,
            drain_timeout: config.shutdown.drain_timeout.as_duration(),
            background,
            tracker,
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The client address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer address the node listens on.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The advertised gossip address (what other nodes use as a seed).
    pub fn gossip_addr(&self) -> SocketAddr {
        self.gossip_addr
    }

    /// The node's store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The node's shared server state.
    pub fn server(&self) -> &Arc<ServerState> {
        &self.server
    }

    /// The gossip membership.
    pub fn membership(&self) -> &Arc<MembershipHandle> {
        &self.membership
    }

    /// The connections to other nodes.
    pub fn peers(&self) -> &Arc<PeerPool> {
        &self.pool
    }

    /// The node's metrics (its own registry).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Cancelled when the node begins shutting down (e.g. by `SHUTDOWN`).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.server.shutdown.clone()
    }

    /// Cancelled by `SHOAL LEAVE`: the owner of the node should call
    /// [`NodeHandle::shutdown`], which hands the node's slots over first.
    pub fn leave_token(&self) -> CancellationToken {
        self.server.leave.clone()
    }

    /// Counters of the client requests this node forwarded to peers.
    pub fn forwards(&self) -> &Arc<crate::router::ForwardStats> {
        &self.forwards
    }

    /// The node's replication (holdings, rebalancing counters).
    pub fn replication(&self) -> &Arc<Replication> {
        &self.replication
    }

    /// Graceful stop. In a cluster the node first turns `leaving` and,
    /// still serving, waits (at most `shutdown.drain_timeout`) until the
    /// nodes that take over its slots hold them, then hands its slots off.
    /// Then it stops accepting, lets connections answer what they have
    /// read, leaves the gossip ring (peers see it go at once rather than
    /// after failure detection) and waits for every task.
    pub async fn shutdown(self) {
        if self.membership.local_identity().state != MemberState::Leaving {
            let _ = self.membership.set_state(MemberState::Leaving).await;
        }
        if self.server.topology().has_peers() {
            let deadline = tokio::time::Instant::now() + self.drain_timeout;
            // Let the new state reach the topology before judging what to hand over.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if rebalance::drain(&self.replication, deadline).await {
                tracing::info!("handed every slot over");
            } else {
                tracing::warn!("shutdown.drain_timeout passed before every slot was handed over");
            }
        }
        self.server.shutdown.cancel();
        let had_peers = self.server.topology().has_peers();
        self.leave_ring().await;
        if had_peers {
            // Peers that have not seen the leave yet still send requests
            // here: answer them (`wrong owner`, so they retry elsewhere)
            // rather than closing their connections under them.
            tokio::time::sleep(PEER_LINGER).await;
        }
        self.stop().await;
    }

    /// Stops as one of a whole cluster stopping together: nobody stays to
    /// take its slots, so it hands nothing over and does not wait for
    /// peers. It still leaves the gossip ring, so nodes that have not
    /// stopped yet see it go at once.
    pub async fn shutdown_with_cluster(self) {
        self.server.shutdown.cancel();
        self.leave_ring().await;
        self.stop().await;
    }

    /// Stops without telling the cluster (peers detect a failure): what a
    /// crash looks like to the others, for tests.
    pub async fn kill(self) {
        self.server.shutdown.cancel();
        self.stop().await;
    }

    /// Leaves the gossip ring, waiting at most [`LEAVE_TIMEOUT`].
    async fn leave_ring(&self) {
        match tokio::time::timeout(LEAVE_TIMEOUT, self.membership.leave()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("leaving the gossip ring failed: {err}"),
            Err(_) => tracing::warn!("leaving the gossip ring timed out"),
        }
    }

    async fn stop(self) {
        self.background.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.membership.stopped().await;
    }
}

fn membership_config(
    config: &Config,
    node_id: &str,
    advertise_ip: std::net::IpAddr,
    gossip_local: SocketAddr,
    secret: Option<Vec<u8>>,
) -> Result<MembershipConfig, NodeError> {
    let mut m = MembershipConfig::new(node_id);
    m.cluster_name = config.cluster.name.clone();
    m.bind = gossip_local;
    m.advertise = Some(SocketAddr::new(advertise_ip, gossip_local.port()));
    m.peer_port = config.peer.port;
    m.client_port = config.server.port;
    m.metrics_port = config.metrics.port;
    m.seeds = config.cluster.seeds.clone();
    m.profile = match config.gossip.profile {
        config::GossipProfile::Lan => GossipProfile::Lan,
        config::GossipProfile::Fast => GossipProfile::Fast,
        config::GossipProfile::Wan => GossipProfile::Wan,
    };
    m.overrides = GossipOverrides {
        probe_period: config.gossip.probe_period.map(|d| d.as_duration()),
        probe_rtt: config.gossip.probe_rtt.map(|d| d.as_duration()),
        suspect_to_down_after: config.gossip.suspect_to_down_after.map(|d| d.as_duration()),
        max_packet_size: config.gossip.max_packet_size.map(|s| s.as_u64() as usize),
        ..GossipOverrides::default()
    };
    m.secret = secret;
    m.bootstrap_expect = config.cluster.bootstrap_expect as usize;
    m.bootstrap_timeout = config.cluster.bootstrap_timeout.as_duration();
    let alone = config.cluster.seeds.is_empty() && config.cluster.bootstrap_expect == 0;
    m.initial_state = if alone { MemberState::Active } else { MemberState::Joining };
    Ok(m)
}

/// The cluster secret from `cluster.secret` or `cluster.secret_file`.
fn cluster_secret(config: &Config) -> Result<Option<Vec<u8>>, NodeError> {
    if !config.cluster.secret.is_empty() {
        return Ok(Some(config.cluster.secret.as_bytes().to_vec()));
    }
    if config.cluster.secret_file.is_empty() {
        return Ok(None);
    }
    let path = &config.cluster.secret_file;
    let text = std::fs::read_to_string(path)
        .map_err(|source| NodeError::SecretFile { path: path.clone(), source })?;
    Ok(Some(text.trim_end_matches(['\r', '\n']).as_bytes().to_vec()))
}

/// Rebuilds the topology on every membership change.
async fn topology_loop(
    replication: Arc<Replication>,
    pool: Arc<PeerPool>,
    node_id: String,
    mut members: watch::Receiver<MemberView>,
    vnodes: u32,
    replicas: usize,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            changed = members.changed() => if changed.is_err() { return },
            _ = stop.cancelled() => return,
        }
        let view = members.borrow_and_update().clone();
        let before = replication.server().topology();
        publish_topology(&replication, &node_id, &view, vnodes, replicas);
        // Requests in flight to a member that is gone fail now, not at their timeout.
        for gone in before.members.iter().filter(|m| view.get(&m.id).is_none()) {
            pool.forget(&gone.id);
        }
    }
}

fn publish_topology(
    replication: &Replication,
    node_id: &str,
    view: &MemberView,
    vnodes: u32,
    replicas: usize,
) {
    let server = replication.server();
    if view.is_empty() {
        // After leaving: keep serving from the last view until shutdown ends.
        return;
    }
    let members: Vec<TopologyMember> = view
        .members
        .iter()
        .map(|m| {
            let id = &m.identity;
            TopologyMember {
                id: id.node_id.clone(),
                client_addr: id.client_addr(),
                peer_addr: id.peer_addr(),
                gossip_addr: id.gossip_addr,
                metrics_port: id.metrics_port,
                state: id.state,
                bump: id.bump,
                started_at: id.started_at,
                suspect: m.liveness == Liveness::Suspect,
                is_local: m.is_local,
            }
        })
        .collect();
    let ring_members = view.ring_members();
    let serving = Arc::new(RingSnapshot::serving(&ring_members, vnodes, replicas));
    let target = Arc::new(RingSnapshot::target(&ring_members, vnodes, replicas));
    let old = server.topology();
    if old.view_id() != serving.view_id() {
        let ids: Vec<String> = members.iter().map(|m| format!("{}({:?})", m.id, m.state)).collect();
        tracing::info!(view = format!("{:016x}", serving.view_id()), members = ?ids, "cluster view changed");
        server.stats.ring_view_changes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    replication.publish(Topology::new(node_id.to_string(), members, serving, target));
}

async fn expire_loop(store: Arc<Store>, shutdown: CancellationToken) {
    let mut cursor = 0usize;
    let mut tick = tokio::time::interval(EXPIRE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        // Like Redis: keep going while many sampled keys were expired, within a time limit.
        let started = Instant::now();
        loop {
            let (examined, removed) = store.expire_cycle(&mut cursor, EXPIRE_BUDGET);
            if examined == 0 || removed * 4 < examined || started.elapsed() > EXPIRE_TIME_LIMIT {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters_map_to_redis_loglevels() {
        for (filter, level) in [
            ("info", "notice"),
            ("debug", "debug"),
            ("trace,shoal::ring=info", "debug"),
            ("shoal::ring=debug,warn", "warning"),
            ("error", "warning"),
            ("off", "nothing"),
            ("shoal=debug", "notice"),
        ] {
            assert_eq!(redis_loglevel(filter), level, "{filter}");
        }
    }

    #[test]
    fn settings_carry_the_memory_policy() {
        let mut config = Config::default();
        config.store.maxmemory = config::ByteSize::mb(64);
        config.store.maxmemory_policy = config::MaxmemoryPolicy::AllkeysLfu;
        config.store.maxmemory_samples = 10;
        let policy = settings_from_config(&config, "").memory_policy();
        assert_eq!(policy.maxmemory, 64 << 20);
        assert_eq!(policy.policy, config::MaxmemoryPolicy::AllkeysLfu);
        assert_eq!((policy.samples, policy.lfu_log_factor, policy.lfu_decay_time), (10, 10, 1));
    }
}
