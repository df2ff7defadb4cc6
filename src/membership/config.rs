//! Membership settings: a plain struct the node fills from its own
//! configuration, and the foca timings it resolves to.

use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroU32, NonZeroUsize};
use std::time::Duration;

use foca::PeriodicParams;

use super::error::MembershipError;
use super::identity::MAX_NODE_ID_LEN;
use crate::ring::MemberState;

/// Largest UDP payload over IPv4.
const MAX_UDP_PAYLOAD: usize = 65_507;
/// Smallest packet size that leaves room for a few identities.
const MIN_PACKET_SIZE: usize = 512;

/// A preset of failure-detector timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GossipProfile {
    /// foca's `Config::new_lan`: probe every 1 s, suspicion about 4 s.
    /// A killed node is declared down in roughly 5-7 s.
    #[default]
    Lan,
    /// `new_lan` with probe period 500 ms, probe RTT 200 ms and suspicion
    /// 1.5 s: detection in 2-3 s, at the price of more false suspicions on
    /// a lossy or loaded network.
    Fast,
    /// foca's `Config::new_wan`: probe every 5 s, RTT 3 s, long suspicion.
    Wan,
}

/// Explicit values that replace the profile's. `None` keeps the profile's.
#[derive(Debug, Clone, Default)]
pub struct GossipOverrides {
    /// How often a random member is probed. Must be greater than `probe_rtt`.
    pub probe_period: Option<Duration>,
    /// How long to wait for a direct ack before probing indirectly. Must be
    /// non-zero and smaller than `probe_period`.
    pub probe_rtt: Option<Duration>,
    /// How long a suspect member has to refute before it is declared down.
    /// Must be non-zero.
    pub suspect_to_down_after: Option<Duration>,
    /// How many times each update is piggybacked. Must be non-zero.
    pub max_transmissions: Option<u8>,
    /// foca's own periodic announce to one random member. Must be non-zero.
    pub periodic_announce: Option<Duration>,
    /// Largest UDP datagram sent or accepted, envelope included. Between 512
    /// and 65507.
    pub max_packet_size: Option<usize>,
    /// How often the seeds are announced to once joined (the merge loop).
    /// Must be non-zero.
    pub seed_interval: Option<Duration>,
    /// How long two live identities may share a node id before it is
    /// reported as a duplicate (a restart on a new address resolves within
    /// a failure-detection time). Must be non-zero.
    pub duplicate_grace: Option<Duration>,
}

/// Everything the membership layer needs; no dependency on the node's
/// configuration format.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// The stable node id (non-empty, at most 128 bytes).
    pub node_id: String,
    /// Cluster name: packets from nodes with another name are dropped.
    pub cluster_name: String,
    /// Address [`bind`](Self::bind) binds the gossip socket to.
    pub bind: SocketAddr,
    /// Advertised gossip address. `None`: the socket's local address, which
    /// must then be a concrete IP.
    pub advertise: Option<SocketAddr>,
    /// Advertised peer protocol port.
    pub peer_port: u16,
    /// Advertised client port.
    pub client_port: u16,
    /// Advertised metrics port (0 = metrics off).
    pub metrics_port: u16,
    /// Seeds as `host:port` (IPs or DNS names, possibly resolving to several
    /// addresses); resolved again before every attempt.
    pub seeds: Vec<String>,
    /// Failure-detector timings preset.
    pub profile: GossipProfile,
    /// Values that replace the profile's.
    pub overrides: GossipOverrides,
    /// Expected cluster size, which scales foca's dissemination count and
    /// suspicion time. At least 1.
    pub cluster_size_hint: u32,
    /// Shared cluster secret; every packet carries a MAC when set.
    pub secret: Option<Vec<u8>>,
    /// Members (this node included) to see before
    /// [`is_bootstrapped`](super::MembershipHandle::is_bootstrapped) holds;
    /// 0 = at once.
    pub bootstrap_expect: usize,
    /// After this long the node counts as bootstrapped anyway.
    pub bootstrap_timeout: Duration,
    /// The state the node announces itself with.
    pub initial_state: MemberState,
    /// Seed of foca's random member choice. `None`: derived from the node id
    /// and the start time.
    pub rng_seed: Option<u64>,
}

