//! One multiplexed connection to a peer: many requests in flight, replies
//! matched by request id.
//!
//! ```text
//! callers ──insert(id, oneshot)──▶ pending map ◀──remove(id)── reader ◀── socket
//!         ──encoded frame────────▶ writer (batches) ──▶ socket
//! ```
//!
//! A caller puts its request in the shared pending map before queueing
//! the frame, so the reply can never arrive before its registration, and
//! registering wakes no task. One spawned task runs the reader and the
//! writer; when either stops, the connection closes and the reader shuts
//! the pending map, failing every waiting caller with `Closed` at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::codec::{PeerReply, PeerRequest, decode_reply, encode_request};
use super::config::PeerConfig;
use super::error::PeerError;
use super::framed::{FrameReader, write_frames};
use super::handshake::Auth;
use super::negotiate;
use super::stats::{Counter, Direction, PeerStats};

/// Requests waiting for their reply, shared by callers and the reader.
#[derive(Debug, Default)]
struct Pending {
    waiting: ahash::AHashMap<u64, oneshot::Sender<PeerReply>>,
    /// Set by the reader when it stops: nothing will be delivered anymore.
    shut: bool,
}

type PendingMap = Arc<parking_lot::Mutex<Pending>>;

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The connection was already closed; the request was not sent and may
    /// go out on a new connection.
    Stale,
    /// The request failed for the caller.
    Failed(PeerError),
}

/// Whether a connection is closed. The token wakes the connection's task;
/// the flag is what callers check on every request, without the lock that
/// reading a token takes. The flag is set by [`Closing::close`], which the
/// task also calls when it ends (on the node's shutdown, say).
#[derive(Debug, Clone)]
struct Closing {
    token: CancellationToken,
    flag: Arc<AtomicBool>,
}

impl Closing {
    fn new(token: CancellationToken) -> Closing {
        Closing { token, flag: Arc::new(AtomicBool::new(false)) }
    }

    fn close(&self) {
        self.flag.store(true, Ordering::Release);
        self.token.cancel();
    }

    fn is_closed(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// An open, handshaken connection to one peer.
#[derive(Debug)]
pub(crate) struct Connection {
    node_id: String,
    frames: mpsc::Sender<Bytes>,
    pending: PendingMap,
    in_flight: Semaphore,
    next_id: AtomicU64,
    timeouts_in_a_row: Arc<AtomicU32>,
    closed: Closing,
    config: Arc<PeerConfig>,
    stats: Arc<PeerStats>,
}

/// What [`Connection::open`] needs from the pool.
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    pub(crate) config: Arc<PeerConfig>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) stats: Arc<PeerStats>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

impl Connection {
    /// Connects to `node_id` at `addr` and runs the handshake, both within
    /// `connect_timeout`, then spawns the connection's task on the tracker.
    pub(crate) async fn open(
        dialer: &Dialer,
        node_id: &str,
        addr: SocketAddr,
    ) -> Result<Arc<Connection>, PeerError> {
        let config = &dialer.config;
        let attempt = async {
            let mut stream = TcpStream::connect(addr)
                .await
                .map_err(|e| PeerError::ConnectFailed(format!("{addr}: {e}")))?;
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%addr, "set_nodelay failed: {e}");
            }
            let established = negotiate::client_side(&mut stream, config, &dialer.auth, node_id).await?;
            Ok::<_, PeerError>((stream, established.reader))
        };
        let (stream, mut reader) = match timeout(config.connect_timeout, attempt).await {
            Ok(Ok(opened)) => opened,
            Ok(Err(error)) => return Err(dialer.failed(node_id, addr, error)),
            Err(_) => {
                let error = PeerError::ConnectFailed(format!(
                    "{addr}: no handshake within {:?}",
                    config.connect_timeout
                ));
                return Err(dialer.failed(node_id, addr, error));
            }
        };
        reader.set_max(config.max_frame_bytes);
        dialer.stats.bump(Counter::ConnectionOpened);
        tracing::debug!(node_id, %addr, "peer connection open");

