//! What a command sees: the store, the server's shared state and its own
//! connection's state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU16, AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use tokio_util::sync::CancellationToken;

use super::transaction::{Multi, Watched};
use crate::config::MaxmemoryPolicy;
use crate::protocol::Protocol;
use crate::ring::MemberState;
use crate::store::{MemoryPolicy, Store};
use crate::topology::{Topology, TopologyMember};
use crate::util::striped::Counter;

/// Settings that `CONFIG SET` may change at run time, plus the fixed ones
/// `CONFIG GET` and `INFO` report. Built from the node's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `node.bind`.
    pub bind: String,
    /// The client port actually listened on.
    pub port: u16,
    /// `server.maxclients`.
    pub maxclients: u64,
    /// `server.timeout`, idle seconds (0 = never).
    pub timeout: u64,
    /// `server.proto_max_bulk_len`.
    pub proto_max_bulk_len: u64,
    /// `server.max_multibulk_len`.
    pub max_multibulk_len: u64,
    /// `server.requirepass` (empty = none).
    pub requirepass: String,
    /// `store.maxmemory` (0 = unlimited).
    pub maxmemory: u64,
    /// `store.maxmemory_policy`, Redis's name.
    pub maxmemory_policy: String,
    /// `store.maxmemory_samples`.
    pub maxmemory_samples: u64,
    /// Redis's `lfu-log-factor` (run time only; not in the config file).
    pub lfu_log_factor: u64,
    /// Redis's `lfu-decay-time`, minutes (run time only; not in the config file).
    pub lfu_decay_time: u64,
    /// `peer.port` as bound (Redis's `cluster-port`, the node-to-node port).
    pub cluster_port: u16,
    /// The advertised address (Redis's `cluster-announce-ip`).
    pub announce_ip: String,
    /// `log.level` in Redis's `loglevel` words.
    pub loglevel: String,
    /// The configuration file, if any (`INFO server` `config_file`).
    pub config_file: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1".into(),
            port: 6380,
            maxclients: 10000,
            timeout: 0,
            proto_max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            requirepass: String::new(),
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            cluster_port: 16380,
            announce_ip: "127.0.0.1".into(),
            loglevel: "notice".into(),
            config_file: String::new(),
        }
    }
}

impl Settings {
    /// The store's view of these settings: the memory bound and eviction.
    pub fn memory_policy(&self) -> MemoryPolicy {
        MemoryPolicy {
            maxmemory: self.maxmemory,
            policy: self.maxmemory_policy.parse().unwrap_or(MaxmemoryPolicy::NoEviction),
            samples: self.maxmemory_samples.clamp(1, u32::MAX as u64) as u32,
            lfu_log_factor: self.lfu_log_factor.min(u32::MAX as u64) as u32,
            lfu_decay_time: self.lfu_decay_time.min(u32::MAX as u64) as u32,
        }
    }
}

/// Server-wide counters (`INFO stats`); those touched on every request
/// are striped per thread ([`Counter`]).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted since start.
    pub total_connections_received: AtomicU64,
    /// Commands run since start.
    pub total_commands_processed: Counter,
    /// Connections refused (`maxclients`).
    pub rejected_connections: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: Counter,
    /// Bytes written to clients.
    pub net_output_bytes: Counter,
    /// Serving ring views published (metrics; not reset by `CONFIG RESETSTAT`).
    pub ring_view_changes: AtomicU64,
    /// Forwarded requests this node answered `wrong owner` (its view
    /// differs from the sender's, or the slot was handed off).
    pub wrong_owner_answers: AtomicU64,
    /// Attempts an entry node repeated while the cluster converged
    /// (`wrong owner`, or an owner not reachable yet).
    pub cluster_retries: AtomicU64,
    /// `-TRYAGAIN` replies sent to clients (retries exhausted, or a live
    /// replica did not acknowledge a write).
    pub tryagain_replies: AtomicU64,
    /// The last sample behind `instantaneous_ops_per_sec`.
    pub ops_sample: Mutex<Option<OpsSample>>,
}

/// A sample of `total_commands_processed`, and the rate measured up to it.
#[derive(Debug, Clone, Copy)]
pub struct OpsSample {
    /// When the sample was taken.
    pub at: Instant,
    /// `total_commands_processed` then.
    pub commands: u64,
    /// Commands per second between the previous sample and this one.
    pub rate: u64,
}

