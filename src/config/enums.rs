//! The closed sets of words some keys accept (`maxmemory_policy`, `profile`, ...).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A word that is not one of an enum's accepted names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{given}`, expected one of: {expected}")]
pub struct UnknownName {
    /// The rejected text.
    pub given: String,
    /// The accepted names, comma-separated.
    pub expected: String,
}

/// Declares a config enum whose variants are written as fixed names: serde
/// (via `rename`), `as_str`, `Display`, `FromStr` and `ALL` agree by construction.
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in config files, environment variables and flags.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            /// Parses a name, ignoring ASCII case.
            fn from_str(text: &str) -> Result<$name, UnknownName> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(text.trim()))
                    .ok_or_else(|| UnknownName {
                        given: text.to_string(),
                        expected: $name::ALL
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }
    };
}

config_enum! {
    /// What a write does when it would push memory use past `store.maxmemory`
    /// (Redis's `maxmemory-policy`, same names and meanings).
    pub enum MaxmemoryPolicy {
        /// Refuse the write with an OOM error (the default, as in Redis).
        NoEviction => "noeviction",
        /// Evict the least recently used keys among all keys (recommended for caches).
        AllkeysLru => "allkeys-lru",
        /// Evict the least frequently used keys among all keys.
        AllkeysLfu => "allkeys-lfu",
        /// Evict random keys among all keys.
        AllkeysRandom => "allkeys-random",
        /// Evict the least recently used keys among keys with a TTL.
        VolatileLru => "volatile-lru",
        /// Evict the least frequently used keys among keys with a TTL.
        VolatileLfu => "volatile-lfu",
        /// Evict random keys among keys with a TTL.
        VolatileRandom => "volatile-random",
        /// Evict the keys with a TTL that expire soonest.
        VolatileTtl => "volatile-ttl",
    }
}

config_enum! {
    /// What keyspace-wide commands (`DBSIZE`, `KEYS`, `SCAN`, `FLUSHALL`, ...) cover.
    pub enum Keyspace {
        /// The whole cluster, so a plain client sees one logical cache (the default).
        Cluster => "cluster",
        /// This node's own keys, as Redis Cluster does, for cluster-aware clients.
        Node => "node",
    }
}

config_enum! {
    /// The set of SWIM (foca) timings gossip starts from; each timing can be
    /// overridden in `[gossip]`.
    pub enum GossipProfile {
        /// foca's LAN timings (the default).
        Lan => "lan",
        /// Faster failure detection on a reliable network: probe every 500ms,
        /// declare a suspect down after 1.5s.
        Fast => "fast",
        /// foca's WAN timings: slower and more tolerant of latency and loss.
        Wan => "wan",
    }
}

config_enum! {
    /// When the owner of a key acknowledges a write.
    pub enum ReplicationMode {
        /// After every live replica applied it (the default).
        Sync => "sync",
        /// After the owner alone applied it; faster, may lose the latest writes on a crash.
        Async => "async",
    }
}

config_enum! {
    /// How log lines are written.
    pub enum LogFormat {
        /// Human-readable lines (the default).
        Text => "text",
        /// One JSON object per line.
        Json => "json",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_are_redis_names() {
        let names: Vec<_> = MaxmemoryPolicy::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "noeviction",
                "allkeys-lru",
                "allkeys-lfu",
                "allkeys-random",
                "volatile-lru",
                "volatile-lfu",
                "volatile-random",
                "volatile-ttl"
            ]
        );
        assert_eq!("ALLKEYS-LRU".parse(), Ok(MaxmemoryPolicy::AllkeysLru));
        let err = "lru".parse::<MaxmemoryPolicy>().expect_err("not a policy");
        assert!(err.to_string().contains("noeviction, allkeys-lru"), "{err}");
    }

    #[test]
    fn serde_uses_the_same_names() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Holder {
            policy: MaxmemoryPolicy,
            profile: GossipProfile,
        }
        let holder = Holder { policy: MaxmemoryPolicy::VolatileTtl, profile: GossipProfile::Wan };
        let text = toml::to_string(&holder).expect("serialize");
        assert_eq!(text, "policy = \"volatile-ttl\"\nprofile = \"wan\"\n");
        assert_eq!(toml::from_str::<Holder>(&text), Ok(holder));
    }
}
