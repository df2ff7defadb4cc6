//! The peer server: accepts peers' connections, runs the handshake, and
//! hands each request to the [`PeerService`] in arrival order.
//!
//! One task per connection reads frames, hands every complete one to the
//! service and appends the replies to one buffer, written with one call once
//! the frames already read are handled: no channel or task hand-off per
//! request. A request the service answers later (it waits for other nodes)
//! stays in flight while the connection goes on with the next ones.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::codec::{PeerReply, PeerRequest, decode_request, encode_reply_into};
use super::config::PeerConfig;
use super::error::PeerError;
use super::framed::FrameReader;
use super::handshake::Auth;
use super::negotiate::{self, Established};
use super::stats::{Counter, Direction, PeerStats};
use super::wire::DecodeError;

/// Requests a connection may have waiting for a later answer; reading
/// pauses at this many until some finish.
const MAX_LATER: usize = 1024;
/// Write the replies gathered so far once they reach this size.
const WRITE_HIGH_WATER: usize = 256 * 1024;

/// A reply the service produces later (see [`Handled::Later`]).
pub type LaterReply<'a> = Pin<Box<dyn Future<Output = PeerReply> + Send + 'a>>;

/// What a [`PeerService`] made of one request.
pub enum Handled<'a> {
    /// Answered at once: the common case (a command run against the store).
    Now(PeerReply),
    /// Answered when the future completes, e.g. after other nodes replied.
    /// The connection keeps serving the requests behind it meanwhile.
    Later(LaterReply<'a>),
}

/// What a node does with requests from its peers; implemented by the layer
/// above (the router).
pub trait PeerService: Send + Sync + 'static {
    /// Handles one request from `from_node` (its handshaken node id).
    /// Called for every request received, in arrival order per connection,
    /// so what a request does before it returns (a command run against the
    /// store) happens in the order the sender sent them.
    fn handle<'a>(&'a self, from_node: &'a str, request: PeerRequest) -> Handled<'a>;
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

struct IncomingConnection<S> {
    addr: SocketAddr,
    service: Arc<S>,
    config: Arc<PeerConfig>,
    auth: Arc<Auth>,
    stats: Arc<PeerStats>,
    stop: CancellationToken,
}

/// Requests of one connection waiting for their later reply, by request id.
type InFlight<'a> = FuturesUnordered<Pin<Box<dyn Future<Output = (u64, PeerReply)> + Send + 'a>>>;

impl<S: PeerService> IncomingConnection<S> {
    /// Runs one connection: handshake, then requests until either side stops.
    async fn run(self, mut stream: TcpStream) {
        let Some(Established { node_id: from, mut reader }) = self.handshake(&mut stream).await else {
            return;
        };
        reader.set_max(self.config.max_frame_bytes);
        self.stats.bump(Counter::ConnectionAccepted);
        let _open = self.stats.open(Direction::Incoming);
        tracing::debug!(addr = %self.addr, from = %from, "peer connected");
        if let Err(reason) = self.serve(&from, &mut stream, reader).await {
            tracing::debug!(from = %from, "peer connection ends: {reason}");
        }
        tracing::debug!(from = %from, "peer connection closed");
    }

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

