//! Bad input after a completed handshake, sent as raw frames to a running
//! server (the integration tests cannot handshake by hand).

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::codec::{decode_reply, encode_request};
use super::framed::FrameReader;
use super::handshake::Auth;
use super::negotiate::client_side;
use super::{Handled, PeerConfig, PeerReply, PeerRequest, PeerService, PeerStats, serve};
use crate::protocol::Frame;

const DEADLINE: Duration = Duration::from_secs(10);

/// Answers every request with the same value.
struct Fixed(Frame);

impl PeerService for Fixed {
    fn handle<'a>(&'a self, _from: &'a str, _request: PeerRequest) -> Handled<'a> {
        Handled::Now(PeerReply::Frame(self.0.clone()))
    }
}

struct Harness {
    stats: Arc<PeerStats>,
    stream: TcpStream,
    reader: FrameReader,
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(PeerConfig::new("server"), Frame::Simple("PONG".into())).await
    }

    /// A server answering every request with `reply`, and one connection.
    async fn start_with(config: PeerConfig, reply: Frame) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(PeerStats::default());
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let service = Arc::new(Fixed(reply));
        tracker.spawn(serve(
            listener,
            service,
            Arc::new(config),
            shutdown.clone(),
            tracker.clone(),
            stats.clone(),
        ));
        let (stream, reader) = connect(addr).await;
        Harness { stats, stream, reader, addr, shutdown, tracker }
    }

    async fn send_body(&mut self, body: &[u8]) {
        let mut frame = BytesMut::new();
        frame.put_u32(body.len() as u32);
        frame.put_slice(body);
        self.stream.write_all(&frame).await.unwrap();
    }

    async fn reply(&mut self) -> Option<(u64, PeerReply)> {
        let body = tokio::time::timeout(DEADLINE, self.reader.next(&mut self.stream)).await.expect("in time");
        body.ok().flatten().map(|body| decode_reply(body).unwrap())
    }

    async fn ping(&mut self, id: u64) -> Option<(u64, PeerReply)> {
        let frame =
            encode_request(id, &PeerRequest::command(0, false, vec![Bytes::from("PING")]), 1 << 20).unwrap();
        self.stream.write_all(&frame).await.unwrap();
        self.reply().await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(DEADLINE, self.tracker.wait()).await.unwrap();
    }
}

async fn connect(addr: std::net::SocketAddr) -> (TcpStream, FrameReader) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let established = client_side(&mut stream, &PeerConfig::new("raw"), &Auth::new(None), "server")
        .await
        .expect("handshake");
    let mut reader = established.reader;
    reader.set_max(1 << 20);
    (stream, reader)
}

fn pong(id: u64) -> Option<(u64, PeerReply)> {
    Some((id, PeerReply::Frame(Frame::Simple("PONG".into()))))
}

/// A request header of kind `kind` for request `id`.
fn header(kind: u8, id: u64, flags: u8) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_u8(kind);
    body.put_u64(id);
    body.put_u64(0);
    body.put_u8(flags);
    body
}

#[tokio::test]
async fn an_unknown_kind_is_answered_and_the_connection_kept() {
    let mut h = Harness::start().await;
    assert_eq!(h.ping(1).await, pong(1));
    let mut body = header(200, 2, 0);
    body.put_slice(b"a request from the future");
    h.send_body(&body).await;
    assert_eq!(h.reply().await, Some((2, PeerReply::Error("unknown request kind 200".into()))));
    assert_eq!(h.ping(3).await, pong(3));
    assert_eq!(h.stats.snapshot().bad_frames, 1);
    h.stop().await;
}

#[tokio::test]
async fn an_undecodable_body_is_answered_then_the_connection_closed() {
    let mut h = Harness::start().await;
    let mut body = header(1, 7, 0);
    body.put_u8(3); // three arguments announced, none present
    h.send_body(&body).await;
    let (id, reply) = h.reply().await.expect("an error reply first");
    assert_eq!(id, 7);
    assert!(matches!(reply, PeerReply::Error(text) if text.contains("truncated")));
    assert_eq!(h.reply().await, None, "then the connection closes");
    assert_eq!(h.stats.snapshot().bad_frames, 1);
    h.stop().await;
}

#[tokio::test]
async fn oversized_frames_and_short_headers_close_only_their_connection() {
    let mut h = Harness::start().await;
    h.stream.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    assert_eq!(h.reply().await, None);

    let (stream, reader) = connect(h.addr).await;
    (h.stream, h.reader) = (stream, reader);
    h.send_body(&[1, 0, 0]).await;
    assert_eq!(h.reply().await, None);
    assert_eq!(h.stats.snapshot().bad_frames, 2);

    let (stream, reader) = connect(h.addr).await;
    (h.stream, h.reader) = (stream, reader);
    assert_eq!(h.ping(1).await, pong(1));
    let stats = h.stats.snapshot();
    assert_eq!((stats.connections_accepted, stats.handshake_failures), (3, 0));
    h.stop().await;
}

#[tokio::test]
async fn replies_too_large_for_the_limit_become_errors() {
    let mut config = PeerConfig::new("server");
    config.max_frame_bytes = 4096;
    let mut h = Harness::start_with(config, Frame::Bulk(Bytes::from(vec![b'x'; 10_000]))).await;
    let (id, reply) = h.ping(4).await.unwrap();
    assert_eq!(id, 4);
    assert!(matches!(reply, PeerReply::Error(text) if text.contains("too large")));
    assert_eq!(h.ping(5).await.map(|(id, _)| id), Some(5), "connection still usable");
    h.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_others_are_served() {
    let mut config = PeerConfig::new("server");
    config.request_timeout = Duration::from_millis(200);
    let mut h = Harness::start_with(config, Frame::Bulk(Bytes::from(vec![b'x'; 64 * 1024]))).await;
    // Ask for far more than the socket buffers hold and never read.
    let frame =
        encode_request(1, &PeerRequest::command(0, false, vec![Bytes::from("GET")]), 1 << 20).unwrap();
    for _ in 0..500 {
        h.stream.write_all(&frame).await.unwrap();
    }
    let (mut other, mut other_reader) = connect(h.addr).await;
    other.write_all(&frame).await.unwrap();
    let body = tokio::time::timeout(DEADLINE, other_reader.next(&mut other)).await.unwrap().unwrap().unwrap();
    assert_eq!(decode_reply(body).unwrap().0, 1);

    let deadline = tokio::time::Instant::now() + DEADLINE;
    while h.stats.snapshot().open_incoming > 1 {
        assert!(tokio::time::Instant::now() < deadline, "the stalled connection is dropped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut sink = vec![0u8; 1 << 16];
    let mut received = 0;
    while let Ok(n @ 1..) = h.stream.read(&mut sink).await {
        received += n;
    }
    assert!(received < 500 * 64 * 1024, "the connection closed before every reply was written");
    h.stop().await;
}
