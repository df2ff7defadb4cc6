//! Sending a request to the node that owns its keys, with the bounded
//! retry that covers the moments when nodes disagree about the ring.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::Router;
use super::plan::{Plan, plan};
use crate::cmd::{self, ClientState, CmdError};
use crate::peer::{PeerReply, PeerRequest, RequestBody};
use crate::protocol::Frame;
use crate::topology::Topology;

/// Pauses between attempts while the ring converges: about a second in all.
const RETRY_PAUSES_MS: &[u64] = &[20, 40, 80, 160, 300, 400];

/// Where a request goes, decided afresh for every attempt.
pub(super) enum Target {
    /// This node owns the keys (now): the caller runs the request here.
    Here,
    /// The node with this id.
    Node(String),
}

/// Runs `args` wherever the current ring says, forwarding when needed, and
/// retrying (re-planning each time) on `wrong owner` and on peers that
/// could not be reached, until the retry budget is spent. `planned` is the
/// owner the caller's own plan found, used for the first attempt.
pub(super) async fn forward_with_retry(
    router: &Router,
    client: &mut ClientState,
    args: Vec<Bytes>,
    planned: Option<String>,
) -> Result<Frame, CmdError> {
    let (_, spec) = cmd::resolve(&args)?;
    let mut request =
        PeerRequest::command(0, true, args).for_client(client.protocol).untouched(client.no_touch());
    let mut planned = planned;
    let target = |topology: &Topology, request: &PeerRequest| {
        if let Some(owner) = planned.take() {
            return Ok(Target::Node(owner));
        }
        let RequestBody::Command { args } = &request.body else { unreachable!("built as a command") };
        match plan(spec, args, topology, true, false) {
            Plan::Local => Ok(Target::Here),
            Plan::Remote(owner) => Ok(Target::Node(owner)),
            Plan::ClusterDown => Err(cluster_down()),
            _ => Err(cross_slot()),
        }
    };
    // A read that may have reached a peer which then went away can simply
    // be sent again; a write could run twice.
    let rerun = !spec.is_write();
    match send_with_retry(router, &mut request, rerun, target).await? {
        Some(frame) => Ok(frame),
        None => {
            let RequestBody::Command { args } = &request.body else { unreachable!("built as a command") };
            Ok(router.run_local_replicated(client, args).await)
        }
    }
}

/// Sends `request` to the node `target` names in the current topology,
/// retrying on `wrong owner` and unreachable peers, and when `rerun` (the
/// request changes nothing) also on peers that failed after it was sent.
/// `Ok(None)` when the target turned out to be this node: nothing was run,
/// the caller runs it.
pub(super) async fn send_with_retry(
    router: &Router,
    request: &mut PeerRequest,
    rerun: bool,
    mut target: impl FnMut(&Topology, &PeerRequest) -> Result<Target, CmdError>,
) -> Result<Option<Frame>, CmdError> {
    let mut last_problem = String::new();
    for attempt in 0..=RETRY_PAUSES_MS.len() {
        if attempt > 0 {
            router.server.stats.cluster_retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(RETRY_PAUSES_MS[attempt - 1])).await;
        }
        let (owner, addr) = {
            let topology = router.server.topology.load();
            let owner = match target(&topology, request)? {
                Target::Here => return Ok(None),
                Target::Node(owner) => owner,
            };
            let Some(member) = topology.member(&owner) else {
                last_problem = format!("owner {owner} is not a live member");
                continue;
            };
            // Each attempt carries the view it was planned in.
            request.view_id = topology.view_id();
            (owner, member.peer_addr)
        };
        match router.peer_request(&owner, addr, request).await {
            Ok(PeerReply::Frame(frame)) => return Ok(Some(frame)),
            Ok(PeerReply::WrongOwner { view_id }) => {
                last_problem = format!("node {owner} does not own the keys in its view {view_id:016x}");
            }
            Ok(PeerReply::Error(text)) => return Err(CmdError::err(format!("peer {owner}: {text}"))),
            Err(err) if err.not_sent() => {
                last_problem = format!("node {owner} is unreachable: {err}");
            }
            Err(err) if rerun => {
                last_problem = format!("node {owner} did not answer: {err}");
            }
            Err(err) => {
                // The request may have run: retrying could run it twice.
                router.server.stats.tryagain_replies.fetch_add(1, Ordering::Relaxed);
                return Err(CmdError::Other(format!(
                    "TRYAGAIN node {owner} did not answer ({err}); the command may or may not have run"
                )));
            }
        }
    }
    router.server.stats.tryagain_replies.fetch_add(1, Ordering::Relaxed);
    Err(CmdError::Other(format!("TRYAGAIN the cluster is changing: {last_problem}")))
}

/// Redis Cluster's error for keys owned by different nodes.
pub(super) fn cross_slot() -> CmdError {
    CmdError::Other("CROSSSLOT Keys in request don't hash to the same slot".into())
}

/// Redis Cluster's error when a slot has no owner.
pub(super) fn cluster_down() -> CmdError {
    CmdError::Other("CLUSTERDOWN The cluster is down".into())
}
