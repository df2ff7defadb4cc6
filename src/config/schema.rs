//! The list of sections and keys, and how a string from the environment or a
//! flag becomes a TOML value for each key.
//!
//! A unit test checks that this list and the section structs agree.

use toml::Value;

/// How the text of an environment variable or flag becomes a TOML value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Kept as a string (names, addresses, sizes, durations, enum names).
    Text,
    /// Parsed as an integer.
    Integer,
    /// Split on commas into a list of trimmed, non-empty strings.
    List,
}

impl Kind {
    /// Converts `raw` to the TOML value for a key of this kind.
    pub(crate) fn parse(self, raw: &str) -> Result<Value, String> {
        match self {
            Kind::Text => Ok(Value::String(raw.to_string())),
            Kind::Integer => raw
                .trim()
                .parse::<i64>()
                .map(Value::Integer)
                .map_err(|_| format!("expected an integer, got `{raw}`")),
            Kind::List => Ok(Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_string()))
                    .collect(),
            )),
        }
    }
}

/// One config key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    /// Its section, e.g. `store`.
    pub section: &'static str,
    /// Its name within the section, e.g. `maxmemory`.
    pub name: &'static str,
    /// How environment and flag text is converted for it.
    pub kind: Kind,
}

impl Key {
    /// The dotted name, e.g. `store.maxmemory`.
    pub(crate) fn dotted(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }
}

/// Shorthand for the table below.
const fn key(section: &'static str, name: &'static str, kind: Kind) -> Key {
    Key { section, name, kind }
}

use Kind::{Integer, List, Text};

/// Every key of the schema, in file order.
pub(crate) const KEYS: &[Key] = &[
    key("node", "id", Text),
    key("node", "bind", Text),
    key("node", "advertise_addr", Text),
    key("server", "port", Integer),
    key("server", "maxclients", Integer),
    key("server", "threads", Integer),
    key("server", "timeout", Integer),
    key("server", "proto_max_bulk_len", Text),
    key("server", "max_multibulk_len", Integer),
    key("server", "requirepass", Text),
    key("store", "maxmemory", Text),
    key("store", "maxmemory_policy", Text),
    key("store", "maxmemory_samples", Integer),
    key("cluster", "name", Text),
    key("cluster", "seeds", List),
    key("cluster", "secret", Text),
    key("cluster", "secret_file", Text),
    key("cluster", "replicas", Integer),
    key("cluster", "bootstrap_expect", Integer),
    key("cluster", "bootstrap_timeout", Text),
    key("cluster", "keyspace", Text),
    key("ring", "vnodes", Integer),
    key("peer", "port", Integer),
    key("peer", "connect_timeout", Text),
    key("peer", "request_timeout", Text),
    key("peer", "max_frame_bytes", Text),
    key("gossip", "port", Integer),
    key("gossip", "profile", Text),
    key("gossip", "probe_period", Text),
    key("gossip", "probe_rtt", Text),
    key("gossip", "suspect_to_down_after", Text),
    key("gossip", "max_packet_size", Text),
    key("replication", "mode", Text),
    key("replication", "timeout", Text),
    key("rebalance", "max_bytes_per_sec", Text),
    key("shutdown", "drain_timeout", Text),
    key("metrics", "port", Integer),
    key("log", "level", Text),
    key("log", "format", Text),
];

/// The key `section.name`, if the schema has it (names are matched exactly).
pub(crate) fn lookup(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.section == section && key.name == name)
}

/// Whether the schema has a section of this name.
pub(crate) fn is_section(section: &str) -> bool {
    KEYS.iter().any(|key| key.section == section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_convert_text() {
        assert_eq!(Kind::Text.parse("12"), Ok(Value::String("12".into())));
        assert_eq!(Kind::Integer.parse(" 7000 "), Ok(Value::Integer(7000)));
        assert!(Kind::Integer.parse("7k").is_err());
        assert_eq!(
            Kind::List.parse("a:1, b:2,,"),
            Ok(Value::Array(vec![Value::String("a:1".into()), Value::String("b:2".into())]))
        );
        assert_eq!(Kind::List.parse(""), Ok(Value::Array(Vec::new())));
    }

    #[test]
    fn lookup_is_exact() {
        assert!(lookup("store", "maxmemory").is_some());
        assert!(lookup("STORE", "maxmemory").is_none());
        assert!(lookup("store", "nope").is_none());
        assert!(is_section("gossip"));
        assert!(!is_section("nope"));
    }
}
