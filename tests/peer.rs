//! The peer protocol on loopback: round trips, multiplexing, handshake
//! refusals, dead and silent peers, reconnects and garbage.
//!
//! Every listener binds 127.0.0.1:0 and is passed in. Waits poll a
//! condition until a deadline; elapsed-time checks use generous bounds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use shoal::peer::{
    Handled, PeerConfig, PeerError, PeerPool, PeerReply, PeerRequest, PeerService, PeerStats,
    PeerStatsSnapshot, RefusalReason, RequestBody, serve,
};
use shoal::protocol::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Upper bound for any wait; far above what each step needs.
const DEADLINE: Duration = Duration::from_secs(10);
const SERVER_ID: &str = "server-1";

/// Answers `hang` never, `wrong` with wrong owner, `fail` with an error, and
/// anything else with `[from, view id, forwarded, args...]`. Records the
/// second argument of every request in arrival order.
#[derive(Default)]
struct EchoService {
    arrivals: Mutex<Vec<Bytes>>,
}

impl PeerService for EchoService {
    fn handle<'a>(&'a self, from_node: &'a str, request: PeerRequest) -> Handled<'a> {
        let RequestBody::Command { args } = request.body;
        if let Some(arg) = args.get(1) {
            self.arrivals.lock().push(arg.clone());
        }
        let reply = match &args[0][..] {
            b"hang" => return Handled::Later(Box::pin(std::future::pending())),
            b"wrong" => PeerReply::WrongOwner { view_id: 77 },
            b"fail" => PeerReply::Error("it failed".into()),
            _ => {
                let mut items = vec![
                    Frame::bulk(from_node),
                    Frame::Integer(request.view_id as i64),
                    Frame::Boolean(request.forwarded),
                ];
                items.extend(args.into_iter().map(Frame::Bulk));
                PeerReply::Frame(Frame::Array(items))
            }
        };
        Handled::Now(reply)
    }
}

fn config(node_id: &str) -> PeerConfig {
    let mut config = PeerConfig::new(node_id);
    config.connect_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(5);
    config.reconnect_backoff_min = Duration::from_millis(20);
    config.reconnect_backoff_max = Duration::from_millis(200);
    config.validate().unwrap();
    config
}

struct Server {
    addr: SocketAddr,
    service: Arc<EchoService>,
    stats: Arc<PeerStats>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Server {
    async fn start(config: PeerConfig) -> Server {
        Server::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), config)
    }

    fn start_on(listener: TcpListener, config: PeerConfig) -> Server {
        let addr = listener.local_addr().unwrap();
        let service = Arc::new(EchoService::default());
        let stats = Arc::new(PeerStats::default());
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(serve(
            listener,
            service.clone(),
            Arc::new(config),
            shutdown.clone(),
            tracker.clone(),
            stats.clone(),
        ));
        Server { addr, service, stats, shutdown, tracker }
    }

    fn stats(&self) -> PeerStatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops accepting and closes every connection; returns once all of the
    /// server's tasks ended (so its port is free).
    async fn stop(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(DEADLINE, self.tracker.wait()).await.expect("server tasks end");
    }
}

