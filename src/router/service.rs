//! The peer side of forwarding: requests that other nodes send here.

use std::sync::Arc;

use crate::cmd::{self, ClientShared, ClientState, Ctx, ServerState};
use bytes::Bytes;

use crate::cmd::transaction::Watched;
use crate::peer::{Handled, PeerReply, PeerRequest, PeerService, RequestBody, WatchedKey};
use crate::protocol::Frame;
use crate::protocol::Protocol;
use crate::store::KeyStamp;
use crate::store::Store;

use super::plan::{KeysOwner, Plan, command_keys, keys_owner, plan};
use super::replicated::{finish_write, replicates, start_write, written_keys};
use crate::replication::Replication;

/// Serves forwarded commands: runs them if this node owns their keys in its
/// own view, else answers `wrong owner` (never forwards again).
pub struct NodeService {
    store: Arc<Store>,
    server: Arc<ServerState>,
    replication: Arc<Replication>,
    /// One unlisted client record for every forwarded request (they carry
    /// only keyed commands, which keep no per-client state).
    internal: Arc<ClientShared>,
}

impl NodeService {
    /// A service over this node's store.
    pub fn new(store: Arc<Store>, server: Arc<ServerState>, replication: Arc<Replication>) -> NodeService {
        let internal = server.unlisted_client();
        NodeService { store, server, replication, internal }
    }
}

/// What a forwarded request says of the client it comes from.
#[derive(Debug, Clone, Copy)]
struct Origin {
    protocol: Protocol,
    /// `CLIENT NO-TOUCH ON`.
    no_touch: bool,
}

impl PeerService for NodeService {
    fn handle<'a>(&'a self, from_node: &'a str, request: PeerRequest) -> Handled<'a> {
        let origin = Origin { protocol: request.client_protocol, no_touch: request.no_touch };
        let reply = match request.body {
            RequestBody::Command { args } => return self.run_command(from_node, origin, args),
            RequestBody::Stamps { keys } => self.stamps(from_node, keys),
            RequestBody::Transaction { watched, commands } => {
                return self.transaction(from_node, origin, watched, commands);
            }
            RequestBody::Replicate { items } => {
                PeerReply::Frame(Frame::Integer(self.replication.apply(items) as i64))
            }
            RequestBody::Pull { slot, cursor, max_bytes } => {
                self.replication.page(from_node, slot, cursor, max_bytes)
            }
            RequestBody::Handoff { slots } => {
                return Handled::Later(Box::pin(self.replication.handoff(from_node, slots)));
            }
            RequestBody::Holds => self.replication.holds_reply(),
        };
        Handled::Now(reply)
    }
}

impl NodeService {
    /// A client for running forwarded requests. They come from an
    /// authenticated entry node, which encodes the reply for its client:
    /// they run as that client's protocol, so commands whose reply shape
    /// depends on it (HRANDFIELD WITHVALUES) get it right.
    fn client(&self, origin: Origin) -> ClientState {
        ClientState {
            protocol: origin.protocol,
            forwarded_no_touch: origin.no_touch,
            ..ClientState::new(self.internal.clone(), true)
        }
    }

