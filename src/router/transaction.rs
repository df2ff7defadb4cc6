//! Transactions in a cluster: `WATCH` takes each key's stamp from the node
//! that owns it, and `EXEC` sends the whole transaction to the node that
//! owns every key it touches (DESIGN.md section 4), or answers `-CROSSSLOT`.

use bytes::Bytes;

use super::Router;
use super::forward::{Target, cluster_down, cross_slot, send_with_retry};
use super::plan::{KeysOwner, command_keys, keys_owner};
use crate::cmd::transaction::{Multi, Watched};
use crate::cmd::{ClientState, CmdError};
use crate::peer::{PeerRequest, RequestBody, WatchedKey};
use crate::protocol::{Frame, Protocol};
use crate::store::KeyStamp;
use crate::topology::Topology;

/// Where `EXEC` runs, for a client inside `MULTI`.
pub(super) enum ExecPlace {
    /// Here: every key is local, there are none, or the transaction aborts
    /// anyway (the `EXEC` handler answers).
    Here,
    /// On the node that owns every key.
    Remote,
    /// Keys on several nodes, or on none: the transaction is discarded.
    Refused(CmdError),
}

/// Decides where the client's `EXEC` runs.
pub(super) fn exec_place(client: &ClientState, topology: &Topology) -> ExecPlace {
    let Some(multi) = &client.multi else { return ExecPlace::Here };
    let view_id = topology.view_id();
    if multi.aborted || client.watched.iter().any(|w| w.view_id != view_id) {
        return ExecPlace::Here;
    }
    match transaction_owner(&client.watched, &multi.queued, topology) {
        KeysOwner::NoKeys => ExecPlace::Here,
        KeysOwner::One(owner) if owner == topology.local_id => ExecPlace::Here,
        KeysOwner::One(_) => ExecPlace::Remote,
        KeysOwner::Several => ExecPlace::Refused(cross_slot()),
        KeysOwner::Unowned => ExecPlace::Refused(cluster_down()),
    }
}

/// Who owns every key a transaction touches: its watched keys and the
/// keys of its queued commands.
fn transaction_owner<'t>(
    watched: &[Watched],
    queued: &[Vec<Bytes>],
    topology: &'t Topology,
) -> KeysOwner<'t> {
    let watched_keys = watched.iter().map(|w| &w.key[..]);
    let command_keys = queued.iter().flat_map(|args| command_keys(args));
    keys_owner(watched_keys.chain(command_keys), topology)
}

impl Router {
    /// Sends the client's transaction to the node that owns its keys (the
    /// owner is found again for every attempt) and relays its reply; the
    /// transaction ends whatever the outcome, as `EXEC` always ends it.
    pub(super) async fn exec_remote(&self, client: &mut ClientState) -> Frame {
        let multi = client.multi.take().unwrap_or_default();
        let watched = std::mem::take(&mut client.watched);
        let body = RequestBody::Transaction {
            watched: watched.iter().map(watched_key).collect(),
            commands: multi.queued,
        };
        let mut request = PeerRequest {
            view_id: 0,
            forwarded: true,
            client_protocol: client.protocol,
            no_touch: client.no_touch(),
            body,
        };
        let target = |topology: &Topology, request: &PeerRequest| {
            let RequestBody::Transaction { watched, commands } = &request.body else {
                unreachable!("built as a transaction")
            };
            let watched = watched.iter().map(|w| &w.key[..]);
            let keys = watched.chain(commands.iter().flat_map(|args| command_keys(args)));
            match keys_owner(keys, topology) {
                KeysOwner::NoKeys => Ok(Target::Here),
                KeysOwner::One(owner) if owner == topology.local_id => Ok(Target::Here),
                KeysOwner::One(owner) => Ok(Target::Node(owner.to_string())),
                KeysOwner::Several => Err(cross_slot()),
                KeysOwner::Unowned => Err(cluster_down()),
            }
        };
        match send_with_retry(self, &mut request, false, target).await {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                // The keys moved here meanwhile: run it here, as EXEC would.
                let RequestBody::Transaction { commands, .. } = request.body else {
                    unreachable!("built as a transaction")
                };
                client.multi = Some(Multi { queued: commands, aborted: false });
                client.watched = watched;
                self.run_local_replicated(client, &[Bytes::from_static(b"EXEC")]).await
            }
            Err(err) => Frame::Error(err.to_string()),
        }
    }

    /// `WATCH` of keys some of which other nodes own: each key's stamp comes
    /// from its owner.
    pub(super) async fn watch_across(&self, client: &mut ClientState, args: &[Bytes]) -> Frame {
        for key in &args[1..] {
            match self.stamp_of(key).await {
                Ok((stamp, view_id)) => {
                    client.watched.push(Watched { key: Bytes::copy_from_slice(key), stamp, view_id });
                }
                Err(err) => return Frame::Error(err.to_string()),
            }
        }
        Frame::ok()
    }

    /// The stamp of `key` from its owner, and the view it was taken in.
    async fn stamp_of(&self, key: &[u8]) -> Result<(KeyStamp, u64), CmdError> {
        let keys = vec![Bytes::copy_from_slice(key)];
        let body = RequestBody::Stamps { keys };
        let mut request = PeerRequest {
            view_id: 0,
            forwarded: true,
            client_protocol: Protocol::Resp3,
            no_touch: false,
            body,
        };
        let target = |topology: &Topology, _: &PeerRequest| match keys_owner([key], topology) {
            KeysOwner::One(owner) if owner != topology.local_id => Ok(Target::Node(owner.to_string())),
            KeysOwner::Unowned => Err(cluster_down()),
            _ => Ok(Target::Here),
        };
        let reply = send_with_retry(self, &mut request, true, target).await?;
        let Some(reply) = reply else {
            let view_id = self.server.topology.load().view_id();
            return Ok((self.store.lock(key).stamp(key), view_id));
        };
        let stamp = match reply {
            Frame::Array(items) => match items.as_slice() {
                [Frame::Integer(version), Frame::Integer(removals)] => {
                    KeyStamp { version: *version as u64, removals: *removals as u64 }
                }
                _ => return Err(CmdError::err("peer answered WATCH with an unexpected reply")),
            },
            Frame::Error(text) => return Err(CmdError::Other(text)),
            _ => return Err(CmdError::err("peer answered WATCH with an unexpected reply")),
        };
        Ok((stamp, request.view_id))
    }
}

fn watched_key(w: &Watched) -> WatchedKey {
    WatchedKey { key: w.key.clone(), version: w.stamp.version, removals: w.stamp.removals }
}
