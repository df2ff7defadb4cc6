//! Running commands in unit tests: one store, one server and one
//! authenticated client, with requests going through the dispatcher (so
//! arity and lookup are exercised too).

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{ClientState, Ctx, ServerState, Settings, execute};
use crate::protocol::Frame;
use crate::store::Store;

/// A store with one connected client.
pub struct TestClient {
    /// The keyspace commands run against.
    pub store: Store,
    /// The node's shared state.
    pub server: ServerState,
    client: ClientState,
}

impl TestClient {
    /// An empty store and a fresh, authenticated client.
    pub fn new() -> TestClient {
        let server = ServerState::new(Settings::default(), CancellationToken::new());
        let addr = "127.0.0.1:50000".parse().expect("literal address");
        let laddr = "127.0.0.1:6380".parse().expect("literal address");
        let client = ClientState::new(server.register_client(addr, laddr), true);
        TestClient { store: Store::new(), server, client }
    }

    /// Runs one request given as text arguments.
    pub fn run(&mut self, args: &[&str]) -> Frame {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.run_bytes(&args)
    }

    /// Runs one request given as byte arguments.
    pub fn run_bytes(&mut self, args: &[&[u8]]) -> Frame {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut self.client };
        execute(&mut ctx, &args)
    }
}

/// An integer reply.
pub fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

/// A bulk string reply.
pub fn bulk(text: &str) -> Frame {
    Frame::bulk(text)
}

/// An error reply with the exact text `text`.
pub fn err(text: &str) -> Frame {
    Frame::Error(text.to_string())
}

/// The simple-string reply `+OK`.
pub fn ok() -> Frame {
    Frame::ok()
}

/// The bulk strings of an array reply, sorted (for replies in no defined
/// order, such as `KEYS`).
pub fn sorted_bulks(frame: &Frame) -> Vec<String> {
    let Frame::Array(items) = frame else { panic!("not an array: {frame:?}") };
    let mut out: Vec<String> = items
        .iter()
        .map(|f| match f {
            Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not a bulk string: {other:?}"),
        })
        .collect();
    out.sort();
    out
}
