//! The peer side of forwarding: requests that other nodes send here.

use std::sync::Arc;

use crate::cmd::{self, ClientShared, ClientState, Ctx, ServerState};
use crate::peer::{PeerReply, PeerRequest, PeerService, RequestBody};
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
    async fn handle(&self, from_node: &str, request: PeerRequest) -> PeerReply {
        let client_protocol = request.client_protocol;
        let RequestBody::Command { args } = request.body;
        if args.is_empty() {
            return PeerReply::Error("empty command".into());
        }
        let topology = self.server.topology();
        if let Ok((_, spec)) = cmd::resolve(&args)
            && spec.arity_ok(args.len())
            && !matches!(plan(spec, &args, &topology, true, false), Plan::Local)
        {
            tracing::debug!(from = from_node, "forwarded request for keys this node does not own");
            return PeerReply::WrongOwner { view_id: topology.view_id() };
        }
        // Forwarded requests come from an authenticated entry node, which
        // encodes the reply for its client: run as that client's protocol,
        // so commands whose reply shape depends on it get it right.
        let mut client =
            ClientState { protocol: client_protocol, ..ClientState::new(self.internal.clone(), true) };
        let mut ctx = Ctx { store: &self.store, server: &self.server, client: &mut client };
        PeerReply::Frame(cmd::execute(&mut ctx, &args))
    }
}
