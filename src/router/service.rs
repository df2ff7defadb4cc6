//! The peer side of forwarding: requests that other nodes send here.

use std::sync::Arc;

use crate::cmd::{self, ClientShared, ClientState, Ctx, ServerState};
use crate::peer::{Handled, PeerReply, PeerRequest, PeerService, RequestBody};
use crate::protocol::Protocol;
use crate::store::Store;

use super::plan::{Plan, plan};

/// Serves forwarded commands: runs them if this node owns their keys in its
/// own view, else answers `wrong owner` (never forwards again).
pub struct NodeService {
    store: Arc<Store>,
    server: Arc<ServerState>,
    /// One unlisted client record for every forwarded request (they carry
    /// only keyed commands, which keep no per-client state).
    internal: Arc<ClientShared>,
}

impl NodeService {
    /// A service over this node's store.
    pub fn new(store: Arc<Store>, server: Arc<ServerState>) -> NodeService {
        let internal = server.unlisted_client();
        NodeService { store, server, internal }
    }
}

impl PeerService for NodeService {
    fn handle<'a>(&'a self, from_node: &'a str, request: PeerRequest) -> Handled<'a> {
        Handled::Now(self.run_command(from_node, request))
    }
}

impl NodeService {
    /// Runs a forwarded command if this node owns its keys in its own view.
    fn run_command(&self, from_node: &str, request: PeerRequest) -> PeerReply {
        let RequestBody::Command { args } = request.body;
        if args.is_empty() {
            return PeerReply::Error("empty command".into());
        }
        // Forwarded requests come from an authenticated entry node and are
        // answered in RESP3 types; the entry node encodes them for its client.
        let mut client =
            ClientState { protocol: Protocol::Resp3, ..ClientState::new(self.internal.clone(), true) };
        let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut client };
        let Ok((index, spec)) = cmd::resolve(&args) else {
            return PeerReply::Frame(cmd::execute(&mut ctx, &args));
        };
        if spec.arity_ok(args.len()) {
            let topology = self.server.topology.load();
            if !matches!(plan(spec, &args, &topology, true, false), Plan::Local) {
                tracing::debug!(from = from_node, "forwarded request for keys this node does not own");
                return PeerReply::WrongOwner { view_id: topology.view_id() };
            }
        }
        PeerReply::Frame(cmd::execute_resolved(&mut ctx, index, spec, &args))
    }
}