impl ServerStats {
    /// Zeroes every counter (`CONFIG RESETSTAT`).
    pub fn reset(&self) {
        for counter in [&self.total_connections_received, &self.rejected_connections] {
            counter.store(0, Ordering::Relaxed);
        }
        for counter in [&self.total_commands_processed, &self.net_input_bytes, &self.net_output_bytes] {
            counter.store(0, Ordering::Relaxed);
        }
        *self.ops_sample.lock() = None;
    }
}

/// What other connections may see of a client (`CLIENT LIST`, `INFO clients`).
#[derive(Debug)]
pub struct ClientShared {
    /// Connection id (`CLIENT ID`).
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// When the connection was accepted.
    pub created: Instant,
    /// Milliseconds since `created` of the last command.
    pub last_active_ms: AtomicU64,
    /// Index in the command table of the last command (`cmd=` field).
    pub last_cmd: AtomicU16,
    /// Name, library name and version, RESP version (`CLIENT SETNAME`,
    /// `CLIENT SETINFO`, `HELLO`).
    pub meta: Mutex<ClientMeta>,
    /// The socket's file descriptor (`CLIENT LIST` `fd=`), -1 until known.
    pub fd: AtomicI32,
    /// `CLIENT NO-EVICT ON` (shown as flag `e`).
    pub no_evict: AtomicBool,
    /// `CLIENT NO-TOUCH ON` (shown as flag `T`).
    pub no_touch: AtomicBool,
    /// Cancelled by `CLIENT KILL`: the connection closes as soon as it sees it.
    pub kill: CancellationToken,
}

/// The mutable, rarely changed part of [`ClientShared`].
#[derive(Debug, Default, Clone)]
pub struct ClientMeta {
    /// `CLIENT SETNAME`.
    pub name: String,
    /// `CLIENT SETINFO LIB-NAME`.
    pub lib_name: String,
    /// `CLIENT SETINFO LIB-VER`.
    pub lib_ver: String,
    /// 2 or 3.
    pub resp: u8,
}

/// State shared by every connection of a node.
#[derive(Debug)]
pub struct ServerState {
    /// Run-time settings.
    pub settings: RwLock<Settings>,
    /// Counters.
    pub stats: ServerStats,
    /// Calls, errors and latency by command.
    pub commands: super::CommandStats,
    /// Connected clients by id.
    pub clients: Mutex<BTreeMap<u64, Arc<ClientShared>>>,
    /// Cancelled to shut the node down (`SHUTDOWN`, signals).
    pub shutdown: CancellationToken,
    /// Cancelled by `SHOAL LEAVE`: the node hands its slots over while it
    /// keeps serving, then shuts down.
    pub leave: CancellationToken,
    /// When the node started.
    pub started: Instant,
    /// Random 40-hex run id (`INFO server`).
    pub run_id: String,
    /// The cluster as this node sees it; replaced whenever membership changes.
    pub topology: ArcSwap<Topology>,
    /// Reads the replication layer's figures (set once by the node).
    pub rebalance: std::sync::OnceLock<super::shoal::RebalanceSource>,
    next_client_id: AtomicU64,
}

impl ServerState {
    /// Fresh state with the given settings.
    pub fn new(settings: Settings, shutdown: CancellationToken) -> ServerState {
        let settings_copy = settings.clone();
        let run_id =
            (0..40).map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0')).collect();
        ServerState {
            settings: RwLock::new(settings),
            stats: ServerStats::default(),
            commands: super::CommandStats::new(),
            clients: Mutex::new(BTreeMap::new()),
            shutdown,
            leave: CancellationToken::new(),
            started: Instant::now(),
            run_id,
            topology: ArcSwap::from_pointee(placeholder_topology(&settings_copy)),
            rebalance: std::sync::OnceLock::new(),
            next_client_id: AtomicU64::new(1),
        }
    }

    /// The replication figures now (zeros before the node sets them up).
    pub fn rebalance_info(&self) -> super::shoal::RebalanceInfo {
        self.rebalance.get().map(|f| (f.0)()).unwrap_or_default()
    }

