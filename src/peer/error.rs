//! Errors of the peer layer. Each variant says whether the request may have
//! run on the peer, which decides whether a caller may retry it elsewhere.

use super::handshake::HandshakeError;

/// Why a peer request, or starting the peer layer, failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    /// No connection could be made: TCP connect failed or timed out, the
    /// handshake broke off, or the node is in its reconnect backoff after
    /// recent failures. The request was **not sent**.
    #[error("cannot connect to peer: {0}")]
    ConnectFailed(String),
    /// The handshake completed its exchange but one side refused the other
    /// (cluster name, protocol version, secret, node id). The request was
    /// **not sent**; retrying will not help until a configuration changes.
    #[error("peer handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The request was handed to the connection but no reply came within
    /// `request_timeout`. It **may or may not have run** on the peer.
    #[error("peer did not answer in time")]
    Timeout,
    /// The connection closed (peer gone, reader error, repeated timeouts,
    /// [`forget`](super::PeerPool::forget), shutdown) while the request was
    /// in flight. It **may or may not have run** on the peer.
    #[error("peer connection closed")]
    Closed,
    /// The connection had `max_in_flight` requests outstanding for the whole
    /// `request_timeout`. The request was **not sent**.
    #[error("too many requests in flight to peer")]
    Saturated,
    /// The encoded request exceeds `max_frame_bytes`. It was **not sent**.
    #[error("request of {size} bytes exceeds the peer frame limit of {max}")]
    FrameTooLarge {
        /// The request's body length.
        size: u64,
        /// `max_frame_bytes`.
        max: usize,
    },
    /// The peer layer is shutting down. The request was **not sent**.
    #[error("peer layer shutting down")]
    ShuttingDown,
    /// The configuration is unusable (the text says which field and why).
    /// Nothing was started.
    #[error("invalid peer config: {0}")]
    InvalidConfig(String),
}

impl PeerError {
    /// True when the request certainly did not run on the peer, so it may
    /// be retried without risk of running twice.
    pub fn not_sent(&self) -> bool {
        !matches!(self, PeerError::Timeout | PeerError::Closed)
    }
}