struct Client {
    pool: PeerPool,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Client {
    fn new(config: PeerConfig) -> Client {
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let pool = PeerPool::new(Arc::new(config), shutdown.clone(), tracker.clone());
        Client { pool, shutdown, tracker }
    }

    async fn send(&self, addr: SocketAddr, args: &[&str]) -> Result<PeerReply, PeerError> {
        self.pool.request(SERVER_ID, addr, &command(args)).await
    }

    async fn stop(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(DEADLINE, self.tracker.wait()).await.expect("client tasks end");
    }
}

fn command(args: &[&str]) -> PeerRequest {
    PeerRequest::command(5, true, args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect())
}

fn echoed(from: &str, args: &[&str]) -> PeerReply {
    let mut items = vec![Frame::bulk(from), Frame::Integer(5), Frame::Boolean(true)];
    items.extend(args.iter().map(Frame::bulk));
    PeerReply::Frame(Frame::Array(items))
}

/// Polls `check` every 10 ms until it holds; panics after [`DEADLINE`].
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads until the server closes the connection (end of stream or reset)
/// and returns what it sent.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(DEADLINE, stream.read(&mut chunk)).await.expect("server closes") {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

fn handshake_reason(result: Result<PeerReply, PeerError>) -> (RefusalReason, bool) {
    match result {
        Err(PeerError::Handshake(error)) => (error.reason, error.by_peer),
        other => panic!("expected a handshake error, got {other:?}"),
    }
}

#[tokio::test]
async fn request_and_reply_round_trip() {
    let server = Server::start(config(SERVER_ID)).await;
    let client = Client::new(config("client-1"));
    for args in [&["GET", "key"][..], &["SET", "k", "v\r\n\0"], &["PING"]] {
        assert_eq!(client.send(server.addr, args).await.unwrap(), echoed("client-1", args));
    }
    assert_eq!(
        client.send(server.addr, &["wrong", "k"]).await.unwrap(),
        PeerReply::WrongOwner { view_id: 77 }
    );
    assert_eq!(client.send(server.addr, &["fail"]).await.unwrap(), PeerReply::Error("it failed".into()));

    let sent = client.pool.stats();
    assert_eq!((sent.connections_opened, sent.requests_sent, sent.replies_received), (1, 5, 5));
    assert_eq!(sent.open_outgoing, 1);
    let received = server.stats();
    assert_eq!((received.connections_accepted, received.requests_received, received.replies_sent), (1, 5, 5));
    assert_eq!(received.bad_frames + received.handshake_failures, 0);
    client.stop().await;
    server.stop().await;
    assert_eq!(client.pool.stats().open_outgoing, 0);
    assert_eq!(server.stats().open_incoming, 0);
}

#[tokio::test]
async fn a_thousand_concurrent_requests_share_one_connection_in_order() {
    const N: usize = 1000;
    let server = Server::start(config(SERVER_ID)).await;
    let client = Client::new(config("client-1"));
    client.send(server.addr, &["PING", "warm-up"]).await.unwrap();
    server.service.arrivals.lock().clear();

    // On this single-threaded runtime the tasks first run in spawn order,
    // so the requests are queued on the connection in that order.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let pool = client.pool.clone();
        let addr = server.addr;
        tasks.spawn(async move {
            let index = i.to_string();
            let reply = pool.request(SERVER_ID, addr, &command(&["ECHO", &index])).await;
            (index, reply)
        });
    }
    let mut answered = 0;
    while let Some(joined) = tasks.join_next().await {
        let (index, reply) = joined.unwrap();
        assert_eq!(reply.unwrap(), echoed("client-1", &["ECHO", &index]), "request {index}");
        answered += 1;
    }
    assert_eq!(answered, N);

