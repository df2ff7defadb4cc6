//! One struct per `[section]` of the config file, with the built-in defaults.
//!
//! Every field's doc says what it means, its default and its constraint;
//! `config/shoal.toml` repeats them for operators. Constraints are checked
//! after all layers are merged (see `validate.rs`).

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::enums::{GossipProfile, Keyspace, LogFormat, MaxmemoryPolicy, ReplicationMode};
use super::units::{ByteSize, ConfigDuration};

/// `[node]`: who this node is and which address it binds and advertises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Stable node id; the ring hashes it, never an address.
    /// Default: unset, derived as `<hostname>-<server.port>` (see `Config::node_id`).
    /// Constraint: non-empty, no whitespace or control characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// IP address every listener (client, peer, gossip, metrics) binds.
    /// Default `127.0.0.1`. Constraint: an IPv4 or IPv6 address (`0.0.0.0`/`::` for all).
    pub bind: IpAddr,
    /// Address other nodes and cluster-aware clients use to reach this node.
    /// Default: unset, derived as `bind` when it is a concrete address, else the host's
    /// first non-loopback IPv4 address, else `127.0.0.1` (see `Config::advertise_addr`).
    /// Constraint: an IP address, not `0.0.0.0`/`::`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise_addr: Option<IpAddr>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig { id: None, bind: IpAddr::V4(Ipv4Addr::LOCALHOST), advertise_addr: None }
    }
}

/// `[server]`: the client (RESP) listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// TCP port for Redis clients. Default 6380. Constraint: 0..=65535 (0 = any free port).
    pub port: u16,
    /// Most client connections served at once; more are refused.
    /// Default 10000. Constraint: at least 1.
    pub maxclients: u32,
    /// Seconds a client may stay idle before it is disconnected, 0 = never.
    /// Default 0. Constraint: a plain integer of seconds, as Redis's `timeout`.
    pub timeout: u64,
    /// Largest bulk string a client may send. Default `512mb`. Constraint: at least 1 byte.
    pub proto_max_bulk_len: ByteSize,
    /// Most elements in one client request array. Default 1048576. Constraint: at least 1.
    pub max_multibulk_len: u64,
    /// Password clients must give with `AUTH`/`HELLO`; empty = no password.
    /// Default empty.
    pub requirepass: String,
    /// Threads serving clients and peers; 0 = one per CPU core. Default 0.
    /// Constraint: at most 1024.
    pub threads: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 6380,
            maxclients: 10_000,
            timeout: 0,
            proto_max_bulk_len: ByteSize::mb(512),
            max_multibulk_len: 1_048_576,
            requirepass: String::new(),
            threads: 0,
        }
    }
}

/// `[store]`: the node's in-memory data and its memory bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Memory the node may use for data (owned keys and replica copies); 0 = unlimited.
    /// Default `0`.
    pub maxmemory: ByteSize,
    /// What a write does when memory would exceed `maxmemory`.
    /// Default `noeviction`. Constraint: one of the Redis policy names.
    pub maxmemory_policy: MaxmemoryPolicy,
    /// Keys sampled per eviction, as Redis's `maxmemory-samples`.
    /// Default 5. Constraint: 1..=64.
    pub maxmemory_samples: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            maxmemory: ByteSize::b(0),
            maxmemory_policy: MaxmemoryPolicy::NoEviction,
            maxmemory_samples: 5,
        }
    }
}

/// `[cluster]`: which cluster this node belongs to and how it joins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Name of the cluster. Default `shoal`. Constraint: non-empty.
    pub name: String,
    /// Gossip addresses (`host:port`, DNS names allowed) announced to when joining;
    /// empty = start as a cluster of one. Default empty. From the environment or
    /// `--seeds`: a comma-separated list. Constraint: each is `host:port` with a port
    /// of 1..=65535 (IPv6 in brackets: `[::1]:16380`).
    pub seeds: Vec<String>,
    /// Shared secret authenticating gossip and peer traffic; empty = none.
    /// Default empty. Constraint: not set together with `secret_file`.
    pub secret: String,
    /// File whose contents are the cluster secret; empty = none.
    /// Default empty. Constraint: not set together with `secret`.
    pub secret_file: String,
    /// Extra copies of each slot on the next distinct nodes of the ring.
    /// Default 1.
    pub replicas: u32,
    /// Members to wait for before serving (`-CLUSTERDOWN` until then); 0 = don't wait.
    /// Default 0.
    pub bootstrap_expect: u32,
    /// Longest wait for `bootstrap_expect` members or for meeting the seeds.
    /// Default `30s`.
    pub bootstrap_timeout: ConfigDuration,
    /// What keyspace-wide commands cover. Default `cluster`. Constraint: `cluster` or `node`.
    pub keyspace: Keyspace,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            name: "shoal".to_string(),
            seeds: Vec::new(),
            secret: String::new(),
            secret_file: String::new(),
            replicas: 1,
            bootstrap_expect: 0,
            bootstrap_timeout: ConfigDuration::from_secs(30),
            keyspace: Keyspace::Cluster,
        }
    }
}

