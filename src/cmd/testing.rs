//! Running commands in unit tests: one store, one server and one or more
//! authenticated clients, with requests going through the dispatcher (so
//! arity and lookup are exercised too).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{ClientState, Ctx, ServerState, Settings, execute};
use crate::protocol::Frame;
use crate::ring::{MemberState, RingMember, RingSnapshot};
use crate::store::{Store, Value};
use crate::topology::{Topology, TopologyMember};

/// A store with connected clients.
pub struct TestClient {
    /// The keyspace commands run against.
    pub store: Store,
    /// The node's shared state.
    pub server: ServerState,
    /// The connected clients in connection order: the i-th has id i+1 and
    /// address 127.0.0.1 port 5000+i, all on local address 127.0.0.1:6380.
    pub clients: Vec<ClientState>,
}

impl TestClient {
    /// An empty store and one fresh, authenticated client.
    pub fn new() -> TestClient {
        TestClient::with_clients(1)
    }

    /// An empty store and `n` fresh, authenticated clients.
    pub fn with_clients(n: u16) -> TestClient {
        let server = ServerState::new(Settings::default(), CancellationToken::new());
        let laddr = SocketAddr::from(([127, 0, 0, 1], 6380));
        let clients = (0..n)
            .map(|i| {
                let addr = SocketAddr::from(([127, 0, 0, 1], 5000 + i));
                ClientState::new(server.register_client(addr, laddr), true)
            })
            .collect();
        TestClient { store: Store::new(), server, clients }
    }

    /// One client on a node that sees `topology`.
    pub fn with_topology(topology: Topology) -> TestClient {
        let c = TestClient::new();
        c.server.topology.store(Arc::new(topology));
        c
    }

    /// One client and the value "v" stored under each of `keys`.
    pub fn with_keys<K: AsRef<str>>(keys: &[K]) -> TestClient {
        let c = TestClient::new();
        for key in keys {
            c.put(key.as_ref(), "v", 0);
        }
        c
    }

    /// Runs one request given as text arguments.
    pub fn run(&mut self, args: &[&str]) -> Frame {
        self.run_as(0, args)
    }

    /// Runs one request given as text arguments from the client at index
    /// `who`.
    pub fn run_as(&mut self, who: usize, args: &[&str]) -> Frame {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.run_bytes_as(who, &args)
    }

    /// Runs one request given as byte arguments.
    pub fn run_bytes(&mut self, args: &[&[u8]]) -> Frame {
        self.run_bytes_as(0, args)
    }

    fn run_bytes_as(&mut self, who: usize, args: &[&[u8]]) -> Frame {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut self.clients[who] };
        execute(&mut ctx, &args)
    }

    /// Runs one request whose reply is a verbatim string and returns its
    /// text.
    pub fn text(&mut self, args: &[&str]) -> String {
        verbatim(self.run(args))
    }

    /// The expiry of `key` (0 = none), `None` if it is absent.
    pub fn expires_at(&self, key: &str) -> Option<u64> {
        self.store.lock(key.as_bytes()).get(key.as_bytes()).map(|e| e.expires_at)
    }

    /// Changes the expiry of the existing `key`, bypassing commands.
    pub fn set_expiry(&self, key: &str, expires_at: u64) {
        self.store.lock(key.as_bytes()).update(key.as_bytes(), |e| e.expires_at = expires_at);
    }

    /// Stores `value` under `key` with an expiry, bypassing commands.
    pub fn put(&self, key: &str, value: &str, expires_at: u64) {
        let value = Value::Str(Bytes::copy_from_slice(value.as_bytes()));
        self.store.lock(key.as_bytes()).set(key.as_bytes(), value, expires_at);
    }
}

/// The text of a verbatim string reply.
pub fn verbatim(frame: Frame) -> String {
    match frame {
        Frame::Verbatim(text) => String::from_utf8(text.to_vec()).expect("UTF-8 reply"),
        other => panic!("not a verbatim string: {other:?}"),
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

/// A hand-built topology for command tests. `members` are `(id, state,
/// suspect)`; the one called `local` is this node. The i-th member (as
/// listed) listens on 127.0.0.1 port 7000+i for clients, 17000+i for peers
/// and 27000+i for gossip. The serving ring is built from the members with
/// `vnodes` tokens each and `replicas` replicas.
pub fn topology(
    local: &str,
    members: &[(&str, MemberState, bool)],
    vnodes: u32,
    replicas: usize,
) -> Topology {
    let addr = |port: usize| SocketAddr::from(([127, 0, 0, 1], port as u16));
    let mut list: Vec<TopologyMember> = members
        .iter()
        .enumerate()
        .map(|(i, &(id, state, suspect))| TopologyMember {
            id: id.to_string(),
            client_addr: addr(7000 + i),
            peer_addr: addr(17000 + i),
            gossip_addr: addr(27000 + i),
            metrics_port: (9000 + i) as u16,
            state,
            bump: 10 + i as u64,
            started_at: 1_700_000_000_000 + i as u64,
            suspect,
            is_local: id == local,
        })
        .collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let ring: Vec<RingMember> = list.iter().map(|m| RingMember::new(m.id.clone(), m.state)).collect();
    let serving = Arc::new(RingSnapshot::serving(&ring, vnodes, replicas));
    let target = Arc::new(RingSnapshot::target(&ring, vnodes, replicas));
    Topology::new(local.to_string(), list, serving, target)
}
