//! Counters of requests this node sends to peers (forwarded, split and
//! fanned-out requests): outcomes by peer and a latency histogram. Read by
//! the metrics.
//!
//! Recording a forward finds the peer's counters in a sorted list loaded
//! without a lock (a binary search, no allocation); only the first request
//! to a peer never seen before adds it, under a short lock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::Router;
use crate::peer::{PeerError, PeerReply, PeerRequest};
use crate::util::histogram::{LatencyHistogram, LatencySnapshot};

/// How one request to a peer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardResult {
    /// The peer ran the command and answered (maybe with a RESP error).
    Ok,
    /// The peer does not own the keys in its view (the ring is converging).
    WrongOwner,
    /// The peer refused the request (a peer protocol error).
    Error,
    /// No connection: the request was not sent.
    Unreachable,
    /// Sent, but no answer within `peer.request_timeout`.
    Timeout,
    /// Sent, but the connection closed before the answer.
    Closed,
}

impl ForwardResult {
    /// Every result, in label order.
    pub const ALL: [ForwardResult; 6] = [
        ForwardResult::Ok,
        ForwardResult::WrongOwner,
        ForwardResult::Error,
        ForwardResult::Unreachable,
        ForwardResult::Timeout,
        ForwardResult::Closed,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardResult::Ok => "ok",
            ForwardResult::WrongOwner => "wrong_owner",
            ForwardResult::Error => "error",
            ForwardResult::Unreachable => "unreachable",
            ForwardResult::Timeout => "timeout",
            ForwardResult::Closed => "closed",
        }
    }

    /// Classifies the outcome of a peer request.
    pub fn of(result: &Result<PeerReply, PeerError>) -> ForwardResult {
        match result {
            Ok(PeerReply::Frame(_)) => ForwardResult::Ok,
            Ok(PeerReply::WrongOwner { .. }) => ForwardResult::WrongOwner,
            Ok(PeerReply::Error(_)) => ForwardResult::Error,
            Err(PeerError::Timeout) => ForwardResult::Timeout,
            Err(PeerError::Closed) => ForwardResult::Closed,
            Err(_) => ForwardResult::Unreachable,
        }
    }
}

/// Outcome counts of the requests sent to one peer.
#[derive(Debug, Default)]
pub struct PeerForwards {
    results: [AtomicU64; ForwardResult::ALL.len()],
}

impl PeerForwards {
    /// Requests that ended with `result`.
    pub fn count(&self, result: ForwardResult) -> u64 {
        self.results[result as usize].load(Ordering::Relaxed)
    }
}

/// Forwarding counters of one node.
#[derive(Debug, Default)]
pub struct ForwardStats {
    /// Sorted by peer id; replaced (copy on write) when a peer is added.
    peers: ArcSwap<Vec<(String, Arc<PeerForwards>)>>,
    adding: Mutex<()>,
    latency: LatencyHistogram,
}

impl ForwardStats {
    /// Counts one request to `peer` and how long it took.
    pub fn record(&self, peer: &str, result: ForwardResult, elapsed: Duration) {
        self.latency.observe(elapsed);
        let peers = self.peers.load();
        // Counted through the loaded list, without cloning the peer's Arc:
        // a reference count shared by every connection would be contended.
        match peers.binary_search_by(|(id, _)| id.as_str().cmp(peer)) {
            Ok(i) => peers[i].1.results[result as usize].fetch_add(1, Ordering::Relaxed),
            Err(_) => self.add(peer).results[result as usize].fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Makes sure every peer in `ids` has counters (at zero when new), so
    /// that its series exist before its first request.
    pub fn track<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            let known = self.peers.load().binary_search_by(|(known, _)| known.as_str().cmp(id)).is_ok();
            if !known {
                self.add(id);
            }
        }
    }

    fn add(&self, peer: &str) -> Arc<PeerForwards> {
        let _adding = self.adding.lock();
        let current = self.peers.load_full();
        match current.binary_search_by(|(id, _)| id.as_str().cmp(peer)) {
            Ok(i) => current[i].1.clone(),
            Err(i) => {
                let cells = Arc::new(PeerForwards::default());
                let mut next = (*current).clone();
                next.insert(i, (peer.to_string(), cells.clone()));
                self.peers.store(Arc::new(next));
                cells
            }
        }
    }

    /// Every peer ever sent to or tracked, sorted by id, with its counts.
    /// Peers are kept after they leave, so their counters never go back.
    pub fn peers(&self) -> Arc<Vec<(String, Arc<PeerForwards>)>> {
        self.peers.load_full()
    }

    /// Latency of every request sent to a peer, whatever its outcome.
    pub fn latency(&self) -> LatencySnapshot {
        self.latency.snapshot()
    }
}

impl Router {
    /// Sends `request` to peer `node_id` through the pool, counting it.
    pub(super) async fn peer_request(
        &self,
        node_id: &str,
        addr: SocketAddr,
        request: &PeerRequest,
    ) -> Result<PeerReply, PeerError> {
        let started = quanta::Instant::now();
        let result = self.pool.request(node_id, addr, request).await;
        self.forwards.record(node_id, ForwardResult::of(&result), started.elapsed());
        result
    }

    /// The node's forwarding counters.
    pub fn forward_stats(&self) -> &Arc<ForwardStats> {
        &self.forwards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_peer_and_result_and_keeps_peers_sorted() {
        let stats = ForwardStats::default();
        stats.track(["n3", "n1"]);
        stats.record("n2", ForwardResult::Ok, Duration::from_micros(40));
        stats.record("n2", ForwardResult::Timeout, Duration::from_secs(5));
        stats.record("n1", ForwardResult::WrongOwner, Duration::from_micros(40));
        let peers = stats.peers();
        let ids: Vec<&str> = peers.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["n1", "n2", "n3"]);
        assert_eq!(peers[1].1.count(ForwardResult::Ok), 1);
        assert_eq!(peers[1].1.count(ForwardResult::Timeout), 1);
        assert_eq!(peers[0].1.count(ForwardResult::WrongOwner), 1);
        assert_eq!(peers[2].1.count(ForwardResult::Ok), 0);
        assert_eq!(stats.latency().count(), 3);
    }

    #[test]
    fn classifies_peer_outcomes() {
        assert_eq!(ForwardResult::of(&Err(PeerError::Timeout)), ForwardResult::Timeout);
        assert_eq!(ForwardResult::of(&Err(PeerError::Closed)), ForwardResult::Closed);
        assert_eq!(ForwardResult::of(&Err(PeerError::Saturated)), ForwardResult::Unreachable);
        assert_eq!(ForwardResult::of(&Ok(PeerReply::WrongOwner { view_id: 1 })), ForwardResult::WrongOwner);
        assert_eq!(ForwardResult::of(&Ok(PeerReply::Error("x".into()))), ForwardResult::Error);
    }
}