impl MembershipConfig {
    /// Defaults for `node_id`: cluster `shoal`, gossip on 127.0.0.1:16380,
    /// ports 16380/6380/9380, no seeds, LAN timings, no secret, `active`.
    pub fn new(node_id: impl Into<String>) -> MembershipConfig {
        MembershipConfig {
            node_id: node_id.into(),
            cluster_name: "shoal".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 16380)),
            advertise: None,
            peer_port: 16380,
            client_port: 6380,
            metrics_port: 9380,
            seeds: Vec::new(),
            profile: GossipProfile::Lan,
            overrides: GossipOverrides::default(),
            cluster_size_hint: 5,
            secret: None,
            bootstrap_expect: 0,
            bootstrap_timeout: Duration::from_secs(30),
            initial_state: MemberState::Active,
            rng_seed: None,
        }
    }

    /// Binds a UDP socket on [`bind`](Self::bind), for callers that do not
    /// bring their own.
    pub async fn bind(&self) -> std::io::Result<tokio::net::UdpSocket> {
        tokio::net::UdpSocket::bind(self.bind).await
    }

    /// The resolved timings, with `envelope_overhead` bytes taken off foca's
    /// packet size.
    pub(crate) fn tuning(&self, envelope_overhead: usize) -> Result<Tuning, MembershipError> {
        check_node_id(&self.node_id)?;
        let size = NonZeroU32::new(self.cluster_size_hint)
            .ok_or_else(|| invalid("cluster_size_hint must be at least 1"))?;
        let preset = Preset::of(self.profile, size);
        let o = &self.overrides;
        let mut foca = preset.foca;
        foca.probe_period = o.probe_period.unwrap_or(foca.probe_period);
        foca.probe_rtt = o.probe_rtt.unwrap_or(foca.probe_rtt);
        foca.suspect_to_down_after = o.suspect_to_down_after.unwrap_or(foca.suspect_to_down_after);
        if let Some(n) = o.max_transmissions {
            foca.max_transmissions =
                NonZeroU8::new(n).ok_or_else(|| invalid("max_transmissions must be non-zero"))?;
        }
        if let Some(every) = o.periodic_announce {
            non_zero(every, "periodic_announce")?;
            foca.periodic_announce =
                Some(PeriodicParams { frequency: every, num_members: NonZeroUsize::MIN });
        }
        non_zero(foca.probe_rtt, "probe_rtt")?;
        non_zero(foca.suspect_to_down_after, "suspect_to_down_after")?;
        if foca.probe_rtt >= foca.probe_period {
            return Err(invalid("probe_rtt must be smaller than probe_period"));
        }
        let packet_size = o.max_packet_size.unwrap_or(1400);
        if !(MIN_PACKET_SIZE..=MAX_UDP_PAYLOAD).contains(&packet_size) {
            return Err(invalid("max_packet_size must be between 512 and 65507"));
        }
        foca.max_packet_size =
            NonZeroUsize::new(packet_size - envelope_overhead).expect("overhead is far below the minimum");
        let seed_interval = non_zero(o.seed_interval.unwrap_or(preset.seed_interval), "seed_interval")?;
        let default_grace = (foca.probe_period * 10).max(foca.suspect_to_down_after * 3);
        let duplicate_grace = non_zero(o.duplicate_grace.unwrap_or(default_grace), "duplicate_grace")?;
        Ok(Tuning {
            packet_size,
            housekeeping: foca.probe_period,
            seed_backoff_min: preset.seed_backoff_min.min(seed_interval),
            seed_interval,
            duplicate_grace,
            foca,
        })
    }
}

/// The resolved timings the task runs with.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    /// foca's configuration (its packet size excludes the envelope).
    pub(crate) foca: foca::Config,
    /// Largest datagram, envelope included.
    pub(crate) packet_size: usize,
    /// Period of the view refresh (suspicions, duplicate grace).
    pub(crate) housekeeping: Duration,
    /// First retry delay while not joined; doubles up to `seed_interval`.
    pub(crate) seed_backoff_min: Duration,
    /// Seed announce period once joined.
    pub(crate) seed_interval: Duration,
    /// See [`GossipOverrides::duplicate_grace`].
    pub(crate) duplicate_grace: Duration,
}

/// A profile's defaults.
struct Preset {
    foca: foca::Config,
    seed_interval: Duration,
    seed_backoff_min: Duration,
}