/// `[ring]`: consistent-hashing placement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingConfig {
    /// Tokens (virtual nodes) this node places on the ring.
    /// Default 256. Constraint: 1..=65536.
    pub vnodes: u32,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig { vnodes: 256 }
    }
}

/// `[peer]`: the node-to-node TCP protocol (forwarding, replication, migration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerConfig {
    /// TCP port of the peer service. Default 16380. Constraint: 0..=65535.
    pub port: u16,
    /// Longest wait to connect to a peer. Default `1s`. Constraint: more than zero.
    pub connect_timeout: ConfigDuration,
    /// Longest wait for a peer's answer to one request. Default `5s`. Constraint: more than zero.
    pub request_timeout: ConfigDuration,
    /// Largest peer frame sent or accepted. Default `520mb`.
    /// Constraint: at least `server.proto_max_bulk_len`, so any client value can be forwarded.
    pub max_frame_bytes: ByteSize,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            port: 16380,
            connect_timeout: ConfigDuration::from_secs(1),
            request_timeout: ConfigDuration::from_secs(5),
            max_frame_bytes: ByteSize::mb(520),
        }
    }
}

/// `[gossip]`: membership (SWIM via foca over UDP).
///
/// The timing fields are overrides: unset, each takes the value `profile` sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipConfig {
    /// UDP port for gossip. Default: unset, derived as the effective `peer.port`
    /// (after file, environment and flags; see `Config::gossip_port`). Constraint: 0..=65535.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Which set of foca timings to use. Default `lan`. Constraint: `lan`, `fast` or `wan`.
    pub profile: GossipProfile,
    /// How often a random member is probed. Default: unset, from `profile`.
    /// Constraint: more than zero, and more than `probe_rtt` when both are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_period: Option<ConfigDuration>,
    /// How long a direct probe waits before asking others to probe indirectly.
    /// Default: unset, from `profile`. Constraint: more than zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_rtt: Option<ConfigDuration>,
    /// How long a suspect member has to refute before it is declared down.
    /// Default: unset, from `profile`. Constraint: more than zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspect_to_down_after: Option<ConfigDuration>,
    /// Largest gossip datagram, including the authentication envelope.
    /// Default: unset, from `profile`. Constraint: 512b..=65507b.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_packet_size: Option<ByteSize>,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            port: None,
            profile: GossipProfile::Lan,
            probe_period: None,
            probe_rtt: None,
            suspect_to_down_after: None,
            max_packet_size: None,
        }
    }
}

/// `[replication]`: how writes reach replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// When a write is acknowledged. Default `sync`. Constraint: `sync` or `async`.
    pub mode: ReplicationMode,
    /// Longest wait for a live replica in `sync` mode before the client gets `-TRYAGAIN`.
    /// Default `2s`. Constraint: more than zero.
    pub timeout: ConfigDuration,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig { mode: ReplicationMode::Sync, timeout: ConfigDuration::from_secs(2) }
    }
}

/// `[rebalance]`: copying slots when ownership changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RebalanceConfig {
    /// Most bytes per second this node pulls while copying slots; 0 = unlimited.
    /// Default `64mb`.
    pub max_bytes_per_sec: ByteSize,
}

impl Default for RebalanceConfig {
    fn default() -> Self {
        RebalanceConfig { max_bytes_per_sec: ByteSize::mb(64) }
    }
}

/// `[shutdown]`: leaving the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// Longest time a leaving node spends handing its slots over before it exits anyway.
    /// Default `30s`.
    pub drain_timeout: ConfigDuration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { drain_timeout: ConfigDuration::from_secs(30) }
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// TCP port serving `/metrics`; 0 = off. Default 9380. Constraint: 0..=65535.
    pub port: u16,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { port: 9380 }
    }
}

/// `[log]`: logging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Log filter: a level (`trace`, `debug`, `info`, `warn`, `error`, `off`) or
    /// comma-separated `target=level` directives such as `info,shoal::ring=debug`.
    /// Default `info`. Constraint: every directive ends in one of those levels.
    pub level: String,
    /// Line format. Default `text`. Constraint: `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".to_string(), format: LogFormat::Text }
    }
}
