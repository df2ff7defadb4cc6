//! Forwarding one request to the node that owns its keys, with the
//! bounded retry that covers the moments when nodes disagree about the ring.

use std::time::Duration;

use bytes::Bytes;

use super::Router;
use super::plan::{Plan, plan};
use crate::cmd::{self, ClientState, CmdError};
use crate::peer::{PeerReply, PeerRequest};
use crate::protocol::Frame;

/// Pauses between attempts while the ring converges: about a second in all.
const RETRY_PAUSES_MS: &[u64] = &[20, 40, 80, 160, 300, 400];

/// Runs `args` wherever the current ring says, forwarding when needed, and
/// retrying (re-planning each time) on `wrong owner` and on peers that
/// could not be reached, until the retry budget is spent.
pub(super) async fn forward_with_retry(
    router: &Router,
    client: &mut ClientState,
    args: Vec<Bytes>,
) -> Result<Frame, CmdError> {
    let (_, spec) = cmd::resolve(&args)?;
    let mut last_problem = String::new();
    for attempt in 0..=RETRY_PAUSES_MS.len() {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(RETRY_PAUSES_MS[attempt - 1])).await;
        }
        let topology = router.server.topology();
        let owner = match plan(spec, &args, &topology, true, false) {
            Plan::Local => return Ok(router.run_local(client, &args)),
            Plan::Remote(owner) => owner,
            Plan::ClusterDown => return Err(CmdError::Other("CLUSTERDOWN The cluster is down".into())),
            _ => return Err(CmdError::Other("CROSSSLOT Keys in request don't hash to the same slot".into())),
        };
        let Some(member) = topology.member(&owner) else {
            last_problem = format!("owner {owner} is not a live member");
            continue;
        };
        let request =
            PeerRequest::command(topology.view_id(), true, args.clone()).for_client(client.protocol);
        match router.pool.request(&owner, member.peer_addr, request).await {
            Ok(PeerReply::Frame(frame)) => return Ok(frame),
            Ok(PeerReply::WrongOwner { view_id }) => {
                last_problem = format!("node {owner} does not own the keys in its view {view_id:016x}");
            }
            Ok(PeerReply::Error(text)) => return Err(CmdError::err(format!("peer {owner}: {text}"))),
            Err(err) if err.not_sent() => {
                last_problem = format!("node {owner} is unreachable: {err}");
            }
            Err(err) => {
                // The command may have run: retrying could run it twice.
                return Err(CmdError::Other(format!(
                    "TRYAGAIN node {owner} did not answer ({err}); the command may or may not have run"
                )));
            }
        }
    }
    Err(CmdError::Other(format!("TRYAGAIN the cluster is changing: {last_problem}")))
}
