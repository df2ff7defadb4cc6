//! One multiplexed connection per peer node, opened on demand and reopened
//! after failures with capped exponential backoff.
//!
//! The table of nodes is a map under a short lock, never held across an
//! await: it only hands out connection handles. Connects run in their own
//! tracked task and publish the outcome on a `watch`, so concurrent
//! requests to a node share one connect, and a caller that gives up does
//! not abandon it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::client::{CallError, Connection, Dialer};
use super::codec::{PeerReply, PeerRequest};
use super::config::PeerConfig;
use super::error::PeerError;
use super::handshake::Auth;
use super::stats::{Counter, PeerStats, PeerStatsSnapshot};

/// Outcome of one connect, published to everyone waiting for it.
type ConnectOutcome = Option<Result<Arc<Connection>, PeerError>>;

/// Client side of the peer protocol: sends requests to peers by node id.
/// Cheap to clone; clones share the connections.
#[derive(Debug, Clone)]
pub struct PeerPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dialer: Dialer,
    nodes: Mutex<HashMap<String, Node>>,
    /// Source of [`Node::attempt`] values, unique across the pool's life.
    attempts: AtomicU64,
}

/// What the pool knows about one peer node.
#[derive(Debug)]
struct Node {
    addr: SocketAddr,
    state: State,
    /// Failed connects in a row.
    failures: u32,
    /// A connection to this node was open before (the next is a reconnect).
    connected_before: bool,
    /// The current connect attempt; a new one (or an address change)
    /// replaces it, so a stale connect's result is recognized and discarded.
    attempt: u64,
}

impl Node {
    fn new(addr: SocketAddr) -> Node {
        Node { addr, state: State::Idle, failures: 0, connected_before: false, attempt: 0 }
    }
}

#[derive(Debug)]
enum State {
    Idle,
    Connecting(watch::Receiver<ConnectOutcome>),
    Connected(Arc<Connection>),
    BackingOff { until: Instant, last_error: PeerError },
}

impl PeerPool {
    /// A pool with its own counters. `config` must pass
    /// [`PeerConfig::validate`]. Connections close when `shutdown` is
    /// cancelled; their tasks run on `tracker`.
    pub fn new(config: Arc<PeerConfig>, shutdown: CancellationToken, tracker: TaskTracker) -> PeerPool {
        PeerPool::with_stats(config, shutdown, tracker, Arc::new(PeerStats::default()))
    }

    /// Like [`new`](Self::new), counting into `stats` (which the node may
    /// share with its [`serve`](super::serve) loop).
    pub fn with_stats(
        config: Arc<PeerConfig>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
        stats: Arc<PeerStats>,
    ) -> PeerPool {
        let auth = Arc::new(Auth::new(config.secret.as_deref()));
        let dialer = Dialer { config, auth, stats, shutdown, tracker };
        PeerPool {
            inner: Arc::new(Inner { dialer, nodes: Mutex::new(HashMap::new()), attempts: AtomicU64::new(1) }),
        }
    }

    /// Sends `request` to `node_id` at `addr` and waits for the reply.
    ///
    /// Reuses the node's connection or opens one (within
    /// `connect_timeout`); the reply is then awaited within
    /// `request_timeout`, so the whole call takes at most the sum. A request
    /// beyond `max_in_flight` waits for a slot within the same deadline.
    /// While the node is in its reconnect backoff, the call fails at once.
    /// A changed `addr` for a known node drops the old connection.
    ///
    /// # Errors
    /// See [`PeerError`]: each variant says whether the request may have run.
    pub async fn request(
        &self,
        node_id: &str,
        addr: SocketAddr,
        request: &PeerRequest,
    ) -> Result<PeerReply, PeerError> {
        // A connection found closed before the request went out is replaced
        // once; the request was not sent on it.
        for _ in 0..2 {
            let connection = self.connection(node_id, addr).await?;
            let deadline = Instant::now() + self.inner.dialer.config.request_timeout;
            match connection.call(request, deadline).await {
                Ok(reply) => return Ok(reply),
                Err(CallError::Failed(error)) => return Err(error),
                Err(CallError::Stale) => self.discard(node_id, &connection),
            }
        }
        Err(PeerError::ConnectFailed(format!("connections to {node_id} keep closing")))
    }

    /// Drops the connection to `node_id` (declared down, left): its
    /// requests in flight fail with `Closed` at once, a connect under way is
    /// discarded, and the backoff is forgotten.
    pub fn forget(&self, node_id: &str) {
        let removed = self.inner.nodes.lock().remove(node_id);
        if let Some(Node { state: State::Connected(connection), .. }) = removed {
            connection.close();
        }
    }

    /// The counters now.
    pub fn stats(&self) -> PeerStatsSnapshot {
        self.inner.dialer.stats.snapshot()
    }

    /// The live counters (to share with the server or read repeatedly).
    pub fn stats_handle(&self) -> Arc<PeerStats> {
        self.inner.dialer.stats.clone()
    }

