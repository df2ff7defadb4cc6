//! Helpers shared by the integration tests: an in-process Shoal node, a
//! real `redis-server` child process, a small raw RESP client, (in
//! [`cluster`]) a cluster of in-process nodes, and (in [`load`]) a load
//! generator that checks every acknowledged write.
//!
//! Every wait has a deadline; nothing sleeps a fixed time before asserting.

#![allow(dead_code)] // Each test crate uses a different part of this module.

pub mod cluster;
pub mod load;
pub mod metrics;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use shoal::config::{Config, GossipProfile};
use shoal::node::{NodeHandle, NodeSockets};
use shoal::protocol::Frame;
use shoal::protocol::reply::parse_reply;

/// How long a test waits for a reply, a server start or a close.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port that was free a moment ago (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

// ---------------------------------------------------------------------------
// In-process Shoal node
// ---------------------------------------------------------------------------

/// A node started inside the current tokio runtime.
pub struct TestNode {
    addr: SocketAddr,
    handle: NodeHandle,
}

/// The configuration of a test node: defaults, fast gossip, metrics off.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.gossip.profile = GossipProfile::Fast;
    config.metrics.port = 0;
    config
}

/// Starts a node on free ports of 127.0.0.1 (client, peer, gossip). Call
/// from a tokio runtime; stop it with [`TestNode::shutdown`].
pub async fn start_node(config: Config) -> TestNode {
    let sockets = NodeSockets::loopback().await.expect("bind 127.0.0.1:0");
    let handle = NodeHandle::start(config, sockets, "").await.expect("start node");
    TestNode { addr: handle.addr(), handle }
}

/// Like [`start_node`], with the metrics endpoint on a free port too
/// ([`NodeHandle::metrics_addr`]).
pub async fn start_node_with_metrics(config: Config) -> TestNode {
    let sockets = NodeSockets::loopback_with_metrics().await.expect("bind 127.0.0.1:0");
    let handle = NodeHandle::start(config, sockets, "").await.expect("start node");
    TestNode { addr: handle.addr(), handle }
}

/// A plain HTTP/1.1 GET of `path` (the connection is closed after it):
/// the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, DEADLINE)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    Ok((status, if chunked { dechunk(body) } else { body.to_string() }))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl TestNode {
    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node itself.
    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    /// Stops the node and waits for all its tasks.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }

    /// Stops the node without telling its peers (what a crash looks like).
    pub async fn kill(self) {
        self.handle.kill().await;
    }
}

/// A node with its own runtime, for tests written with blocking sockets.
/// Dropping it shuts the node down.
pub struct BlockingNode {
    runtime: tokio::runtime::Runtime,
    node: Option<TestNode>,
}

impl BlockingNode {
    /// Starts a node with `config` on free ports.
    pub fn start(config: Config) -> BlockingNode {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let node = runtime.block_on(start_node(config));
        BlockingNode { runtime, node: Some(node) }
    }

    /// Starts a node with default settings.
    pub fn start_default() -> BlockingNode {
        BlockingNode::start(test_config())
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        self.node.as_ref().expect("running").addr()
    }

    /// Stops the node and waits for all its tasks.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            self.runtime.block_on(node.shutdown());
        }
    }
}

