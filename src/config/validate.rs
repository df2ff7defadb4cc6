//! Constraints checked on the merged configuration, each naming its key.

use std::net::Ipv6Addr;

use super::Config;
use super::units::ConfigDuration;

/// A broken constraint: the key to blame and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Dotted key, e.g. `ring.vnodes`.
    pub key: &'static str,
    /// What is wrong.
    pub reason: String,
    /// The other key involved in a constraint between two keys, if any;
    /// the error is reported against whichever of the two was set last.
    pub also: Option<&'static str>,
}

impl Invalid {
    /// Names `other` as the second key of a constraint between two keys.
    fn with(mut self, other: &'static str) -> Invalid {
        self.also = Some(other);
        self
    }
}

/// Fails with `key` and `reason` unless `ok`.
fn ensure(ok: bool, key: &'static str, reason: impl FnOnce() -> String) -> Result<(), Invalid> {
    if ok { Ok(()) } else { Err(Invalid { key, reason: reason(), also: None }) }
}

/// Fails unless `value` (when set) is more than zero.
fn positive(value: Option<ConfigDuration>, key: &'static str) -> Result<(), Invalid> {
    ensure(value.is_none_or(|d| !d.is_zero()), key, || "must be more than zero".to_string())
}

/// Checks every constraint documented on the config fields.
pub(crate) fn check(c: &Config) -> Result<(), Invalid> {
    if let Some(id) = &c.node.id {
        ensure(
            !id.is_empty() && !id.chars().any(|ch| ch.is_whitespace() || ch.is_control()),
            "node.id",
            || format!("`{id}` must be non-empty, without spaces or control characters"),
        )?;
    }
    if let Some(addr) = c.node.advertise_addr {
        ensure(!addr.is_unspecified(), "node.advertise_addr", || {
            format!("`{addr}` is not an address others can reach")
        })?;
    }
    ensure(c.server.maxclients >= 1, "server.maxclients", || "must be at least 1".to_string())?;
    ensure(c.server.threads <= 1024, "server.threads", || "must be at most 1024".to_string())?;
    ensure(c.server.proto_max_bulk_len.as_u64() >= 1, "server.proto_max_bulk_len", || {
        "must be at least 1 byte".to_string()
    })?;
    ensure(c.server.max_multibulk_len >= 1, "server.max_multibulk_len", || "must be at least 1".to_string())?;
    let samples = c.store.maxmemory_samples;
    ensure((1..=64).contains(&samples), "store.maxmemory_samples", || format!("{samples} is not in 1..=64"))?;
    check_cluster(c)?;
    let vnodes = c.ring.vnodes;
    ensure((1..=65_536).contains(&vnodes), "ring.vnodes", || format!("{vnodes} is not in 1..=65536"))?;
    positive(Some(c.peer.connect_timeout), "peer.connect_timeout")?;
    positive(Some(c.peer.request_timeout), "peer.request_timeout")?;
    ensure(c.peer.max_frame_bytes >= c.server.proto_max_bulk_len, "peer.max_frame_bytes", || {
        format!(
            "{} is less than server.proto_max_bulk_len ({}), so some client values could \
                 not be forwarded",
            c.peer.max_frame_bytes, c.server.proto_max_bulk_len
        )
    })
    .map_err(|e| e.with("server.proto_max_bulk_len"))?;
    check_gossip(c)?;
    positive(Some(c.replication.timeout), "replication.timeout")?;
    check_ports(c)?;
    check_log_level(&c.log.level)
}

/// `[cluster]`: seeds are `host:port`, at most one secret source, a name.
fn check_cluster(c: &Config) -> Result<(), Invalid> {
    ensure(!c.cluster.name.is_empty(), "cluster.name", || "must not be empty".to_string())?;
    for seed in &c.cluster.seeds {
        check_seed(seed).map_err(|reason| Invalid {
            key: "cluster.seeds",
            reason: format!("`{seed}`: {reason}"),
            also: None,
        })?;
    }
    ensure(c.cluster.secret.is_empty() || c.cluster.secret_file.is_empty(), "cluster.secret_file", || {
        "set either cluster.secret or cluster.secret_file, not both".to_string()
    })
    .map_err(|e| e.with("cluster.secret"))
}

/// One seed: `host:port`, `ip:port` or `[ipv6]:port`, port not zero.
fn check_seed(seed: &str) -> Result<(), String> {
    let (host, port) = seed.rsplit_once(':').ok_or_else(|| "expected host:port".to_string())?;
    match port.parse::<u16>() {
        Ok(port) if port > 0 => {}
        _ => return Err(format!("`{port}` is not a port in 1..=65535")),
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().map(drop).map_err(|_| format!("`{inner}` is not an IPv6 address"));
    }
    let valid_char = |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_');
    if host.is_empty() || !host.chars().all(valid_char) {
        return Err(format!("`{host}` is not a host name or address (IPv6 goes in brackets: [::1]:16380)"));
    }
    Ok(())
}

/// `[gossip]`: timing overrides are positive and consistent, packets fit UDP.
fn check_gossip(c: &Config) -> Result<(), Invalid> {
    let g = &c.gossip;
    positive(g.probe_period, "gossip.probe_period")?;
    positive(g.probe_rtt, "gossip.probe_rtt")?;
    positive(g.suspect_to_down_after, "gossip.suspect_to_down_after")?;
    if let (Some(period), Some(rtt)) = (g.probe_period, g.probe_rtt) {
        ensure(rtt < period, "gossip.probe_rtt", || {
            format!("{rtt} must be less than gossip.probe_period ({period})")
        })
        .map_err(|e| e.with("gossip.probe_period"))?;
    }
    if let Some(size) = g.max_packet_size {
        ensure((512..=65_507).contains(&size.as_u64()), "gossip.max_packet_size", || {
            format!("{size} is not in 512b..=65507b")
        })?;
    }
    Ok(())
}