    fn count_wrong_owner(&self) {
        self.server.stats.wrong_owner_answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// `wrong owner` unless this node owns every one of `keys` in its view.
    fn check_owned<'k>(
        &self,
        from_node: &str,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> Result<(), PeerReply> {
        let topology = self.server.topology.load();
        match keys_owner(keys, &topology) {
            KeysOwner::NoKeys => Ok(()),
            KeysOwner::One(owner) if owner == topology.local_id => Ok(()),
            _ => {
                tracing::debug!(from = from_node, "forwarded request for keys this node does not own");
                self.count_wrong_owner();
                Err(PeerReply::WrongOwner { view_id: topology.view_id() })
            }
        }
    }

    /// Runs a forwarded command if this node owns its keys in its own view;
    /// a write answers once its copies applied it.
    fn run_command<'a>(&'a self, from_node: &str, origin: Origin, args: Vec<Bytes>) -> Handled<'a> {
        if args.is_empty() {
            return Handled::Now(PeerReply::Error("empty command".into()));
        }
        let mut client = self.client(origin);
        let Ok((index, spec)) = cmd::resolve(&args) else {
            let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut client };
            return Handled::Now(PeerReply::Frame(cmd::execute(&mut ctx, &args)));
        };
        let mut replicated = false;
        if spec.arity_ok(args.len()) {
            let topology = self.server.topology.load();
            if !matches!(plan(spec, &args, &topology, true, false), Plan::Local) {
                tracing::debug!(from = from_node, "forwarded request for keys this node does not own");
                self.count_wrong_owner();
                return Handled::Now(PeerReply::WrongOwner { view_id: topology.view_id() });
            }
            replicated = replicates(spec, &client, &topology);
        }
        if !replicated {
            let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut client };
            return Handled::Now(PeerReply::Frame(cmd::execute_resolved(&mut ctx, index, spec, &args)));
        }
        let keys = written_keys(spec, &client, &args);
        let run = || {
            let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut client };
            cmd::execute_resolved(&mut ctx, index, spec, &args)
        };
        self.replicated(start_write(&self.replication, &keys, run))
    }

    /// The reply to a write that ran here: at once when no other node
    /// holds its keys, else once they applied it.
    fn replicated<'a>(
        &'a self,
        started: Result<(Frame, crate::replication::Pending), crate::replication::HandedOff>,
    ) -> Handled<'a> {
        match started {
            Err(_) => {
                self.count_wrong_owner();
                Handled::Now(PeerReply::WrongOwner { view_id: self.server.topology.load().view_id() })
            }
            Ok((reply, pending)) if pending.is_empty() => Handled::Now(PeerReply::Frame(reply)),
            Ok((reply, pending)) => {
                Handled::Later(Box::pin(async move { PeerReply::Frame(finish_write(reply, pending).await) }))
            }
        }
    }

    /// The `WATCH` stamps of keys this node owns, as `[version, removals]`
    /// integer pairs in key order.
    fn stamps(&self, from_node: &str, keys: Vec<Bytes>) -> PeerReply {
        if let Err(wrong_owner) = self.check_owned(from_node, keys.iter().map(|k| &k[..])) {
            return wrong_owner;
        }
        let _shared = self.store.shared();
        let mut items = Vec::with_capacity(keys.len() * 2);
        for key in &keys {
            let stamp = self.store.lock(key).stamp(key);
            items.push(Frame::Integer(stamp.version as i64));
            items.push(Frame::Integer(stamp.removals as i64));
        }
        PeerReply::Frame(Frame::Array(items))
    }

    /// Runs a whole transaction whose keys this node owns, as `EXEC` would.
    fn transaction<'a>(
        &'a self,
        from_node: &str,
        origin: Origin,
        watched: Vec<WatchedKey>,
        commands: Vec<Vec<Bytes>>,
    ) -> Handled<'a> {
        let watched_keys = watched.iter().map(|w| &w.key[..]);
        let keys = watched_keys.chain(commands.iter().flat_map(|args| command_keys(args)));
        if let Err(wrong_owner) = self.check_owned(from_node, keys) {
            return Handled::Now(wrong_owner);
        }
        let view_id = self.server.topology.load().view_id();
        let watched: Vec<Watched> = watched
            .into_iter()
            .map(|w| Watched {
                key: w.key,
                stamp: KeyStamp { version: w.version, removals: w.removals },
                view_id,
            })
            .collect();
        if let Some(incoming) = cmd::transaction::queued_estimate(&commands)
            && let Err(oom) = cmd::make_room(&self.store, incoming)
        {
            return Handled::Now(PeerReply::Frame(Frame::Error(oom.to_string())));
        }
        let mut client = self.client(origin);
        let keys: Vec<Bytes> = commands
            .iter()
            .flat_map(|args| command_keys(args).map(Bytes::copy_from_slice).collect::<Vec<_>>())
            .collect();
        let mut run = || {
            let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut client };
            let _exclusive = self.store.exclusive();
            cmd::transaction::run_queued(&mut ctx, &watched, &commands)
        };
        if !self.server.topology.load().has_peers() {
            return Handled::Now(PeerReply::Frame(run()));
        }
        self.replicated(start_write(&self.replication, &keys, run))
    }
}
