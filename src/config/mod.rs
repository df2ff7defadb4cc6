//! Node configuration: the schema, its defaults, and loading it from layers.
//!
//! Precedence, weakest first: built-in defaults, the TOML file given with
//! `--config`, environment variables `SHOAL_<SECTION>__<KEY>` (section and key
//! case-insensitive, e.g. `SHOAL_STORE__MAXMEMORY=64mb`,
//! `SHOAL_CLUSTER__SEEDS=a:1,b:2`), then command-line flags ([`Flags`]).
//! Unknown sections, keys and `SHOAL_<X>__<Y>` variables are errors naming
//! them; other `SHOAL_*` variables are not config and are ignored.
//!
//! `config/shoal.toml` lists every key with its default. Three keys have
//! derived defaults, computed when read: `node.id` ([`Config::node_id`]),
//! `node.advertise_addr` ([`Config::advertise_addr`]) and `gossip.port`
//! ([`Config::gossip_port`]).
//!
//! This module is pure: it uses nothing else from the crate and opens no sockets.

mod derived;
mod enums;
mod error;
mod flags;
mod layers;
mod schema;
mod sections;
#[cfg(test)]
mod tests;
mod units;
mod validate;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use enums::{GossipProfile, Keyspace, LogFormat, MaxmemoryPolicy, ReplicationMode, UnknownName};
pub use error::{ConfigError, Origin};
pub use flags::Flags;
pub use sections::{
    ClusterConfig, GossipConfig, LogConfig, MetricsConfig, NodeConfig, PeerConfig, RebalanceConfig,
    ReplicationConfig, RingConfig, ServerConfig, ShutdownConfig, StoreConfig,
};
pub use units::{ByteSize, ConfigDuration, UnitError};

use layers::Layers;

/// The whole configuration of one node, one field per `[section]`.
///
/// `Default` is the built-in defaults; derived keys stay unset (`None`) and
/// are computed by [`Config::node_id`], [`Config::advertise_addr`] and
/// [`Config::gossip_port`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[node]`: identity and addresses.
    pub node: NodeConfig,
    /// `[server]`: the client (RESP) listener.
    pub server: ServerConfig,
    /// `[store]`: data and its memory bound.
    pub store: StoreConfig,
    /// `[cluster]`: membership, seeds, replication factor.
    pub cluster: ClusterConfig,
    /// `[ring]`: placement.
    pub ring: RingConfig,
    /// `[peer]`: node-to-node TCP.
    pub peer: PeerConfig,
    /// `[gossip]`: membership over UDP.
    pub gossip: GossipConfig,
    /// `[replication]`: how writes reach replicas.
    pub replication: ReplicationConfig,
    /// `[rebalance]`: copying slots when ownership changes.
    pub rebalance: RebalanceConfig,
    /// `[shutdown]`: leaving the cluster.
    pub shutdown: ShutdownConfig,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
}

impl Config {
    /// Layers the file named by `flags.config` (if any), then the `SHOAL_*`
    /// variables in `env`, then the flags, over the defaults, and validates
    /// the result. Pass [`process_env`] for the real environment.
    pub fn load(
        flags: &Flags,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut layers = Layers::default();
        if let Some(path) = &flags.config {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
            layers.file(&text, Origin::File(path.clone()))?;
        }
        layers.env(env)?;
        layers.flags(flags)?;
        layers.finish()
    }

    /// Reads TOML text over the defaults (the file layer alone) and validates it.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let mut layers = Layers::default();
        layers.file(text, Origin::Text)?;
        layers.finish()
    }

    /// A copy with the derived keys (`node.id`, `node.advertise_addr`,
    /// `gossip.port`) set to their effective values. The gossip timing
    /// overrides stay unset: their values come from the profile.
    pub fn resolved(&self) -> Config {
        let mut config = self.clone();
        config.node.id = Some(self.node_id());
        config.node.advertise_addr = Some(self.advertise_addr());
        config.gossip.port = Some(self.gossip_port());
        config
    }

    /// The effective configuration as TOML, derived keys filled in (for
    /// `--print-config`). Reading it back gives [`Config::resolved`].
    /// Secrets (`requirepass`, `cluster.secret`) are included as set.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.resolved())
            .unwrap_or_else(|e| format!("## cannot render the configuration: {e}\n"))
    }

    /// The effective node id: `node.id` if set, else `<hostname>-<server.port>`,
    /// the hostname read from `/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `shoal`.
    pub fn node_id(&self) -> String {
        match &self.node.id {
            Some(id) => id.clone(),
            None => derived::node_id(&derived::hostname(), self.server.port),
        }
    }

    /// The effective advertised address: `node.advertise_addr` if set, else
    /// `node.bind` when it is not `0.0.0.0`/`::`, else the host's first
    /// non-loopback IPv4 address, else `127.0.0.1`.
    pub fn advertise_addr(&self) -> IpAddr {
        self.node
            .advertise_addr
            .unwrap_or_else(|| derived::advertise_addr(self.node.bind, derived::interface_addrs()))
    }

    /// The effective gossip UDP port: `gossip.port` if set, else `peer.port`.
    pub fn gossip_port(&self) -> u16 {
        self.gossip.port.unwrap_or(self.peer.port)
    }
}

/// The process environment as `(name, value)` pairs for [`Config::load`].
/// Variables whose name is not UTF-8 are skipped (none can be config); a
/// value that is not UTF-8 is converted lossily.
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(name, value)| {
        let name = name.into_string().ok()?;
        Some((name, value.to_string_lossy().into_owned()))
    })
}
