//! The peer server: accepts peers' connections, runs the handshake, and
//! hands each request to the [`PeerService`] in arrival order.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::codec::{PeerReply, PeerRequest, RequestFrame, decode_request, encode_reply};
use super::config::PeerConfig;
use super::error::PeerError;
use super::framed::{FrameReader, ReadError, write_frames};
use super::handshake::Auth;
use super::negotiate::{self, Established};
use super::stats::{Counter, Direction, PeerStats};
use super::wire::DecodeError;

/// Requests read ahead of their handling, per connection.
const READ_AHEAD: usize = 128;
/// Replies queued for a connection's writer before handling waits.
const REPLY_QUEUE: usize = 1024;

/// What a node does with requests from its peers; implemented by the layer
/// above (the router).
pub trait PeerService: Send + Sync + 'static {
    /// Handles one request from `from_node` (its handshaken node id).
    /// Called for every request received, in arrival order per connection:
    /// the next request of a connection waits until this one's reply is
    /// produced, so one client's pipelined commands stay ordered.
    fn handle(&self, from_node: &str, request: PeerRequest) -> impl Future<Output = PeerReply> + Send;
}

/// Serves peers on `listener` until `shutdown` is cancelled. Each
/// connection runs in a task on `tracker`; the handshake must finish within
/// `connect_timeout`. Bad input from a peer is logged and counted in
/// `stats`, and never stops the loop. `config` must pass
/// [`PeerConfig::validate`].
pub async fn serve<S: PeerService>(
    listener: TcpListener,
    service: Arc<S>,
    config: Arc<PeerConfig>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    stats: Arc<PeerStats>,
) {
    let auth = Arc::new(Auth::new(config.secret.as_deref()));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => return,
        };
        let (stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!("peer accept failed: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = shutdown.cancelled() => return,
                }
                continue;
            }
        };
        let connection = IncomingConnection {
            addr,
            service: service.clone(),
            config: config.clone(),
            auth: auth.clone(),
            stats: stats.clone(),
            stop: shutdown.child_token(),
        };
        tracker.spawn(connection.run(stream).in_current_span());
    }
}

/// One accepted connection.
struct IncomingConnection<S> {
    addr: SocketAddr,
    service: Arc<S>,
    config: Arc<PeerConfig>,
    auth: Arc<Auth>,
    stats: Arc<PeerStats>,
    /// Cancelled on shutdown or when either half fails.
    stop: CancellationToken,
}

impl<S: PeerService> IncomingConnection<S> {
    async fn run(self, mut stream: TcpStream) {
        let Some(Established { node_id: from, mut reader }) = self.handshake(&mut stream).await else {
            return;
        };
        reader.set_max(self.config.max_frame_bytes);
        self.stats.bump(Counter::ConnectionAccepted);
        let _open = self.stats.open(Direction::Incoming);
        tracing::debug!(addr = %self.addr, from = %from, "peer connected");

        let (mut read_half, mut write_half) = stream.into_split();
        let (requests, queued_requests) = mpsc::channel(READ_AHEAD);
        let (replies, mut queued_replies) = mpsc::channel(REPLY_QUEUE);
        let writer = async {
            let written = write_frames(
                &mut write_half,
                &mut queued_replies,
                &self.stop,
                self.config.request_timeout,
                &self.stats,
            )
            .await;
            if let Err(e) = written {
                tracing::debug!(from = %from, "peer reply write failed: {e}");
                self.stop.cancel();
            }
        };
        tokio::join!(
            self.read_requests(&from, &mut read_half, reader, requests),
            self.answer_requests(&from, queued_requests, replies),
            writer,
        );
        tracing::debug!(from = %from, "peer connection closed");
    }

