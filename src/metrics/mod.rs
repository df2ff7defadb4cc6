//! Prometheus metrics: one registry per node, filled at scrape time from
//! the counters the layers below already keep (so `INFO` and the metrics
//! agree by construction), and served over HTTP with `/health` and
//! `/ready` for load balancers and orchestrators.
//!
//! Nothing here runs on the request path: requests only bump atomics owned
//! by `cmd`, `store`, `router`, `peer` and `membership`. Collectors read
//! them when Prometheus scrapes. Names are `shoal_*` with their unit, and
//! labels stay low-cardinality (command names, peer node ids, fixed sets of
//! states and reasons; never keys or client addresses).

mod cache;
mod cluster;
pub mod family;
mod http;
mod members;
mod requests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use cluster::ClusterSources;
pub use family::{Kind, Spec};
pub use members::{DOWN_MEMORY, MemberCounts, MemberTracker};

use crate::cmd::ServerState;
use crate::membership::MembershipHandle;
use crate::peer::PeerPool;
use crate::ring::MemberState;
use crate::router::ForwardStats;
use crate::store::Store;

/// A scrape this recent is served again instead of being recomputed, so
/// that a burst of scrapes costs the node one collection.
const REUSE_SCRAPE_FOR: Duration = Duration::from_millis(250);

/// Every family Shoal exports.
pub fn specs() -> impl Iterator<Item = &'static Spec> {
    requests::SPECS.iter().chain(cache::SPECS).chain(cluster::SPECS).copied()
}

/// Everything the metrics of one node read.
pub struct MetricsSources {
    /// The keyspace.
    pub store: Arc<Store>,
    /// Server counters, settings, topology.
    pub server: Arc<ServerState>,
    /// Gossip membership.
    pub membership: Arc<MembershipHandle>,
    /// Peer connections.
    pub pool: Arc<PeerPool>,
    /// Forwarding counters.
    pub forwards: Arc<ForwardStats>,
    /// `cluster.replicas`.
    pub replicas: usize,
}

/// One node's metrics: its own registry (nodes sharing a process never mix
/// counts) and the last scrape.
pub struct Metrics {
    registry: Registry,
    server: Arc<ServerState>,
    membership: Arc<MembershipHandle>,
    members: Arc<MemberTracker>,
    last_scrape: tokio::sync::Mutex<Option<(Instant, Bytes)>>,
}

/// Why `/ready` answers 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The node is shutting down.
    ShuttingDown,
    /// The node has not joined the cluster yet (state `joining`).
    Joining,
    /// The node is handing its slots over before it exits.
    Leaving,
    /// Some slots have no owner in this node's view.
    SlotsUnowned,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotReady::ShuttingDown => "shutting down",
            NotReady::Joining => "joining the cluster",
            NotReady::Leaving => "leaving the cluster",
            NotReady::SlotsUnowned => "some slots have no owner",
        })
    }
}

impl Metrics {
    /// A registry holding every collector of one node.
    ///
    /// # Errors
    /// Only if two families were declared with one name (a bug).
    pub fn new(sources: MetricsSources) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let members = Arc::new(MemberTracker::default());
        registry.register(Box::new(requests::RequestCollector::new(sources.server.clone())))?;
        registry.register(Box::new(cache::CacheCollector::new(sources.store, sources.server.clone())))?;
        registry.register(Box::new(cluster::ClusterCollector::new(ClusterSources {
            server: sources.server.clone(),
            membership: sources.membership.clone(),
            pool: sources.pool,
            forwards: sources.forwards,
            members: members.clone(),
            replicas: sources.replicas,
        })))?;
        Ok(Metrics {
            registry,
            server: sources.server,
            membership: sources.membership,
            members,
            last_scrape: tokio::sync::Mutex::new(None),
        })
    }

    /// Starts the background work: member tracking, and the HTTP endpoint
    /// when a listener is given. Both stop with `stop`.
    pub fn start(
        self: &Arc<Self>,
        listener: Option<TcpListener>,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) {
        tracker.spawn(
            members::track_members(self.members.clone(), self.membership.members(), stop.clone())
                .in_current_span(),
        );
        if let Some(listener) = listener {
            tracker.spawn(http::serve(listener, self.clone(), stop, tracker.clone()).in_current_span());
        }
    }

    /// The node's registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Collects every family now, in Prometheus's text format.
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        let mut out = Vec::with_capacity(64 * 1024);
        if let Err(err) = TextEncoder::new().encode(&families, &mut out) {
            tracing::error!("encoding metrics failed: {err}");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// What `/metrics` serves: [`render`](Self::render), or the previous
    /// result when it is recent (see [`REUSE_SCRAPE_FOR`]). Concurrent
    /// scrapes wait for one collection instead of each running their own.
    pub async fn scrape(&self) -> Bytes {
        let mut last = self.last_scrape.lock().await;
        if let Some((at, body)) = last.as_ref()
            && at.elapsed() < REUSE_SCRAPE_FOR
        {
            return body.clone();
        }
        let body = Bytes::from(self.render());
        *last = Some((Instant::now(), body.clone()));
        body
    }

    /// Whether the node serves clients (not shutting down).
    pub fn is_serving(&self) -> bool {
        !self.server.shutdown.is_cancelled()
    }

    /// Whether the node has joined the cluster and every slot has an owner.
    ///
    /// # Errors
    /// Why not.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if !self.is_serving() {
            return Err(NotReady::ShuttingDown);
        }
        match self.membership.local_identity().state {
            MemberState::Joining => return Err(NotReady::Joining),
            MemberState::Leaving => return Err(NotReady::Leaving),
            MemberState::Active => {}
        }
        let topology = self.server.topology();
        if topology.local().is_none_or(|m| m.state != MemberState::Active) {
            return Err(NotReady::Joining);
        }
        if !topology.all_slots_owned() {
            return Err(NotReady::SlotsUnowned);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_prefixed_and_follow_the_conventions() {
        let mut seen = HashSet::new();
        for spec in specs() {
            assert!(seen.insert(spec.name), "{} declared twice", spec.name);
            assert!(spec.name.starts_with("shoal_"), "{}", spec.name);
            assert_eq!(spec.kind == Kind::Counter, spec.name.ends_with("_total"), "{}", spec.name);
            if spec.kind == Kind::Histogram {
                assert!(spec.name.ends_with("_seconds"), "{}", spec.name);
            }
            for label in spec.labels {
                assert!(
                    !["key", "client", "addr"].contains(label),
                    "{} has a high-cardinality label",
                    spec.name
                );
            }
            spec.desc();
        }
    }
}
