//! A store, server and client to run string commands against in tests.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::cmd::{ClientState, Ctx, ServerState, Settings, execute};
use crate::protocol::Frame;
use crate::store::{Store, Value};

/// Runs commands through the real dispatcher (arity checks included).
pub(super) struct Harness {
    pub store: Store,
    pub server: ServerState,
    client: ClientState,
}

impl Harness {
    pub fn new() -> Harness {
        let server = ServerState::new(Settings::default(), CancellationToken::new());
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("address");
        let client = ClientState::new(server.register_client(addr, addr), true);
        Harness { store: Store::new(), server, client }
    }

    /// Runs one command given as words.
    pub fn run(&mut self, words: &[&str]) -> Frame {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.run_bytes(&args)
    }

    /// Runs one command given as binary arguments.
    pub fn run_bytes(&mut self, words: &[&[u8]]) -> Frame {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
        let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut self.client };
        execute(&mut ctx, &args)
    }

    /// The expiry of `key` (0 = none), `None` if it is absent.
    pub fn expires_at(&self, key: &str) -> Option<u64> {
        self.store.lock(key.as_bytes()).get(key.as_bytes()).map(|e| e.expires_at)
    }

    /// Stores `value` under `key` with an expiry, bypassing commands.
    pub fn put(&self, key: &str, value: &str, expires_at: u64) {
        let value = Value::Str(Bytes::copy_from_slice(value.as_bytes()));
        self.store.lock(key.as_bytes()).set(key.as_bytes(), value, expires_at);
    }
}

/// A bulk reply.
pub(super) fn bulk(text: &str) -> Frame {
    Frame::bulk(text)
}

/// An error reply.
pub(super) fn err(text: &str) -> Frame {
    Frame::Error(text.to_string())
}

/// `+OK`.
pub(super) fn ok() -> Frame {
    Frame::ok()
}