/// The TCP listeners (client, peer, metrics) need distinct ports; 0 is exempt.
fn check_ports(c: &Config) -> Result<(), Invalid> {
    let client = c.server.port;
    let peer = c.peer.port;
    let metrics = c.metrics.port;
    ensure(client == 0 || client != peer, "peer.port", || {
        format!("server.port and peer.port are both {peer}; TCP listeners need different ports")
    })
    .map_err(|e| e.with("server.port"))?;
    for (other, name) in [(client, "server.port"), (peer, "peer.port")] {
        ensure(metrics == 0 || metrics != other, "metrics.port", || {
            format!("{name} and metrics.port are both {metrics}; TCP listeners need different ports")
        })
        .map_err(|e| e.with(name))?;
    }
    Ok(())
}

/// `log.level`: comma-separated directives, each a level or `target=level`.
fn check_log_level(level: &str) -> Result<(), Invalid> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let bad = |reason: String| Invalid { key: "log.level", reason, also: None };
    if level.trim().is_empty() {
        return Err(bad("must not be empty".to_string()));
    }
    for directive in level.split(',').map(str::trim) {
        let word = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word.trim())) {
            return Err(bad(format!("`{directive}` does not end in a level ({})", LEVELS.join(", "))));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::ByteSize;

    /// An edit that breaks one constraint.
    type Break = fn(&mut Config);

    fn key_of(c: &Config) -> Option<&'static str> {
        check(c).err().map(|invalid| invalid.key)
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(check(&Config::default()), Ok(()));
    }

    #[test]
    fn each_constraint_names_its_key() {
        let cases: Vec<(Break, &str)> = vec![
            (|c| c.node.id = Some(String::new()), "node.id"),
            (|c| c.node.id = Some("a b".into()), "node.id"),
            (|c| c.node.advertise_addr = Some("0.0.0.0".parse().expect("ip")), "node.advertise_addr"),
            (|c| c.server.maxclients = 0, "server.maxclients"),
            (|c| c.server.threads = 1025, "server.threads"),
            (|c| c.server.proto_max_bulk_len = ByteSize::b(0), "server.proto_max_bulk_len"),
            (|c| c.server.max_multibulk_len = 0, "server.max_multibulk_len"),
            (|c| c.store.maxmemory_samples = 0, "store.maxmemory_samples"),
            (|c| c.store.maxmemory_samples = 65, "store.maxmemory_samples"),
            (|c| c.cluster.name.clear(), "cluster.name"),
            (|c| c.cluster.seeds = vec!["nope".into()], "cluster.seeds"),
            (|c| c.cluster.seeds = vec!["a:0".into()], "cluster.seeds"),
            (|c| c.cluster.seeds = vec!["::1:5".into()], "cluster.seeds"),
            (|c| c.cluster.seeds = vec!["[zz]:5".into()], "cluster.seeds"),
            (
                |c| {
                    c.cluster.secret = "s".into();
                    c.cluster.secret_file = "f".into();
                },
                "cluster.secret_file",
            ),
            (|c| c.ring.vnodes = 0, "ring.vnodes"),
            (|c| c.peer.connect_timeout = ConfigDuration::from_secs(0), "peer.connect_timeout"),
            (|c| c.peer.request_timeout = ConfigDuration::from_secs(0), "peer.request_timeout"),
            (|c| c.peer.max_frame_bytes = ByteSize::mb(1), "peer.max_frame_bytes"),
            (|c| c.gossip.probe_period = Some(ConfigDuration::from_secs(0)), "gossip.probe_period"),
            (
                |c| {
                    c.gossip.probe_period = Some(ConfigDuration::from_secs(1));
                    c.gossip.probe_rtt = Some(ConfigDuration::from_secs(1));
                },
                "gossip.probe_rtt",
            ),
            (|c| c.gossip.max_packet_size = Some(ByteSize::b(100)), "gossip.max_packet_size"),
            (|c| c.replication.timeout = ConfigDuration::from_secs(0), "replication.timeout"),
            (|c| c.peer.port = c.server.port, "peer.port"),
            (|c| c.metrics.port = c.peer.port, "metrics.port"),
            (|c| c.log.level = "loud".into(), "log.level"),
            (|c| c.log.level = "info,shoal=lots".into(), "log.level"),
        ];
        for (change, key) in cases {
            let mut config = Config::default();
            change(&mut config);
            assert_eq!(key_of(&config), Some(key));
        }
    }

    #[test]
    fn accepted_edge_values() {
        let mut c = Config::default();
        c.cluster.seeds = vec![
            "127.0.0.1:17001".into(),
            "[::1]:17001".into(),
            "shoal-0.shoal.svc.cluster.local:16380".into(),
        ];
        c.server.port = 0;
        c.peer.port = 0;
        c.metrics.port = 0;
        c.log.level = "info, shoal::ring=DEBUG".into();
        c.gossip.max_packet_size = Some(ByteSize::b(1400));
        assert_eq!(check(&c), Ok(()));
    }
}
