//! Peer protocol settings: a plain struct the node fills from its own
//! configuration.

use std::time::Duration;

use super::error::PeerError;
use super::handshake::MAX_NODE_ID_LEN;

/// Smallest `max_frame_bytes` accepted: room for any handshake message and a
/// small command.
pub const MIN_FRAME_BYTES: usize = 4096;

/// Everything the peer layer needs; no dependency on the node's
/// configuration format.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// This node's stable id, sent in the handshake. Non-empty, at most
    /// [`MAX_NODE_ID_LEN`] bytes.
    pub node_id: String,
    /// Cluster name; connections between nodes of different names are
    /// refused. At most [`MAX_NODE_ID_LEN`] bytes.
    pub cluster_name: String,
    /// Shared cluster secret. When set, both sides prove they hold it
    /// (challenge/response); a node with a secret and one without refuse
    /// each other.
    pub secret: Option<Vec<u8>>,
    /// Longest wait for a TCP connect plus the handshake, on either side.
    /// More than zero.
    pub connect_timeout: Duration,
    /// Longest wait for a request's reply, counted from the moment the
    /// request has a connection; also bounds each socket write. More than
    /// zero.
    pub request_timeout: Duration,
    /// Largest frame body sent or accepted. At least [`MIN_FRAME_BYTES`],
    /// at most `u32::MAX`; should equal the other nodes' value.
    pub max_frame_bytes: usize,
    /// Requests in flight on one connection at most; further requests wait
    /// for a slot (within `request_timeout`). At least 1.
    pub max_in_flight: usize,
    /// Consecutive request timeouts (with no reply in between) after which
    /// a connection is considered dead and closed. At least 1.
    pub timeouts_before_close: u32,
    /// Wait before reconnecting after the first failed connect; doubles with
    /// each further failure. More than zero.
    pub reconnect_backoff_min: Duration,
    /// Cap of the reconnect wait. At least `reconnect_backoff_min`.
    pub reconnect_backoff_max: Duration,
}

impl PeerConfig {
    /// Defaults for `node_id`: cluster `shoal`, no secret, connect timeout
    /// 1 s, request timeout 5 s, frames up to 520 MiB, 1024 requests in
    /// flight, closed after 3 timeouts in a row, reconnect backoff 100 ms
    /// doubling to 5 s.
    pub fn new(node_id: impl Into<String>) -> PeerConfig {
        PeerConfig {
            node_id: node_id.into(),
            cluster_name: "shoal".into(),
            secret: None,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            max_frame_bytes: 520 * 1024 * 1024,
            max_in_flight: 1024,
            timeouts_before_close: 3,
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
        }
    }

    /// Checks every constraint above.
    ///
    /// # Errors
    /// [`PeerError::InvalidConfig`] naming the first field that breaks one.
    pub fn validate(&self) -> Result<(), PeerError> {
        let check = |ok: bool, msg: &str| if ok { Ok(()) } else { Err(PeerError::InvalidConfig(msg.into())) };
        check(!self.node_id.is_empty(), "node_id must not be empty")?;
        check(self.node_id.len() <= MAX_NODE_ID_LEN, "node_id is too long")?;
        check(self.cluster_name.len() <= MAX_NODE_ID_LEN, "cluster_name is too long")?;
        check(!self.connect_timeout.is_zero(), "connect_timeout must be more than zero")?;
        check(!self.request_timeout.is_zero(), "request_timeout must be more than zero")?;
        check(self.max_frame_bytes >= MIN_FRAME_BYTES, "max_frame_bytes must be at least 4096")?;
        check(self.max_frame_bytes <= u32::MAX as usize, "max_frame_bytes must fit in 32 bits")?;
        check(self.max_in_flight >= 1, "max_in_flight must be at least 1")?;
        check(self.timeouts_before_close >= 1, "timeouts_before_close must be at least 1")?;
        check(!self.reconnect_backoff_min.is_zero(), "reconnect_backoff_min must be more than zero")?;
        check(
            self.reconnect_backoff_max >= self.reconnect_backoff_min,
            "reconnect_backoff_max must be at least reconnect_backoff_min",
        )
    }

    /// The wait before the next connect after `failures` failed ones in a
    /// row (at least 1): the minimum doubled per failure, capped.
    pub fn reconnect_backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.reconnect_backoff_min.saturating_mul(1 << doublings).min(self.reconnect_backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        PeerConfig::new("n1").validate().unwrap();
    }

    #[test]
    fn each_constraint_is_checked() {
        let broken: Vec<fn(&mut PeerConfig)> = vec![
            |c| c.node_id.clear(),
            |c| c.node_id = "x".repeat(MAX_NODE_ID_LEN + 1),
            |c| c.cluster_name = "x".repeat(MAX_NODE_ID_LEN + 1),
            |c| c.connect_timeout = Duration::ZERO,
            |c| c.request_timeout = Duration::ZERO,
            |c| c.max_frame_bytes = MIN_FRAME_BYTES - 1,
            |c| c.max_frame_bytes = u32::MAX as usize + 1,
            |c| c.max_in_flight = 0,
            |c| c.timeouts_before_close = 0,
            |c| c.reconnect_backoff_min = Duration::ZERO,
            |c| c.reconnect_backoff_max = Duration::from_millis(1),
        ];
        for (i, breaks) in broken.into_iter().enumerate() {
            let mut config = PeerConfig::new("n1");
            breaks(&mut config);
            assert!(matches!(config.validate(), Err(PeerError::InvalidConfig(_))), "case {i}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = PeerConfig::new("n1");
        let ms = |failures| config.reconnect_backoff(failures).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(6), ms(7), ms(1000)], [100, 200, 400, 3200, 5000, 5000]);
    }
}
