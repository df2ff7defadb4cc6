//! Command-line flags of the `shoal` binary: the last and strongest config layer.

use std::path::PathBuf;

use clap::Parser;

/// Top-level arguments of `shoal`. Every flag but `--config` and
/// `--print-config` overrides one config key, above the file and the
/// environment; an unset flag leaves the key alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Parser)]
#[command(
    name = "shoal",
    version,
    about = "Shoal: a distributed in-memory cache that speaks the Redis protocol"
)]
pub struct Flags {
    /// TOML config file to read (config/shoal.toml documents every key).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address all listeners bind [node.bind].
    #[arg(long, value_name = "IP")]
    pub bind: Option<String>,
    /// Client (RESP) TCP port [server.port].
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Stable node id [node.id].
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// Address advertised to peers and clients [node.advertise_addr].
    #[arg(long, value_name = "IP")]
    pub advertise_addr: Option<String>,
    /// Peer TCP port [peer.port].
    #[arg(long, value_name = "PORT")]
    pub peer_port: Option<u16>,
    /// Gossip UDP port [gossip.port].
    #[arg(long, value_name = "PORT")]
    pub gossip_port: Option<u16>,
    /// Gossip timing profile: lan, fast or wan [gossip.profile].
    #[arg(long, value_name = "PROFILE")]
    pub gossip_profile: Option<String>,
    /// Metrics HTTP port, 0 = off [metrics.port].
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<u16>,
    /// Comma-separated gossip addresses to join through [cluster.seeds].
    #[arg(long, value_name = "HOST:PORT,...")]
    pub seeds: Option<String>,
    /// Threads serving clients and peers, 0 = one per core [server.threads].
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Extra copies of each slot [cluster.replicas].
    #[arg(long, value_name = "N")]
    pub replicas: Option<u32>,
    /// Memory bound for data, e.g. 1gb; 0 = unlimited [store.maxmemory].
    #[arg(long, value_name = "SIZE")]
    pub maxmemory: Option<String>,
    /// Password clients must give [server.requirepass].
    #[arg(long, value_name = "PASSWORD")]
    pub requirepass: Option<String>,
    /// Shared secret for gossip and peer traffic [cluster.secret].
    #[arg(long, value_name = "SECRET")]
    pub cluster_secret: Option<String>,
    /// Log filter, e.g. debug or info,shoal::ring=debug [log.level].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Print the effective configuration as TOML (derived values filled in) and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// One flag given on the command line, as the key it sets and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FlagValue {
    /// The flag, e.g. `--port`.
    pub flag: &'static str,
    /// The section of the key it sets.
    pub section: &'static str,
    /// The key it sets within that section.
    pub name: &'static str,
    /// The value as text, converted like an environment variable's.
    pub raw: String,
}

impl Flags {
    /// The config keys the given flags set, in a fixed order.
    pub(crate) fn values(&self) -> Vec<FlagValue> {
        let text = |v: &Option<String>| v.clone();
        let number = |v: Option<u16>| v.map(|n| n.to_string());
        let candidates = [
            ("--bind", "node", "bind", text(&self.bind)),
            ("--node-id", "node", "id", text(&self.node_id)),
            ("--advertise-addr", "node", "advertise_addr", text(&self.advertise_addr)),
            ("--port", "server", "port", number(self.port)),
            ("--requirepass", "server", "requirepass", text(&self.requirepass)),
            ("--threads", "server", "threads", self.threads.map(|n| n.to_string())),
            ("--maxmemory", "store", "maxmemory", text(&self.maxmemory)),
            ("--seeds", "cluster", "seeds", text(&self.seeds)),
            ("--replicas", "cluster", "replicas", self.replicas.map(|n| n.to_string())),
            ("--cluster-secret", "cluster", "secret", text(&self.cluster_secret)),
            ("--peer-port", "peer", "port", number(self.peer_port)),
            ("--gossip-port", "gossip", "port", number(self.gossip_port)),
            ("--gossip-profile", "gossip", "profile", text(&self.gossip_profile)),
            ("--metrics-port", "metrics", "port", number(self.metrics_port)),
            ("--log-level", "log", "level", text(&self.log_level)),
        ];
        candidates
            .into_iter()
            .filter_map(|(flag, section, name, raw)| raw.map(|raw| FlagValue { flag, section, name, raw }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Flags::command().debug_assert();
    }

    #[test]
    fn parses_every_flag() {
        let flags = Flags::parse_from([
            "shoal",
            "--config",
            "x.toml",
            "--bind",
            "0.0.0.0",
            "--port",
            "7000",
            "--node-id",
            "a",
            "--advertise-addr",
            "10.0.0.1",
            "--peer-port",
            "17000",
            "--gossip-port",
            "17001",
            "--gossip-profile",
            "fast",
            "--metrics-port",
            "0",
            "--seeds",
            "a:1,b:2",
            "--replicas",
            "2",
            "--threads",
            "1",
            "--maxmemory",
            "1gb",
            "--requirepass",
            "pw",
            "--cluster-secret",
            "s",
            "--log-level",
            "debug",
            "--print-config",
        ]);
        assert_eq!(flags.config, Some(PathBuf::from("x.toml")));
        assert!(flags.print_config);
        let values = flags.values();
        assert_eq!(values.len(), 15);
        for value in &values {
            assert!(schema::lookup(value.section, value.name).is_some(), "{} maps to no key", value.flag);
        }
    }

    #[test]
    fn no_flags_set_nothing() {
        assert!(Flags::parse_from(["shoal"]).values().is_empty());
        assert!(Flags::try_parse_from(["shoal", "--port", "70000"]).is_err());
    }
}