    let arrivals = server.service.arrivals.lock().clone();
    let expected: Vec<Bytes> = (0..N).map(|i| Bytes::from(i.to_string())).collect();
    assert_eq!(arrivals, expected, "requests handled in the order they were sent");
    let sent = client.pool.stats();
    assert_eq!(sent.connections_opened, 1);
    assert_eq!(sent.replies_received, N as u64 + 1);
    assert!(sent.writes < sent.frames_written / 10, "requests batched: {sent:?}");
    let received = server.stats();
    assert!(received.writes < received.frames_written, "replies batched: {received:?}");
    client.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_counted() {
    let mut server_config = config(SERVER_ID);
    server_config.secret = Some(b"right".to_vec());
    let server = Server::start(server_config.clone()).await;

    let mut wrong = config("client-1");
    wrong.secret = Some(b"wrong".to_vec());
    let client = Client::new(wrong);
    // The client checks the server's proof first and refuses it.
    assert_eq!(handshake_reason(client.send(server.addr, &["PING"]).await), (RefusalReason::BadMac, false));
    assert_eq!(client.pool.stats().handshake_failures, 1);
    eventually("the server to count the refusal", || server.stats().handshake_failures == 1).await;
    // While backing off, the same error comes back at once.
    assert_eq!(handshake_reason(client.send(server.addr, &["PING"]).await), (RefusalReason::BadMac, false));

    let no_secret = Client::new(config("client-2"));
    let (reason, _) = handshake_reason(no_secret.send(server.addr, &["PING"]).await);
    assert_eq!(reason, RefusalReason::SecretMismatch);
    eventually("the server to count it", || server.stats().handshake_failures == 2).await;

    let mut right = config("client-3");
    right.secret = Some(b"right".to_vec());
    let good = Client::new(right);
    assert_eq!(good.send(server.addr, &["PING"]).await.unwrap(), echoed("client-3", &["PING"]));
    assert_eq!(server.stats().connections_accepted, 1);
    for client in [client, no_secret, good] {
        client.stop().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_secret_on_the_client_only_is_refused() {
    let server = Server::start(config(SERVER_ID)).await;
    let mut keyed = config("client-1");
    keyed.secret = Some(b"secret".to_vec());
    let client = Client::new(keyed);
    assert_eq!(
        handshake_reason(client.send(server.addr, &["PING"]).await),
        (RefusalReason::SecretMismatch, false)
    );
    eventually("the server to count the refusal", || server.stats().handshake_failures == 1).await;
    client.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_cluster_name_or_node_id_is_refused_and_counted() {
    let server = Server::start(config(SERVER_ID)).await;
    let mut other_cluster = config("client-1");
    other_cluster.cluster_name = "other".into();
    let client = Client::new(other_cluster);
    assert_eq!(
        handshake_reason(client.send(server.addr, &["PING"]).await),
        (RefusalReason::WrongCluster, true)
    );
    assert_eq!(server.stats().handshake_failures, 1);
    assert_eq!(client.pool.stats().handshake_failures, 1);

    let same_cluster = Client::new(config("client-2"));
    let reply = same_cluster.pool.request("someone-else", server.addr, &command(&["PING"])).await;
    assert_eq!(handshake_reason(reply), (RefusalReason::WrongNode, false));
    eventually("the server to count it", || server.stats().handshake_failures == 2).await;
    assert_eq!(server.stats().connections_accepted, 0);
    client.stop().await;
    same_cluster.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_stopped_server_fails_fast_and_a_new_one_is_reconnected() {
    let server = Server::start(config(SERVER_ID)).await;
    let addr = server.addr;
    let client = Client::new(config("client-1"));
    client.send(addr, &["PING"]).await.unwrap();

    // A request in flight when the server goes away fails with Closed.
    let pending = {
        let pool = client.pool.clone();
        tokio::spawn(async move { pool.request(SERVER_ID, addr, &command(&["hang", "x"])).await })
    };
    eventually("the request to arrive", || server.stats().requests_received == 2).await;
    let started = Instant::now();
    server.stop().await;
    let outcome = tokio::time::timeout(DEADLINE, pending).await.expect("fails fast").unwrap();
    assert!(matches!(outcome, Err(PeerError::Closed)), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(client.pool.stats().failed_in_flight, 1);

    // Nobody listens: fail at once, then back off.
    let started = Instant::now();
    for _ in 0..3 {
        let outcome = client.send(addr, &["PING"]).await;
        assert!(matches!(outcome, Err(PeerError::ConnectFailed(_))), "{outcome:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(1), "no waiting while the peer is down");
    assert!(client.pool.stats().connect_failures >= 1);

    // A new server on the same port is found again.
    let restarted = Server::start_on(TcpListener::bind(addr).await.unwrap(), config(SERVER_ID));
    let mut reply = client.send(addr, &["PING"]).await;
    let deadline = Instant::now() + DEADLINE;
    while reply.is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        reply = client.send(addr, &["PING"]).await;
    }
    assert_eq!(reply.unwrap(), echoed("client-1", &["PING"]));
    let stats = client.pool.stats();
    assert_eq!((stats.connections_opened, stats.reconnects), (2, 1));
    client.stop().await;
    restarted.stop().await;
}

#[tokio::test]
async fn a_peer_that_never_answers_times_out_then_the_connection_closes() {
    let server = Server::start(config(SERVER_ID)).await;
    let mut client_config = config("client-1");
    client_config.request_timeout = Duration::from_millis(300);
    client_config.timeouts_before_close = 2;
    let client = Client::new(client_config);
    client.send(server.addr, &["PING"]).await.unwrap();

    let started = Instant::now();
    let outcome = client.send(server.addr, &["hang"]).await;
    assert!(matches!(outcome, Err(PeerError::Timeout)), "{outcome:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(client.pool.stats().timeouts, 1);

    // A request answered later does not hold up the ones behind it, and
    // an answer resets the count of timeouts in a row.
    assert_eq!(client.send(server.addr, &["PING"]).await.unwrap(), echoed("client-1", &["PING"]));
    for _ in 0..2 {
        let outcome = client.send(server.addr, &["hang"]).await;
        assert!(matches!(outcome, Err(PeerError::Timeout)), "{outcome:?}");
    }
    let stats = client.pool.stats();
    assert_eq!((stats.timeouts, stats.closed_by_timeouts), (3, 1), "two in a row close the connection");
    eventually("the connection to close", || client.pool.stats().open_outgoing == 0).await;
    eventually("the server to see it", || server.stats().open_incoming == 0).await;

    // The next request opens a fresh connection and is answered.
    assert_eq!(client.send(server.addr, &["PING"]).await.unwrap(), echoed("client-1", &["PING"]));
    assert_eq!(client.pool.stats().reconnects, 1);
    client.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_listener_that_never_speaks_fails_the_connect_in_time() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut client_config = config("client-1");
    client_config.connect_timeout = Duration::from_millis(300);
    let client = Client::new(client_config);
    let started = Instant::now();
    let outcome = client.send(addr, &["PING"]).await;
    assert!(matches!(outcome, Err(PeerError::ConnectFailed(_))), "{outcome:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    client.stop().await;
    accepting.abort();
}

#[tokio::test]
async fn garbage_and_silent_clients_do_not_hurt_the_server() {
    let mut server_config = config(SERVER_ID);
    server_config.connect_timeout = Duration::from_millis(300);
    let server = Server::start(server_config).await;

    // Another protocol: closed without a word.
    let mut garbage = TcpStream::connect(server.addr).await.unwrap();
    garbage.write_all(b"*1\r\n$4\r\nPING\r\n GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(closed_by_server(&mut garbage).await.is_empty(), "no answer to another protocol");

    // The right magic, then an absurd frame length: refused, closed.
    let mut oversized = TcpStream::connect(server.addr).await.unwrap();
    oversized.write_all(b"SHOALP\x00\x01\xff\xff\xff\xff").await.unwrap();
    let answer = closed_by_server(&mut oversized).await;
    assert!(answer.starts_with(b"SHOALP\x00\x01"), "preamble then a refusal: {answer:?}");

    // Random bytes of every length.
    for len in [1, 7, 8, 9, 64, 4096] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        if stream.write_all(&bytes).await.is_ok() {
            closed_by_server(&mut stream).await;
        }
    }

    // Connected and silent: dropped after the handshake timeout.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    closed_by_server(&mut silent).await;

    eventually("every failure counted", || server.stats().handshake_failures == 9).await;
    let client = Client::new(config("client-1"));
    assert_eq!(client.send(server.addr, &["PING"]).await.unwrap(), echoed("client-1", &["PING"]));
    client.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_request_is_not_sent() {
    let server = Server::start(config(SERVER_ID)).await;
    let mut small = config("client-1");
    small.max_frame_bytes = 4096;
    let client = Client::new(small);
    let big = "x".repeat(5000);
    let outcome = client.send(server.addr, &["SET", "k", &big]).await;
    assert!(matches!(outcome, Err(PeerError::FrameTooLarge { max: 4096, .. })), "{outcome:?}");
    assert!(outcome.unwrap_err().not_sent());
    assert_eq!(client.send(server.addr, &["PING"]).await.unwrap(), echoed("client-1", &["PING"]));
    assert_eq!(server.stats().requests_received, 1);
    client.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn forget_fails_requests_in_flight_at_once() {
    let server = Server::start(config(SERVER_ID)).await;
    let client = Client::new(config("client-1"));
    client.send(server.addr, &["PING"]).await.unwrap();
    let pending = {
        let pool = client.pool.clone();
        let addr = server.addr;
        tokio::spawn(async move { pool.request(SERVER_ID, addr, &command(&["hang"])).await })
    };
    eventually("the request to arrive", || server.stats().requests_received == 2).await;
    client.pool.forget(SERVER_ID);
    let outcome =
        tokio::time::timeout(Duration::from_secs(2), pending).await.expect("fails at once").unwrap();
    assert!(matches!(outcome, Err(PeerError::Closed)), "{outcome:?}");
    assert_eq!(client.send(server.addr, &["PING"]).await.unwrap(), echoed("client-1", &["PING"]));
    client.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_fails_new_requests() {
    let server = Server::start(config(SERVER_ID)).await;
    let client = Client::new(config("client-1"));
    client.send(server.addr, &["PING"]).await.unwrap();
    client.stop().await;
    assert!(matches!(client.send(server.addr, &["PING"]).await, Err(PeerError::ShuttingDown)));
    server.stop().await;
}
