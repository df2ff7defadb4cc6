//! A cluster of in-process nodes on loopback (fast gossip profile, free
//! ports), driven from the test thread: start, kill, stop, restart, and
//! wait until every node sees the same active members.

use std::net::SocketAddr;
use std::time::Duration;

use shoal::ring::MemberState;

use super::{RespConn, TestNode, start_node, start_node_with_metrics, test_config, wait_for};

/// Generous bound for gossip to converge (fast profile detects a failure
/// in about 2.5 s).
pub const CONVERGE: Duration = Duration::from_secs(20);

/// In-process nodes on one runtime, driven from the test thread. Dropping
/// it shuts every running node down.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    nodes: Vec<Option<TestNode>>,
    /// Whether nodes added serve metrics (on free ports).
    metrics: bool,
}

impl Cluster {
    /// An empty cluster with its own runtime; add nodes with [`Cluster::add`].
    pub fn new() -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        Cluster { runtime, nodes: Vec::new(), metrics: false }
    }

    /// Starts `n` nodes `n1..`, every node after the first seeded with the
    /// first, and waits until every node sees `n` active members.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_nodes(n, false)
    }

    /// Like [`Cluster::start`], every node serving metrics on a free port
    /// (see [`Cluster::metrics_addr`]).
    pub fn start_with_metrics(n: usize) -> Cluster {
        Cluster::start_nodes(n, true)
    }

    fn start_nodes(n: usize, metrics: bool) -> Cluster {
        let mut cluster = Cluster::new();
        cluster.metrics = metrics;
        for i in 1..=n {
            let seed = if i == 1 { None } else { Some(cluster.gossip_addr(0)) };
            cluster.add(&format!("n{i}"), seed);
        }
        cluster.wait_converged(n);
        cluster
    }

    /// Starts one more node with id `id`, joining through `seed` if given;
    /// returns its index.
    pub fn add(&mut self, id: &str, seed: Option<SocketAddr>) -> usize {
        let mut config = test_config();
        config.node.id = Some(id.to_string());
        config.cluster.seeds = seed.into_iter().map(|a| a.to_string()).collect();
        let node = if self.metrics {
            self.runtime.block_on(start_node_with_metrics(config))
        } else {
            self.runtime.block_on(start_node(config))
        };
        self.nodes.push(Some(node));
        self.nodes.len() - 1
    }

    /// Runs a future on the cluster's runtime (for async clients).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Node `i`; panics if it was stopped.
    pub fn node(&self, i: usize) -> &TestNode {
        self.nodes[i].as_ref().expect("node is running")
    }

    /// The running nodes with their indices.
    pub fn running(&self) -> impl Iterator<Item = (usize, &TestNode)> {
        self.nodes.iter().enumerate().filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// Node `i`'s gossip address, to seed other nodes with.
    pub fn gossip_addr(&self, i: usize) -> SocketAddr {
        self.node(i).handle().gossip_addr()
    }

    /// Where node `i` serves `/metrics`; panics if it does not.
    pub fn metrics_addr(&self, i: usize) -> SocketAddr {
        self.node(i).handle().metrics_addr().expect("started with metrics")
    }

    /// A new raw connection to node `i`.
    pub fn conn(&self, i: usize) -> RespConn {
        RespConn::connect(self.node(i).addr()).expect("connect")
    }

    /// The ids of the active members node `i` sees.
    pub fn active_seen_by(&self, i: usize) -> Vec<String> {
        let topology = self.node(i).handle().server().topology();
        topology.members.iter().filter(|m| m.state == MemberState::Active).map(|m| m.id.clone()).collect()
    }

    /// Waits until every running node sees exactly `n` active members.
    pub fn wait_converged(&self, n: usize) {
        let ok = wait_for(CONVERGE, || {
            self.running().all(|(i, _)| self.active_seen_by(i).len() == n).then_some(())
        });
        let views: Vec<_> = self.running().map(|(i, _)| self.active_seen_by(i)).collect();
        assert!(ok.is_some(), "nodes did not converge on {n} active members: {views:?}");
    }

    /// Stops node `i` without telling the others (a crash).
    pub fn kill(&mut self, i: usize) {
        let node = self.nodes[i].take().expect("running");
        self.runtime.block_on(node.kill());
    }

    /// Stops node `i` gracefully.
    pub fn stop(&mut self, i: usize) {
        let node = self.nodes[i].take().expect("running");
        self.runtime.block_on(node.shutdown());
    }

    /// The node id owning `key`, as the first running node sees the ring.
    pub fn owner_id(&self, key: &str) -> String {
        let (_, node) = self.running().next().expect("a running node");
        let topology = node.handle().server().topology();
        topology.serving.owner_of_key(key.as_bytes()).expect("owned").to_string()
    }

    /// `count` keys `key:<i>` owned by node `id`.
    pub fn keys_owned_by(&self, id: &str, count: usize) -> Vec<String> {
        (0..).map(|i| format!("key:{i}")).filter(|k| self.owner_id(k) == id).take(count).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            self.runtime.block_on(node.shutdown());
        }
    }
}