    /// Reads, handles and answers requests until the peer closes, sends
    /// something unreadable, stops reading replies, or the node stops.
    async fn serve(&self, from: &str, stream: &mut TcpStream, mut reader: FrameReader) -> Result<(), String> {
        let mut out = BytesMut::new();
        let mut later: InFlight<'_> = FuturesUnordered::new();
        // Created once: a fresh cancellation future per wait would register
        // with the token (and take its lock) every time.
        let stop = self.stop.cancelled();
        tokio::pin!(stop);
        loop {
            let mut close = false;
            // Whether complete frames may still wait in the buffer.
            let mut buffered = true;
            while later.len() < MAX_LATER && out.len() < WRITE_HIGH_WATER {
                let body = match reader.try_next() {
                    Ok(Some(body)) => body,
                    Ok(None) => {
                        buffered = false;
                        break;
                    }
                    Err(too_large) => {
                        self.bad_frame(from, &too_large, "closing");
                        return Err(too_large.to_string());
                    }
                };
                match self.serve_frame(from, body, &mut out, &mut later) {
                    Ok(()) => {}
                    Err(reason) => {
                        close = true;
                        tracing::debug!(from, "{reason}");
                        break;
                    }
                }
            }
            if !out.is_empty() {
                self.write(stream, &mut out).await?;
            }
            if close {
                return Ok(());
            }
            let reading = later.len() < MAX_LATER;
            if buffered && reading {
                // Stopped at the write threshold: serve the rest first.
                continue;
            }
            tokio::select! {
                biased;
                _ = &mut stop => return Ok(()),
                Some((id, reply)) = later.next(), if !later.is_empty() => {
                    self.encode(id, &reply, &mut out);
                }
                read = reader.fill(stream), if reading => match read {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("read failed: {e}")),
                },
            }
        }
    }

    /// Decodes one request frame and answers it now or later. `Err` when
    /// the connection must close after what is already answered.
    fn serve_frame<'a>(
        &'a self,
        from: &'a str,
        body: Bytes,
        out: &mut BytesMut,
        later: &mut InFlight<'a>,
    ) -> Result<(), String> {
        let frame = match decode_request(body) {
            Ok(frame) => frame,
            Err(e) => {
                self.stats.bump(Counter::RequestReceived);
                self.bad_frame(from, &e, "closing");
                return Err(format!("unreadable request header: {e}"));
            }
        };
        self.stats.bump(Counter::RequestReceived);
        let id = frame.id;
        match frame.request {
            Ok(request) => match self.service.handle(from, request) {
                Handled::Now(reply) => self.encode(id, &reply, out),
                Handled::Later(reply) => later.push(Box::pin(async move { (id, reply.await) })),
            },
            Err(e @ DecodeError::UnknownKind(_)) => {
                self.bad_frame(from, &e, "answering with an error");
                self.encode(id, &PeerReply::Error(e.to_string()), out);
            }
            Err(e) => {
                self.bad_frame(from, &e, "answering with an error and closing");
                self.encode(id, &PeerReply::Error(format!("undecodable peer request: {e}")), out);
                return Err(format!("undecodable request: {e}"));
            }
        }
        Ok(())
    }

    /// Appends the reply to request `id` to `out`; a reply over the frame
    /// limit becomes an error reply.
    fn encode(&self, id: u64, reply: &PeerReply, out: &mut BytesMut) {
        let max = self.config.max_frame_bytes;
        if let Err(too_large) = encode_reply_into(id, reply, max, out) {
            tracing::warn!(id, "peer reply dropped: {too_large}");
            let error = PeerReply::Error(format!("reply too large for the peer protocol: {too_large}"));
            encode_reply_into(id, &error, max, out).expect("a short error fits in any frame limit");
        }
        self.stats.bump(Counter::ReplySent);
        self.stats.bump(Counter::FrameWritten);
    }

    /// Writes the gathered replies; a peer that does not take them within
    /// the request timeout has stopped reading, and the connection closes.
    async fn write(&self, stream: &mut TcpStream, out: &mut BytesMut) -> Result<(), String> {
        self.stats.bump(Counter::Write);
        let timeout = self.config.request_timeout;
        let written = tokio::select! {
            biased;
            written = tokio::time::timeout(timeout, stream.write_all(out)) => written,
            _ = self.stop.cancelled() => return Err("the node is stopping".into()),
        };
        match written {
            Ok(Ok(())) => {
                out.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(format!("reply write failed: {e}")),
            Err(_) => Err(format!("the peer read no reply for {timeout:?}")),
        }
    }

    fn bad_frame(&self, from: &str, error: &dyn std::fmt::Display, action: &str) {
        self.stats.bump(Counter::BadFrame);
        tracing::warn!(from, "bad request frame from peer ({action}): {error}");
    }
}