impl Drop for BlockingNode {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// A real redis-server
// ---------------------------------------------------------------------------

/// The message given when the reference server is missing.
pub const REDIS_MISSING: &str = "redis-server is not installed; the differential tests need Debian's \
     redis-server 7.0 as their reference: install it with `apt-get install redis-server redis-tools`";

/// A `redis-server` child process on a free port, without persistence.
/// Killed (by its PID) when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers. Panics with
    /// [`REDIS_MISSING`] when `redis-server` is not installed.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Like [`RedisServer::start`], with more `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        // The port may be taken between finding and binding it: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            match RedisServer::try_start(extra) {
                Ok(server) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn try_start(extra: &[&str]) -> Result<RedisServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{REDIS_MISSING}"),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        let mut server = RedisServer { child, port, _dir: dir };
        let ready = wait_for(DEADLINE, || {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Some(Err(format!("redis-server exited with {status} (port {port} taken?)")));
            }
            // Ask for the process id: another server may have taken the port.
            let mut conn = RespConn::connect(server.addr()).ok()?;
            let Ok(Frame::Bulk(info)) = conn.call(["INFO", "server"]) else {
                return None;
            };
            let ours = format!("process_id:{}\r\n", server.child.id());
            if String::from_utf8_lossy(&info).contains(&ours) {
                Some(Ok(()))
            } else {
                Some(Err(format!("port {port} is served by another process")))
            }
        });
        match ready {
            Some(Ok(())) => Ok(server),
            Some(Err(e)) => Err(e),
            None => Err(format!("redis-server on port {port} did not answer within {DEADLINE:?}")),
        }
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server and starts a new one on the same port (what a
    /// client sees when a server restarts). Panics if the port cannot be
    /// had again within [`DEADLINE`].
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        let dir = tempfile::tempdir().expect("temp dir");
        let restarted = wait_for(DEADLINE, || {
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run redis-server");
            let answered = wait_for(DEADLINE, || {
                if let Ok(Some(_)) = child.try_wait() {
                    return Some(false);
                }
                RespConn::connect(self.addr()).ok()?.call(["PING"]).ok().map(|_| true)
            });
            if answered == Some(true) {
                Some(child)
            } else {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        });
        self.child = restarted.expect("redis-server restarted on its port");
        self._dir = dir;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Raw RESP client
// ---------------------------------------------------------------------------

/// A blocking RESP connection that shows replies as [`Frame`]s, RESP2 or
/// RESP3 alike (whatever the server sends after `HELLO`).
pub struct RespConn {
    stream: TcpStream,
    input: BytesMut,
}

impl RespConn {
    /// Connects, with [`DEADLINE`] as the connect timeout.
    pub fn connect(addr: SocketAddr) -> std::io::Result<RespConn> {
        let stream = TcpStream::connect_timeout(&addr, DEADLINE)?;
        stream.set_nodelay(true)?;
        Ok(RespConn { stream, input: BytesMut::new() })
    }

    /// Sends a command as a multibulk request.
    pub fn send<I, A>(&mut self, args: I) -> std::io::Result<()>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let args: Vec<A> = args.into_iter().collect();
        self.send_raw(&shoal::cli::encode_command(&args))
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a command and reads its reply.
    pub fn call<I, A>(&mut self, args: I) -> std::io::Result<Frame>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.send(args)?;
        self.read_reply()
    }

    /// Reads one reply, waiting at most [`DEADLINE`].
    pub fn read_reply(&mut self) -> std::io::Result<Frame> {
        self.read_reply_within(DEADLINE)
    }

    /// Reads one reply, waiting at most `timeout`.
    pub fn read_reply_within(&mut self, timeout: Duration) -> std::io::Result<Frame> {
        self.read_wire_within(timeout).map(|(frame, _)| frame)
    }

    /// Sends a command and reads its reply, with the reply's exact bytes.
    pub fn call_wire<I, A>(&mut self, args: I) -> std::io::Result<(Frame, Bytes)>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.send(args)?;
        self.read_wire_within(DEADLINE)
    }

    /// Reads one reply and the bytes it was made of, waiting at most `timeout`.
    pub fn read_wire_within(&mut self, timeout: Duration) -> std::io::Result<(Frame, Bytes)> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut probe = self.input.clone();
            match parse_reply(&mut probe) {
                Ok(Some(frame)) => {
                    let used = self.input.len() - probe.len();
                    return Ok((frame, self.input.split_to(used).freeze()));
                }
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            }
            if self.fill(deadline)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before a whole reply",
                ));
            }
        }
    }

    /// Waits until the server closes the connection; anything it sends
    /// first stays in [`RespConn::pending`]. True if it closed within
    /// `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
                // A reset is a close too.
                Err(_) => return true,
            }
        }
    }

    /// Bytes received but not yet parsed as a reply.
    pub fn pending(&self) -> &[u8] {
        &self.input
    }

    /// Reads once into the buffer; 0 means end of stream.
    fn fill(&mut self, deadline: Instant) -> std::io::Result<usize> {
        let now = Instant::now();
        if now >= deadline {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply before the deadline"));
        }
        self.stream.set_read_timeout(Some(deadline - now))?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.input.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply before the deadline"))
            }
            Err(e) => Err(e),
        }
    }
}

/// A bulk string frame, for assertions.
pub fn bulk(text: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// A simple string frame, for assertions.
pub fn simple(text: &str) -> Frame {
    Frame::Simple(text.to_string())
}

/// An error frame, for assertions.
pub fn error(text: &str) -> Frame {
    Frame::Error(text.to_string())
}
