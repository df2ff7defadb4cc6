//! Routing: runs each client request where its keys live.
//!
//! Every node accepts every key. [`plan`] decides from the current
//! topology; local requests run at once through `cmd`; a request owned by
//! another node is forwarded over the peer protocol and its reply relayed;
//! non-atomic multi-key commands are split by owner and merged in order;
//! keyspace-wide commands cover every node (with `cluster.keyspace =
//! "cluster"`). A forwarded request is never forwarded again: its receiver
//! serves it or answers `wrong owner`, and the entry node retries briefly
//! (gossip converging) before answering `-TRYAGAIN`.

mod fanout;
mod forward;
mod forward_stats;
mod plan;
mod replicated;
mod service;
mod split;
mod transaction;

use std::sync::Arc;

use bytes::Bytes;

pub use forward_stats::{ForwardResult, ForwardStats, PeerForwards};
pub use plan::{KeysOwner, Plan, command_keys, keys_owner, plan};
pub use replicated::finish_write;
pub use service::NodeService;

use crate::cmd::{self, ClientState, CmdError, CommandSpec, Ctx, ServerState};
use crate::peer::PeerPool;
use crate::protocol::Frame;
use crate::replication::Replication;
use crate::store::Store;

/// Where [`Router::route`] sends a request.
pub enum Route {
    /// Run here; the command is already resolved.
    Local(u16, &'static CommandSpec),
    /// Run here, then send the changed keys to the slot's other copies.
    Replicated(u16, &'static CommandSpec),
    /// Let the dispatcher answer (unknown command, wrong arity, no auth);
    /// the command's index when it is known.
    Dispatch(Option<u16>),
    /// Another node, several, or an error decided by the cluster; the
    /// command's index.
    Elsewhere(u16, Plan),
    /// `EXEC` of a transaction whose keys another node owns.
    ExecRemote(u16),
    /// `EXEC` of a transaction that cannot run (keys on several nodes):
    /// discarded with this error.
    ExecRefused(u16, CmdError),
    /// `WATCH` of keys other nodes own.
    WatchAcross(u16),
}

impl Route {
    /// The index of the request's command in the table, if known.
    pub fn command(&self) -> Option<u16> {
        match *self {
            Route::Local(index, _)
            | Route::Replicated(index, _)
            | Route::Elsewhere(index, _)
            | Route::ExecRemote(index)
            | Route::ExecRefused(index, _)
            | Route::WatchAcross(index) => Some(index),
            Route::Dispatch(index) => index,
        }
    }
}

/// Runs requests where they belong. One per node, shared by connections.
pub struct Router {
    store: Arc<Store>,
    server: Arc<ServerState>,
    pool: Arc<PeerPool>,
    cluster_keyspace: bool,
    forwards: Arc<ForwardStats>,
    replication: Arc<Replication>,
}

impl Router {
    /// A router over `store`, forwarding through `pool`.
    pub fn new(
        store: Arc<Store>,
        server: Arc<ServerState>,
        pool: Arc<PeerPool>,
        replication: Arc<Replication>,
        cluster_keyspace: bool,
    ) -> Router {
        Router { store, server, pool, cluster_keyspace, forwards: Arc::default(), replication }
    }

    /// The node's store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The node's shared state.
    pub fn server(&self) -> &ServerState {
        &self.server
    }

    /// Decides where a client request runs.
    pub fn route(&self, client: &ClientState, args: &[Bytes]) -> Route {
        let Ok((index, spec)) = cmd::resolve(args) else { return Route::Dispatch(None) };
        if !spec.arity_ok(args.len()) || !client.authenticated {
            // The dispatcher answers these locally, with Redis's errors.
            return Route::Dispatch(Some(index));
        }
        let topology = self.server.topology.load();
        if (client.multi.is_some() || spec.name == "watch")
            && let Some(route) = transaction_route(client, index, spec, args, &topology)
        {
            return match route {
                Route::Local(index, spec) if replicated::replicates(spec, client, &topology) => {
                    Route::Replicated(index, spec)
                }
                route => route,
            };
        }
        match plan(spec, args, &topology, false, self.cluster_keyspace) {
            Plan::Local if replicated::replicates(spec, client, &topology) => Route::Replicated(index, spec),
            Plan::Local => Route::Local(index, spec),
            other => Route::Elsewhere(index, other),
        }
    }

    /// Runs a request as [`Router::route`] decided: at once when local (the
    /// common, allocation-free path), else forwarded, split or fanned out.
    /// Its calls, errors and latency are counted by command.
    pub async fn run(&self, client: &mut ClientState, args: &[Bytes], route: Route) -> Frame {
        let command = route.command();
        let started = quanta::Instant::now();
        let reply = match route {
            Route::Local(index, spec) => return self.run_here(client, index, spec, args),
            Route::Replicated(index, spec) => return self.run_replicated(client, index, spec, args).await,
            Route::Dispatch(_) => self.run_local(client, args),
            Route::Elsewhere(_, plan) => self.run_planned(client, args, plan).await,
            Route::ExecRemote(_) => {
                self.count_command();
                self.exec_remote(client).await
            }
            Route::ExecRefused(_, err) => {
                self.count_command();
                client.multi = None;
                client.watched.clear();
                Frame::Error(err.to_string())
            }
            Route::WatchAcross(_) => {
                self.count_command();
                self.watch_across(client, args).await
            }
        };
        self.server.commands.record(command, reply.is_error(), started.elapsed());
        reply
    }

    fn count_command(&self) {
        self.server.stats.total_commands_processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs a request that [`Router::route`] found local, at once (it never
    /// waits), counted as [`Router::run`] counts.
    pub fn run_here(
        &self,
        client: &mut ClientState,
        index: u16,
        spec: &'static CommandSpec,
        args: &[Bytes],
    ) -> Frame {
        let started = quanta::Instant::now();
        let mut ctx = Ctx { store: &self.store, server: &self.server, client };
        let reply = cmd::execute_resolved(&mut ctx, index, spec, args);
        self.server.commands.record(Some(index), reply.is_error(), started.elapsed());
        reply
    }

    /// Runs a request here.
    pub fn run_local(&self, client: &mut ClientState, args: &[Bytes]) -> Frame {
        let mut ctx = Ctx { store: &self.store, server: &self.server, client };
        cmd::execute(&mut ctx, args)
    }

    /// Runs a request that [`Router::route`] sent elsewhere.
    async fn run_planned(&self, client: &mut ClientState, args: &[Bytes], planned: Plan) -> Frame {
        self.count_command();
        let result = match planned {
            Plan::Local => return self.run_local(client, args),
            Plan::Remote(owner) => {
                forward::forward_with_retry(self, client, args.to_vec(), Some(owner)).await.map_err(|e| {
                    tracing::debug!("forwarding failed: {e}");
                    e
                })
            }
            Plan::Split(groups) => split::run_split(self, client, args, groups).await,
            Plan::FanOut => fanout::run_fanout(self, client, args).await,
            Plan::CrossSlot => Err(forward::cross_slot()),
            Plan::ClusterDown => Err(forward::cluster_down()),
        };
        if result.is_err() {
            // Refused while queueing: the transaction will abort.
            cmd::transaction::flag_aborted(client);
        }
        result.unwrap_or_else(|e| Frame::Error(e.to_string()))
    }
}

/// How a request of a client in a transaction (or watching keys) is
/// routed, when that differs from the usual plan: commands queued inside
/// `MULTI` stay here (only keys spread over nodes are refused at once, as
/// Redis Cluster does), `EXEC` goes where the transaction's keys are, and
/// `WATCH` asks the owners of its keys.
fn transaction_route(
    client: &ClientState,
    index: u16,
    spec: &'static CommandSpec,
    args: &[Bytes],
    topology: &crate::topology::Topology,
) -> Option<Route> {
    let local = |owner: &str| owner == topology.local_id;
    if client.multi.is_some() && !cmd::transaction::runs_in_multi(spec) {
        return Some(match keys_owner(command_keys(args), topology) {
            KeysOwner::Several => Route::Elsewhere(index, Plan::CrossSlot),
            KeysOwner::Unowned => Route::Elsewhere(index, Plan::ClusterDown),
            _ => Route::Local(index, spec),
        });
    }
    match spec.name {
        "exec" => Some(match transaction::exec_place(client, topology) {
            transaction::ExecPlace::Here => Route::Local(index, spec),
            transaction::ExecPlace::Remote => Route::ExecRemote(index),
            transaction::ExecPlace::Refused(err) => Route::ExecRefused(index, err),
        }),
        "watch" if client.multi.is_none() => {
            let all_local =
                args[1..].iter().all(|key| topology.owner(crate::keyslot::key_slot(key)).is_some_and(local));
            Some(if all_local { Route::Local(index, spec) } else { Route::WatchAcross(index) })
        }
        _ => None,
    }
}
