//! Counters of the peer layer (client and server side), read by metrics
//! and tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated with relaxed atomics by the pool, connections and
/// the server. Read them with [`snapshot`](Self::snapshot). One value may be
/// shared by a node's pool and server.
#[derive(Debug, Default)]
pub struct PeerStats {
    connections_opened: AtomicU64,
    connections_accepted: AtomicU64,
    open_outgoing: AtomicU64,
    open_incoming: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    handshake_failures: AtomicU64,
    requests_sent: AtomicU64,
    replies_received: AtomicU64,
    requests_received: AtomicU64,
    replies_sent: AtomicU64,
    timeouts: AtomicU64,
    closed_by_timeouts: AtomicU64,
    failed_in_flight: AtomicU64,
    bad_frames: AtomicU64,
    writes: AtomicU64,
    frames_written: AtomicU64,
}

/// A copy of the counters at one moment. Counts since start unless said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStatsSnapshot {
    /// Outgoing connections that completed the handshake.
    pub connections_opened: u64,
    /// Incoming connections that completed the handshake.
    pub connections_accepted: u64,
    /// Outgoing connections open now.
    pub open_outgoing: u64,
    /// Incoming connections open now.
    pub open_incoming: u64,
    /// Outgoing connections opened to a node that had one before.
    pub reconnects: u64,
    /// Connects that failed or timed out (TCP or handshake I/O). Requests
    /// refused during the reconnect backoff that follows are not counted.
    pub connect_failures: u64,
    /// Handshakes refused or broken off, by either side, in either direction.
    pub handshake_failures: u64,
    /// Requests handed to a connection.
    pub requests_sent: u64,
    /// Replies matched to a waiting request.
    pub replies_received: u64,
    /// Requests read from incoming connections (well-formed or not).
    pub requests_received: u64,
    /// Replies queued on incoming connections.
    pub replies_sent: u64,
    /// Requests that got no reply within `request_timeout`.
    pub timeouts: u64,
    /// Connections closed after `timeouts_before_close` timeouts in a row.
    pub closed_by_timeouts: u64,
    /// Requests failed with `Closed` because their connection went away.
    pub failed_in_flight: u64,
    /// Frames refused from a peer: too large, undecodable, unknown kind.
    pub bad_frames: u64,
    /// Socket writes (each carries one or more frames).
    pub writes: u64,
    /// Frames written; `frames_written / writes` is the batching factor.
    pub frames_written: u64,
}

/// Which counter to change.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    ConnectionOpened,
    ConnectionAccepted,
    Reconnect,
    ConnectFailure,
    HandshakeFailure,
    RequestSent,
    ReplyReceived,
    RequestReceived,
    ReplySent,
    Timeout,
    ClosedByTimeouts,
    FailedInFlight,
    BadFrame,
    Write,
    FrameWritten,
}

/// Which gauge of open connections to move.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    Outgoing,
    Incoming,
}

impl PeerStats {
    /// Adds `n` to `counter`.
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        self.cell(counter).fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one to `counter`.
    pub(crate) fn bump(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Counts a connection open until the returned guard drops.
    pub(crate) fn open(&self, direction: Direction) -> OpenGuard<'_> {
        self.gauge(direction).fetch_add(1, Ordering::Relaxed);
        OpenGuard { stats: self, direction }
    }

    fn gauge(&self, direction: Direction) -> &AtomicU64 {
        match direction {
            Direction::Outgoing => &self.open_outgoing,
            Direction::Incoming => &self.open_incoming,
        }
    }

    fn cell(&self, counter: Counter) -> &AtomicU64 {
        match counter {
            Counter::ConnectionOpened => &self.connections_opened,
            Counter::ConnectionAccepted => &self.connections_accepted,
            Counter::Reconnect => &self.reconnects,
            Counter::ConnectFailure => &self.connect_failures,
            Counter::HandshakeFailure => &self.handshake_failures,
            Counter::RequestSent => &self.requests_sent,
            Counter::ReplyReceived => &self.replies_received,
            Counter::RequestReceived => &self.requests_received,
            Counter::ReplySent => &self.replies_sent,
            Counter::Timeout => &self.timeouts,
            Counter::ClosedByTimeouts => &self.closed_by_timeouts,
            Counter::FailedInFlight => &self.failed_in_flight,
            Counter::BadFrame => &self.bad_frames,
            Counter::Write => &self.writes,
            Counter::FrameWritten => &self.frames_written,
        }
    }

    /// The current values.
    pub fn snapshot(&self) -> PeerStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PeerStatsSnapshot {
            connections_opened: get(&self.connections_opened),
            connections_accepted: get(&self.connections_accepted),
            open_outgoing: get(&self.open_outgoing),
            open_incoming: get(&self.open_incoming),
            reconnects: get(&self.reconnects),
            connect_failures: get(&self.connect_failures),
            handshake_failures: get(&self.handshake_failures),
            requests_sent: get(&self.requests_sent),
            replies_received: get(&self.replies_received),
            requests_received: get(&self.requests_received),
            replies_sent: get(&self.replies_sent),
            timeouts: get(&self.timeouts),
            closed_by_timeouts: get(&self.closed_by_timeouts),
            failed_in_flight: get(&self.failed_in_flight),
            bad_frames: get(&self.bad_frames),
            writes: get(&self.writes),
            frames_written: get(&self.frames_written),
        }
    }
}

/// Keeps a connection counted as open; decrements on drop.
#[derive(Debug)]
pub(crate) struct OpenGuard<'a> {
    stats: &'a PeerStats,
    direction: Direction,
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.stats.gauge(self.direction).fetch_sub(1, Ordering::Relaxed);
    }
}
