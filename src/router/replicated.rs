//! Writes that run here and must reach the other copies of their slots
//! before (in `sync` mode) the client hears back.

use std::sync::Arc;

use bytes::Bytes;

use super::Router;
use super::plan::command_keys;
use crate::cmd::{self, ClientState, CommandSpec, Ctx};
use crate::protocol::Frame;
use crate::replication::{HandedOff, Pending, Replication};
use crate::topology::Topology;

/// Whether running `spec` here changes keys whose copies must follow: a
/// write, or `EXEC` (whose queued commands may write), in a cluster.
pub(super) fn replicates(spec: &CommandSpec, client: &ClientState, topology: &Topology) -> bool {
    topology.has_peers() && (spec.name == "exec" || (client.multi.is_none() && spec.is_write()))
}

/// The keys a write may change: its own, or for `EXEC` those of the queued
/// commands.
pub(super) fn written_keys(spec: &CommandSpec, client: &ClientState, args: &[Bytes]) -> Vec<Bytes> {
    if spec.name == "exec" {
        let Some(multi) = &client.multi else { return Vec::new() };
        return multi
            .queued
            .iter()
            .flat_map(|queued| command_keys(queued).map(Bytes::copy_from_slice).collect::<Vec<_>>())
            .collect();
    }
    command_keys(args).map(Bytes::copy_from_slice).collect()
}

/// Runs a write here through `run` and prepares its copies. Refused,
/// without running, when one of its slots was handed off.
pub(crate) fn start_write(
    replication: &Arc<Replication>,
    keys: &[Bytes],
    run: impl FnOnce() -> Frame,
) -> Result<(Frame, Pending), HandedOff> {
    let key_refs: smallvec::SmallVec<[&[u8]; 4]> = keys.iter().map(|k| &k[..]).collect();
    let (reply, mut pending) = replication.write(&key_refs, run)?;
    if !reply.is_error() {
        pending.capture(key_refs.iter().copied());
    }
    Ok((reply, pending))
}

/// The write's reply once its copies applied it (or `-TRYAGAIN`).
pub async fn finish_write(reply: Frame, pending: Pending) -> Frame {
    match pending.finish().await {
        Ok(()) => reply,
        Err(err) => Frame::Error(err.to_string()),
    }
}

impl Router {
    /// Runs a write that [`Router::route`] found local, counted as
    /// [`Router::run_here`] counts. Refused when its slot was handed off.
    pub(crate) fn start_local_write(
        &self,
        client: &mut ClientState,
        index: u16,
        spec: &'static CommandSpec,
        args: &[Bytes],
    ) -> Result<(Frame, Pending), HandedOff> {
        let keys = written_keys(spec, client, args);
        start_write(&self.replication, &keys, || self.run_here(client, index, spec, args))
    }

    /// Runs a write here and waits for its copies; when its slot was handed
    /// off meanwhile, sends it where the ring now says.
    pub(super) async fn run_replicated(
        &self,
        client: &mut ClientState,
        index: u16,
        spec: &'static CommandSpec,
        args: &[Bytes],
    ) -> Frame {
        match self.start_local_write(client, index, spec, args) {
            Ok((reply, pending)) => finish_write(reply, pending).await,
            Err(HandedOff) => {
                self.count_command();
                super::forward::forward_with_retry(self, client, args.to_vec(), None)
                    .await
                    .unwrap_or_else(|e| Frame::Error(e.to_string()))
            }
        }
    }

    /// Runs a request that the ring places here, replicating it when it
    /// writes (forwarding decided it is local after all).
    pub(super) async fn run_local_replicated(&self, client: &mut ClientState, args: &[Bytes]) -> Frame {
        let topology = self.server.topology.load();
        let Ok((index, spec)) = cmd::resolve(args) else { return self.run_local(client, args) };
        if !spec.arity_ok(args.len()) || !replicates(spec, client, &topology) {
            return self.run_local(client, args);
        }
        let keys = written_keys(spec, client, args);
        let run = || {
            let mut ctx = Ctx { store: &self.store, server: &self.server, client };
            cmd::execute_resolved(&mut ctx, index, spec, args)
        };
        match start_write(&self.replication, &keys, run) {
            Ok((reply, pending)) => finish_write(reply, pending).await,
            Err(HandedOff) => {
                self.server.stats.tryagain_replies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Frame::Error("TRYAGAIN the slot is moving to another node".into())
            }
        }
    }
}