        let (frames, frames_rx) = mpsc::channel(config.max_in_flight);
        let pending = PendingMap::default();
        let connection = Arc::new(Connection {
            node_id: node_id.to_string(),
            frames,
            pending: pending.clone(),
            in_flight: Semaphore::new(config.max_in_flight),
            next_id: AtomicU64::new(1),
            timeouts_in_a_row: Arc::new(AtomicU32::new(0)),
            closed: Closing::new(dialer.shutdown.child_token()),
            config: config.clone(),
            stats: dialer.stats.clone(),
        });
        let replies = ReplyReader {
            node_id: node_id.to_string(),
            reader,
            pending,
            closed: connection.closed.clone(),
            timeouts_in_a_row: connection.timeouts_in_a_row.clone(),
            stats: dialer.stats.clone(),
        };
        dialer.tracker.spawn(run(stream, replies, frames_rx, config.request_timeout).in_current_span());
        Ok(connection)
    }

    /// True once the connection is closed; it will not carry requests again.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_closed()
    }

    /// Closes the connection; requests in flight fail with `Closed`.
    pub(crate) fn close(&self) {
        self.closed.close();
    }

    /// Sends `request` and waits for its reply until `deadline`.
    pub(crate) async fn call(
        &self,
        request: &PeerRequest,
        deadline: Instant,
    ) -> Result<PeerReply, CallError> {
        let acquired = timeout_at(deadline, self.in_flight.acquire()).await;
        let acquired = acquired.map_err(|_| CallError::Failed(PeerError::Saturated))?;
        // The semaphore is never closed; a failure would mean the connection is unusable.
        let Ok(_slot) = acquired else { return Err(CallError::Stale) };
        if self.is_closed() {
            return Err(CallError::Stale);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode_request(id, request, self.config.max_frame_bytes)
            .map_err(|e| CallError::Failed(PeerError::FrameTooLarge { size: e.size, max: e.max }))?;
        let (reply_tx, reply_rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock();
            if pending.shut {
                return Err(CallError::Stale);
            }
            pending.waiting.insert(id, reply_tx);
        }
        match timeout_at(deadline, self.frames.send(frame)).await {
            Ok(Ok(())) => self.stats.bump(Counter::RequestSent),
            Ok(Err(_)) => {
                self.pending.lock().waiting.remove(&id);
                return Err(CallError::Stale);
            }
            Err(_) => return Err(CallError::Failed(self.timed_out(id))),
        }
        match timeout_at(deadline, reply_rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(CallError::Failed(PeerError::Closed)),
            Err(_) => Err(CallError::Failed(self.timed_out(id))),
        }
    }

    /// Forgets request `id` after its timeout; closes the connection after
    /// too many timeouts in a row.
    fn timed_out(&self, id: u64) -> PeerError {
        self.stats.bump(Counter::Timeout);
        let mut pending = self.pending.lock();
        if pending.shut {
            return PeerError::Timeout;
        }
        pending.waiting.remove(&id);
        drop(pending);
        let in_a_row = self.timeouts_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        // Exactly one caller sees the count reach the limit.
        if in_a_row == self.config.timeouts_before_close {
            self.stats.bump(Counter::ClosedByTimeouts);
            tracing::warn!(node_id = %self.node_id, in_a_row, "peer stopped answering; closing the connection");
            self.closed.close();
        }
        PeerError::Timeout
    }
}

impl Dialer {
    /// Counts and logs a failed connect, and passes the error on.
    fn failed(&self, node_id: &str, addr: SocketAddr, error: PeerError) -> PeerError {
        if matches!(error, PeerError::Handshake(_)) {
            self.stats.bump(Counter::HandshakeFailure);
            tracing::warn!(node_id, %addr, "peer handshake failed: {error}");
        } else {
            self.stats.bump(Counter::ConnectFailure);
            tracing::debug!(node_id, %addr, "peer connect failed: {error}");
        }
        error
    }
}

/// The connection's task: the writer and the reply reader side by side.
/// Either one stopping closes the connection.
async fn run(
    stream: TcpStream,
    mut replies: ReplyReader,
    mut frames: mpsc::Receiver<Bytes>,
    write_timeout: Duration,
) {
    let stats = replies.stats.clone();
    let _open = stats.open(Direction::Outgoing);
    let (mut read_half, mut write_half) = stream.into_split();
    let closed = replies.closed.clone();
    let node_id = replies.node_id.clone();
    let writer = async {
        if let Err(e) = write_frames(&mut write_half, &mut frames, &closed.token, write_timeout, &stats).await
        {
            tracing::debug!(%node_id, "peer write failed: {e}");
        }
        closed.close();
    };
    tokio::join!(writer, replies.run(&mut read_half));
    tracing::debug!(%node_id, "peer connection closed");
}

/// The reader side of a connection; owns the map of pending requests.
struct ReplyReader {
    node_id: String,
    reader: FrameReader,
    pending: PendingMap,
    closed: Closing,
    timeouts_in_a_row: Arc<AtomicU32>,
    stats: Arc<PeerStats>,
}

impl ReplyReader {
    /// Delivers replies until the connection closes, then fails whatever is
    /// still pending.
    async fn run(&mut self, stream: &mut OwnedReadHalf) {
        // Created once: a fresh cancellation future per read would register
        // (and take the token's lock) every time.
        let closed = self.closed.token.clone();
        let stop = closed.cancelled();
        tokio::pin!(stop);
        while self.deliver_buffered() {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                read = self.reader.fill(stream) => match read {
                    Ok(0) => {
                        tracing::debug!(node_id = %self.node_id, "peer closed the connection");
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(node_id = %self.node_id, "peer read failed: {e}");
                        break;
                    }
                },
            }
        }
        self.closed.close();
        // Dropping the senders fails every waiting caller with `Closed`.
        let failed = {
            let mut pending = self.pending.lock();
            pending.shut = true;
            std::mem::take(&mut pending.waiting)
        };
        if !failed.is_empty() {
            self.stats.add(Counter::FailedInFlight, failed.len() as u64);
        }
    }

    /// Matches every complete reply in the buffer to its caller. False when
    /// the connection must close (bad frame).
    fn deliver_buffered(&mut self) -> bool {
        loop {
            let body = match self.reader.try_next() {
                Ok(Some(body)) => body,
                Ok(None) => return true,
                Err(e) => return self.bad_frame(&e),
            };
            let (id, reply) = match decode_reply(body) {
                Ok(decoded) => decoded,
                Err(e) => return self.bad_frame(&e),
            };
            self.timeouts_in_a_row.store(0, Ordering::Relaxed);
            let caller = self.pending.lock().waiting.remove(&id);
            match caller {
                Some(caller) => {
                    self.stats.bump(Counter::ReplyReceived);
                    if caller.send(reply).is_err() {
                        tracing::trace!(id, "reply arrived as its caller gave up");
                    }
                }
                None => {
                    tracing::debug!(node_id = %self.node_id, id, "reply to no pending request (timed out)")
                }
            }
        }
    }

    fn bad_frame(&self, error: &dyn std::fmt::Display) -> bool {
        self.stats.bump(Counter::BadFrame);
        tracing::warn!(node_id = %self.node_id, "bad reply frame from peer, closing: {error}");
        false
    }
}
