//! Non-atomic multi-key commands split by owner: MGET MSET DEL UNLINK
//! EXISTS TOUCH. Each owner's part runs where it lives (in parallel), and
//! the replies are merged in the order of the keys. Not atomic across nodes.

use bytes::Bytes;

use super::Router;
use super::forward::forward_with_retry;
use crate::cmd::{ClientState, CmdError};
use crate::protocol::Frame;

/// Runs the groups of a split command and merges their replies.
pub(super) async fn run_split(
    router: &Router,
    client: &mut ClientState,
    args: &[Bytes],
    groups: Vec<(String, Vec<usize>)>,
) -> Result<Frame, CmdError> {
    let name = args[0].to_ascii_lowercase();
    let pairs = name == b"mset";
    let sub_requests: Vec<Vec<Bytes>> = groups
        .iter()
        .map(|(_, positions)| {
            let mut sub = vec![args[0].clone()];
            for &p in positions {
                sub.push(args[p].clone());
                if pairs {
                    sub.push(args[p + 1].clone());
                }
            }
            sub
        })
        .collect();
    // Each part needs its own client view; remote parts share nothing with
    // this connection but its authentication.
    let mut clients: Vec<ClientState> = sub_requests.iter().map(|_| client.detached()).collect();
    let replies = futures_join(router, &mut clients, sub_requests).await;
    merge(&name, args.len(), &groups, replies)
}

async fn futures_join(
    router: &Router,
    clients: &mut [ClientState],
    requests: Vec<Vec<Bytes>>,
) -> Vec<Result<Frame, CmdError>> {
    let futures = clients.iter_mut().zip(requests).map(|(c, r)| forward_with_retry(router, c, r, None));
    futures::future::join_all(futures).await
}

fn merge(
    name: &[u8],
    argc: usize,
    groups: &[(String, Vec<usize>)],
    replies: Vec<Result<Frame, CmdError>>,
) -> Result<Frame, CmdError> {
    let mut frames = Vec::with_capacity(replies.len());
    for reply in replies {
        match reply? {
            Frame::Error(text) => return Ok(Frame::Error(text)),
            frame => frames.push(frame),
        }
    }
    match name {
        b"mget" => {
            let mut values = vec![Frame::Null; argc];
            for ((_, positions), frame) in groups.iter().zip(frames) {
                let Frame::Array(items) = frame else {
                    return Err(CmdError::err("unexpected reply to a part of MGET"));
                };
                for (&p, item) in positions.iter().zip(items) {
                    values[p] = item;
                }
            }
            values.drain(..1);
            Ok(Frame::Array(values))
        }
        b"mset" => Ok(Frame::ok()),
        _ => {
            let mut total = 0;
            for frame in frames {
                match frame {
                    Frame::Integer(n) => total += n,
                    _ => return Err(CmdError::err("unexpected reply to a part of a multi-key command")),
                }
            }
            Ok(Frame::Integer(total))
        }
    }
}