    /// Runs the server side of the handshake within `connect_timeout`;
    /// `None` (counted and logged) when it fails or the node shuts down.
    async fn handshake(&self, stream: &mut TcpStream) -> Option<Established> {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(addr = %self.addr, "set_nodelay failed: {e}");
        }
        let timeout = self.config.connect_timeout;
        let handshake =
            tokio::time::timeout(timeout, negotiate::server_side(stream, &self.config, &self.auth));
        let error = tokio::select! {
            _ = self.stop.cancelled() => return None,
            established = handshake => match established {
                Ok(Ok(established)) => return Some(established),
                Ok(Err(error)) => error,
                Err(_) => PeerError::ConnectFailed(format!("no handshake within {timeout:?}")),
            },
        };
        self.stats.bump(Counter::HandshakeFailure);
        match error {
            PeerError::Handshake(refused) => {
                tracing::warn!(addr = %self.addr, "peer handshake failed: {refused}")
            }
            other => tracing::debug!(addr = %self.addr, "peer handshake failed: {other}"),
        }
        None
    }

    /// Reads and decodes requests ahead of their handling, so a peer that
    /// goes away is noticed even while a request is being handled. A closed
    /// or failing stream, an oversized frame or an unreadable header stop
    /// the whole connection (whatever is being handled is dropped: nobody
    /// would get its reply). A request whose body is unreadable is passed
    /// on to be answered with an error, and reading stops after it.
    async fn read_requests(
        &self,
        from: &str,
        stream: &mut OwnedReadHalf,
        mut reader: FrameReader,
        requests: mpsc::Sender<RequestFrame>,
    ) {
        loop {
            let body = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return,
                body = reader.next(stream) => body,
            };
            let frame = match body {
                Ok(Some(body)) => decode_request(body),
                Ok(None) => return self.stop.cancel(),
                Err(ReadError::Io(e)) => {
                    tracing::debug!(from, "peer read failed: {e}");
                    return self.stop.cancel();
                }
                Err(ReadError::TooLarge(e)) => {
                    self.bad_frame(from, &e, "closing");
                    return self.stop.cancel();
                }
            };
            self.stats.bump(Counter::RequestReceived);
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    self.bad_frame(from, &e, "closing");
                    return self.stop.cancel();
                }
            };
            let last = matches!(&frame.request, Err(e) if !matches!(e, DecodeError::UnknownKind(_)));
            tokio::select! {
                _ = self.stop.cancelled() => return,
                queued = requests.send(frame) => if queued.is_err() { return },
            }
            if last {
                return;
            }
        }
    }

    /// Has each request handled, in arrival order, and queues its reply.
    /// Returns when the reader stops and everything it queued is answered;
    /// dropping `replies` then lets the writer finish and end.
    async fn answer_requests(
        &self,
        from: &str,
        mut requests: mpsc::Receiver<RequestFrame>,
        replies: mpsc::Sender<Bytes>,
    ) {
        loop {
            let frame = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return,
                frame = requests.recv() => match frame {
                    Some(frame) => frame,
                    None => return,
                },
            };
            let reply = match frame.request {
                Ok(request) => tokio::select! {
                    _ = self.stop.cancelled() => return,
                    reply = self.service.handle(from, request) => reply,
                },
                Err(e @ DecodeError::UnknownKind(_)) => {
                    self.bad_frame(from, &e, "answering with an error");
                    PeerReply::Error(e.to_string())
                }
                Err(e) => {
                    self.bad_frame(from, &e, "answering with an error and closing");
                    PeerReply::Error(format!("undecodable peer request: {e}"))
                }
            };
            let encoded = self.encode(frame.id, &reply);
            tokio::select! {
                _ = self.stop.cancelled() => return,
                sent = replies.send(encoded) => if sent.is_err() { return },
            }
            self.stats.bump(Counter::ReplySent);
        }
    }

    /// The reply frame; a reply too large for the frame limit becomes an
    /// error reply, so the connection stays usable.
    fn encode(&self, id: u64, reply: &PeerReply) -> Bytes {
        let max = self.config.max_frame_bytes;
        encode_reply(id, reply, max).unwrap_or_else(|too_large| {
            tracing::warn!(id, "peer reply dropped: {too_large}");
            let error = PeerReply::Error(format!("reply too large for the peer protocol: {too_large}"));
            encode_reply(id, &error, max).expect("a short error fits in any frame limit")
        })
    }

    fn bad_frame(&self, from: &str, error: &dyn std::fmt::Display, action: &str) {
        self.stats.bump(Counter::BadFrame);
        tracing::warn!(from, "bad request frame from peer ({action}): {error}");
    }
}