impl Preset {
    fn of(profile: GossipProfile, size: NonZeroU32) -> Preset {
        match profile {
            GossipProfile::Lan => Preset {
                foca: foca::Config::new_lan(size),
                seed_interval: Duration::from_secs(10),
                seed_backoff_min: Duration::from_millis(200),
            },
            GossipProfile::Fast => {
                let mut foca = foca::Config::new_lan(size);
                foca.probe_period = Duration::from_millis(500);
                foca.probe_rtt = Duration::from_millis(200);
                foca.suspect_to_down_after = Duration::from_millis(1500);
                foca.periodic_announce = Some(PeriodicParams {
                    frequency: Duration::from_secs(5),
                    num_members: NonZeroUsize::MIN,
                });
                foca.periodic_announce_to_down_members = Some(PeriodicParams {
                    frequency: Duration::from_secs(15),
                    num_members: NonZeroUsize::new(2).expect("non-zero"),
                });
                Preset {
                    foca,
                    seed_interval: Duration::from_secs(2),
                    seed_backoff_min: Duration::from_millis(50),
                }
            }
            GossipProfile::Wan => Preset {
                foca: foca::Config::new_wan(size),
                seed_interval: Duration::from_secs(30),
                seed_backoff_min: Duration::from_millis(500),
            },
        }
    }
}

fn check_node_id(id: &str) -> Result<(), MembershipError> {
    if id.is_empty() {
        Err(invalid("node_id must not be empty"))
    } else if id.len() > MAX_NODE_ID_LEN {
        Err(invalid("node_id must be at most 128 bytes"))
    } else {
        Ok(())
    }
}

fn non_zero(value: Duration, name: &str) -> Result<Duration, MembershipError> {
    if value.is_zero() { Err(invalid(&format!("{name} must be non-zero"))) } else { Ok(value) }
}

fn invalid(reason: &str) -> MembershipError {
    MembershipError::InvalidConfig(reason.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_profile_timings() {
        let mut config = MembershipConfig::new("n1");
        config.profile = GossipProfile::Fast;
        let tuning = config.tuning(41).unwrap();
        assert_eq!(tuning.foca.probe_period, Duration::from_millis(500));
        assert_eq!(tuning.foca.probe_rtt, Duration::from_millis(200));
        assert_eq!(tuning.foca.suspect_to_down_after, Duration::from_millis(1500));
        assert_eq!(tuning.foca.max_packet_size.get(), 1400 - 41);
        assert_eq!(tuning.duplicate_grace, Duration::from_secs(5));
        assert!(tuning.seed_backoff_min < tuning.seed_interval);
    }

    #[test]
    fn lan_and_wan_come_from_foca() {
        let lan = MembershipConfig::new("n1").tuning(9).unwrap();
        assert_eq!(lan.foca.probe_period, Duration::from_secs(1));
        let mut config = MembershipConfig::new("n1");
        config.profile = GossipProfile::Wan;
        assert_eq!(config.tuning(9).unwrap().foca.probe_period, Duration::from_secs(5));
    }

    #[test]
    fn overrides_replace_the_profile() {
        let mut config = MembershipConfig::new("n1");
        config.overrides.probe_period = Some(Duration::from_millis(300));
        config.overrides.probe_rtt = Some(Duration::from_millis(100));
        config.overrides.max_packet_size = Some(9000);
        config.overrides.seed_interval = Some(Duration::from_millis(100));
        let tuning = config.tuning(9).unwrap();
        assert_eq!(tuning.foca.probe_period, Duration::from_millis(300));
        assert_eq!(tuning.packet_size, 9000);
        assert_eq!(tuning.foca.max_packet_size.get(), 8991);
        assert!(tuning.seed_backoff_min <= Duration::from_millis(100));
    }

    type Change = Box<dyn Fn(&mut MembershipConfig)>;

    #[test]
    fn invalid_settings_are_named() {
        let cases: Vec<(&str, Change)> = vec![
            ("node_id", Box::new(|c| c.node_id.clear())),
            ("node_id", Box::new(|c| c.node_id = "x".repeat(129))),
            ("probe_rtt", Box::new(|c| c.overrides.probe_rtt = Some(Duration::from_secs(2)))),
            ("probe_rtt", Box::new(|c| c.overrides.probe_rtt = Some(Duration::ZERO))),
            ("max_packet_size", Box::new(|c| c.overrides.max_packet_size = Some(100))),
            ("max_transmissions", Box::new(|c| c.overrides.max_transmissions = Some(0))),
            ("cluster_size_hint", Box::new(|c| c.cluster_size_hint = 0)),
            ("seed_interval", Box::new(|c| c.overrides.seed_interval = Some(Duration::ZERO))),
        ];
        for (field, change) in cases {
            let mut config = MembershipConfig::new("n1");
            change(&mut config);
            let err = config.tuning(9).unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }
}