    /// Every node the pool knows, with the state of its connection:
    /// `connected`, `connecting`, `backing_off` (after failed connects) or
    /// `idle` (none yet, or closed). For metrics; takes the table's lock.
    pub fn connection_states(&self) -> Vec<(String, &'static str)> {
        let nodes = self.inner.nodes.lock();
        let state = |node: &Node| match &node.state {
            State::Connected(connection) if !connection.is_closed() => "connected",
            State::Connecting(_) => "connecting",
            State::BackingOff { until, .. } if Instant::now() < *until => "backing_off",
            _ => "idle",
        };
        nodes.iter().map(|(id, node)| (id.clone(), state(node))).collect()
    }

    /// The open connection to `node_id`, or the outcome of a connect.
    async fn connection(&self, node_id: &str, addr: SocketAddr) -> Result<Arc<Connection>, PeerError> {
        let mut outcome = match self.lookup(node_id, addr)? {
            Lookup::Ready(connection) => return Ok(connection),
            Lookup::Wait(outcome) => outcome,
        };
        let shutdown = &self.inner.dialer.shutdown;
        tokio::select! {
            _ = shutdown.cancelled() => Err(PeerError::ShuttingDown),
            published = outcome.wait_for(Option::is_some) => match published {
                Ok(result) => result.clone().expect("waited for Some"),
                Err(_) => Err(PeerError::ShuttingDown),
            },
        }
    }

    /// Looks `node_id` up under the lock: a usable connection, a connect to
    /// wait for (started here if needed), or the backoff error.
    fn lookup(&self, node_id: &str, addr: SocketAddr) -> Result<Lookup, PeerError> {
        let mut nodes = self.inner.nodes.lock();
        // Known nodes are found without allocating their id.
        if !nodes.contains_key(node_id) {
            nodes.insert(node_id.to_string(), Node::new(addr));
        }
        let node = nodes.get_mut(node_id).expect("inserted above");
        if node.addr != addr {
            tracing::info!(node_id, old = %node.addr, new = %addr, "peer address changed");
            if let State::Connected(connection) = &node.state {
                connection.close();
            }
            node.addr = addr;
            node.state = State::Idle;
            node.failures = 0;
        }
        match &node.state {
            State::Connected(connection) if !connection.is_closed() => {
                return Ok(Lookup::Ready(connection.clone()));
            }
            // Connections close when the node shuts down: no new one then.
            _ if self.inner.dialer.shutdown.is_cancelled() => return Err(PeerError::ShuttingDown),
            State::Connecting(outcome) => return Ok(Lookup::Wait(outcome.clone())),
            State::BackingOff { until, last_error } if Instant::now() < *until => {
                return Err(match last_error {
                    PeerError::Handshake(_) => last_error.clone(),
                    other => PeerError::ConnectFailed(format!(
                        "backing off for {:?} after: {other}",
                        until.saturating_duration_since(Instant::now())
                    )),
                });
            }
            State::Connected(_) | State::BackingOff { .. } | State::Idle => {}
        }
        node.attempt = self.inner.attempts.fetch_add(1, Ordering::Relaxed);
        let (publish, outcome) = watch::channel(None);
        node.state = State::Connecting(outcome.clone());
        let connect = self.clone().connect(node_id.to_string(), addr, node.attempt, publish);
        self.inner.dialer.tracker.spawn(connect.in_current_span());
        Ok(Lookup::Wait(outcome))
    }

    /// One connect attempt; records and publishes its outcome.
    async fn connect(
        self,
        node_id: String,
        addr: SocketAddr,
        attempt: u64,
        publish: watch::Sender<ConnectOutcome>,
    ) {
        let dialer = &self.inner.dialer;
        let opened = tokio::select! {
            _ = dialer.shutdown.cancelled() => Err(PeerError::ShuttingDown),
            opened = Connection::open(dialer, &node_id, addr) => opened,
        };
        let outcome = self.record(&node_id, attempt, opened);
        publish.send_replace(Some(outcome));
    }

    /// Stores a connect's outcome in the table, unless the node was
    /// forgotten or re-addressed meanwhile.
    fn record(
        &self,
        node_id: &str,
        attempt: u64,
        opened: Result<Arc<Connection>, PeerError>,
    ) -> Result<Arc<Connection>, PeerError> {
        let mut nodes = self.inner.nodes.lock();
        let Some(node) = nodes.get_mut(node_id).filter(|node| node.attempt == attempt) else {
            if let Ok(connection) = &opened {
                connection.close();
            }
            return Err(PeerError::ConnectFailed(format!("connection to {node_id} dropped while opening")));
        };
        match &opened {
            Ok(connection) => {
                if node.connected_before {
                    self.inner.dialer.stats.bump(Counter::Reconnect);
                }
                node.connected_before = true;
                node.failures = 0;
                node.state = State::Connected(connection.clone());
            }
            Err(error) => {
                node.failures += 1;
                let backoff = self.inner.dialer.config.reconnect_backoff(node.failures);
                node.state = State::BackingOff { until: Instant::now() + backoff, last_error: error.clone() };
            }
        }
        opened
    }

    /// Drops `connection` from the table if it is still the node's.
    fn discard(&self, node_id: &str, connection: &Arc<Connection>) {
        let mut nodes = self.inner.nodes.lock();
        if let Some(node) = nodes.get_mut(node_id)
            && matches!(&node.state, State::Connected(current) if Arc::ptr_eq(current, connection))
        {
            node.state = State::Idle;
        }
    }
}

enum Lookup {
    Ready(Arc<Connection>),
    Wait(watch::Receiver<ConnectOutcome>),
}