    /// The current topology (cheap: an `Arc` load, no lock).
    pub fn topology(&self) -> Arc<Topology> {
        self.topology.load_full()
    }

    /// Registers a new connection and returns its shared record.
    ///
    /// Its `kill` token is a child of the node's shutdown token: a
    /// connection watches only its own token (uncontended), and shutting
    /// the node down cancels them all.
    pub fn register_client(&self, addr: SocketAddr, laddr: SocketAddr) -> Arc<ClientShared> {
        let shared = self.new_client(addr, laddr, self.shutdown.child_token());
        self.clients.lock().insert(shared.id, shared.clone());
        shared
    }

    /// A client record that is not listed among the connected clients (for
    /// requests forwarded by other nodes).
    pub fn unlisted_client(&self) -> Arc<ClientShared> {
        let none = SocketAddr::from(([0, 0, 0, 0], 0));
        self.new_client(none, none, CancellationToken::new())
    }

    fn new_client(&self, addr: SocketAddr, laddr: SocketAddr, kill: CancellationToken) -> Arc<ClientShared> {
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        Arc::new(ClientShared {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            last_cmd: AtomicU16::new(u16::MAX),
            meta: Mutex::new(ClientMeta { resp: 2, ..ClientMeta::default() }),
            fd: AtomicI32::new(-1),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            kill,
        })
    }

    /// Removes a closed connection.
    pub fn unregister_client(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    /// Number of connected clients.
    pub fn connected_clients(&self) -> usize {
        self.clients.lock().len()
    }
}

/// One connection's own state.
#[derive(Debug)]
pub struct ClientState {
    /// What others may see of this client.
    pub shared: Arc<ClientShared>,
    /// RESP version spoken.
    pub protocol: Protocol,
    /// False until `AUTH` succeeds when a password is set.
    pub authenticated: bool,
    /// Set by `QUIT` and `SHUTDOWN`: close after this reply.
    pub close_after_reply: bool,
    /// Set by a command whose reply must not be sent (`SHUTDOWN` closes the
    /// connection without one, as Redis does); cleared after each command.
    pub drop_reply: bool,
    /// The transaction being queued, between `MULTI` and `EXEC`.
    pub multi: Option<Multi>,
    /// Keys under `WATCH`.
    pub watched: Vec<Watched>,
    /// On the owner of a forwarded request: the client it came from set
    /// `CLIENT NO-TOUCH ON` (the request runs under a record shared by all
    /// forwarded requests, whose own flag stays off).
    pub forwarded_no_touch: bool,
}

impl ClientState {
    /// A new connection's state.
    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> ClientState {
        ClientState {
            shared,
            protocol: Protocol::Resp2,
            authenticated,
            close_after_reply: false,
            drop_reply: false,
            multi: None,
            watched: Vec::new(),
            forwarded_no_touch: false,
        }
    }

    /// Whether this client's commands leave the keys they read untouched
    /// (`CLIENT NO-TOUCH ON`).
    pub fn no_touch(&self) -> bool {
        self.forwarded_no_touch || self.shared.no_touch.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A copy for one part of a request split across nodes: same client
    /// record and protocol, no pending close.
    pub fn detached(&self) -> ClientState {
        ClientState { protocol: self.protocol, ..ClientState::new(self.shared.clone(), self.authenticated) }
    }
}

/// Everything a command handler may use.
pub struct Ctx<'a> {
    /// The keyspace.
    pub store: &'a Store,
    /// Node-wide state.
    pub server: &'a ServerState,
    /// This connection.
    pub client: &'a mut ClientState,
}

/// The topology of a node on its own, before the node publishes the real
/// one: a single active member named after its client port.
fn placeholder_topology(settings: &Settings) -> Topology {
    let ip = settings.bind.parse().unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let addr = SocketAddr::new(ip, settings.port);
    let local = TopologyMember {
        id: format!("shoal-{}", settings.port),
        client_addr: addr,
        peer_addr: addr,
        gossip_addr: addr,
        metrics_port: 0,
        state: MemberState::Active,
        bump: 0,
        started_at: 0,
        suspect: false,
        is_local: true,
    };
    Topology::single(local, 256, 1)
}
