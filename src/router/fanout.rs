//! Keyspace-wide commands over the whole cluster (`cluster.keyspace =
//! "cluster"`): DBSIZE sums, KEYS concatenates, FLUSHALL/FLUSHDB reach every
//! member (joining ones included: they drop what they copied), RANDOMKEY asks nodes until one has a key, and SCAN walks the
//! serving nodes one after another, its cursor naming the node.

use bytes::Bytes;

use super::Router;
use crate::cmd::{ClientState, CmdError};
use crate::keyslot::SLOTS;
use crate::peer::{PeerReply, PeerRequest};
use crate::protocol::Frame;

/// Runs a keyspace-wide command on every serving node and merges.
pub(super) async fn run_fanout(
    router: &Router,
    client: &mut ClientState,
    args: &[Bytes],
) -> Result<Frame, CmdError> {
    let name = args[0].to_ascii_lowercase();
    match &name[..] {
        b"scan" => scan(router, client, args).await,
        b"randomkey" => randomkey(router, client, args).await,
        _ => {
            let replies = on_every_node(router, client, args).await?;
            merge_all(&name, replies)
        }
    }
}

/// The serving nodes, sorted by id (the order SCAN's cursor counts in).
fn serving_ids(router: &Router) -> Vec<String> {
    router.server.topology().serving.nodes().iter().map(|m| m.id.clone()).collect()
}

/// Runs `args` on the node `id` (locally when it is this node).
async fn run_on(
    router: &Router,
    client: &mut ClientState,
    id: &str,
    args: &[Bytes],
) -> Result<Frame, CmdError> {
    let topology = router.server.topology();
    if id == topology.local_id {
        return Ok(router.run_local(client, args));
    }
    let member =
        topology.member(id).ok_or_else(|| CmdError::Other(format!("TRYAGAIN node {id} left the cluster")))?;
    let request = PeerRequest::command(topology.view_id(), true, args.to_vec())
        .for_client(client.protocol)
        .untouched(client.no_touch());
    match router.peer_request(id, member.peer_addr, &request).await {
        Ok(PeerReply::Frame(frame)) => Ok(frame),
        Ok(PeerReply::WrongOwner { .. }) => Err(CmdError::Other("TRYAGAIN the cluster is changing".into())),
        Ok(PeerReply::Error(text)) => Err(CmdError::err(format!("peer {id}: {text}"))),
        Err(err) => Err(CmdError::Other(format!("TRYAGAIN node {id} is unreachable: {err}"))),
    }
}

async fn on_every_node(
    router: &Router,
    client: &mut ClientState,
    args: &[Bytes],
) -> Result<Vec<Frame>, CmdError> {
    let name = args[0].to_ascii_lowercase();
    let ids = if name.starts_with(b"flush") {
        // Joining nodes too: what they already copied must go as well.
        router.server.topology().members.iter().map(|m| m.id.clone()).collect()
    } else {
        serving_ids(router)
    };
    let mut clients: Vec<ClientState> = ids.iter().map(|_| client.detached()).collect();
    let futures = clients.iter_mut().zip(&ids).map(|(c, id)| run_on(router, c, id, args));
    futures::future::join_all(futures).await.into_iter().collect()
}

fn merge_all(name: &[u8], replies: Vec<Frame>) -> Result<Frame, CmdError> {
    if let Some(err) = replies.iter().find(|f| f.is_error()) {
        return Ok(err.clone());
    }
    match name {
        b"dbsize" => {
            Ok(Frame::Integer(replies.iter().map(|f| if let Frame::Integer(n) = f { *n } else { 0 }).sum()))
        }
        b"keys" => Ok(Frame::Array(
            replies
                .into_iter()
                .flat_map(|f| if let Frame::Array(items) = f { items } else { vec![] })
                .collect(),
        )),
        _ => Ok(replies.into_iter().next().unwrap_or_else(Frame::ok)),
    }
}

async fn randomkey(router: &Router, client: &mut ClientState, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut ids = serving_ids(router);
    // Start at a random node so keys of every node come up.
    let start = rand::random_range(0..ids.len().max(1));
    ids.rotate_left(start);
    for id in ids {
        match run_on(router, client, &id, args).await? {
            Frame::Null => continue,
            frame => return Ok(frame),
        }
    }
    Ok(Frame::Null)
}

/// SCAN over the cluster. The cursor is `node index * 16384 + slot cursor`,
/// the node index counting the serving nodes sorted by id; when a node's
/// scan ends, the cursor moves to the next node. A scan that spans a
/// membership change may miss or repeat keys of the nodes that changed.
async fn scan(router: &Router, client: &mut ClientState, args: &[Bytes]) -> Result<Frame, CmdError> {
    let text = std::str::from_utf8(&args[1]).map_err(|_| CmdError::err("invalid cursor"))?;
    let cursor: u64 = text.parse().map_err(|_| CmdError::err("invalid cursor"))?;
    let ids = serving_ids(router);
    let node = (cursor / SLOTS as u64) as usize;
    let Some(id) = ids.get(node) else {
        return Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(vec![])]));
    };
    let mut sub = args.to_vec();
    sub[1] = Bytes::from((cursor % SLOTS as u64).to_string());
    let reply = run_on(router, client, id, &sub).await?;
    let Frame::Array(mut parts) = reply else { return Ok(reply) };
    if parts.len() != 2 {
        return Ok(Frame::Array(parts));
    }
    let next_local: u64 = match &parts[0] {
        Frame::Bulk(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        _ => 0,
    };
    let next = if next_local != 0 {
        node as u64 * SLOTS as u64 + next_local
    } else if node + 1 < ids.len() {
        (node as u64 + 1) * SLOTS as u64
    } else {
        0
    };
    parts[0] = Frame::bulk(next.to_string());
    Ok(Frame::Array(parts))
}
