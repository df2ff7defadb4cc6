//! A cluster of in-process nodes on loopback (fast gossip profile, free
//! ports), driven from the test thread: start, kill, stop, restart, wait
//! until every node sees the same active members, and wait until slot
//! moves and re-replication have settled.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal::config::Config;
use shoal::protocol::Frame;
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
    /// What every node added starts from (its id and seeds are set per node).
    config: Config,
}

impl Cluster {
    /// An empty cluster with its own runtime; add nodes with [`Cluster::add`].
    pub fn new() -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        Cluster { runtime, nodes: Vec::new(), metrics: false, config: test_config() }
    }

    /// An empty cluster whose nodes start from `config` (see [`Cluster::add`]).
    pub fn with_config(config: Config) -> Cluster {
        let mut cluster = Cluster::new();
        cluster.config = config;
        cluster
    }

    /// Like [`Cluster::start`], every node starting from `config`.
    pub fn start_with_config(n: usize, config: Config) -> Cluster {
        let mut cluster = Cluster::with_config(config);
        cluster.start_numbered(n);
        cluster
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
        cluster.start_numbered(n);
        cluster
    }

    fn start_numbered(&mut self, n: usize) {
        for i in 1..=n {
            let seed = if i == 1 { None } else { Some(self.gossip_addr(0)) };
            self.add(&format!("n{i}"), seed);
        }
        self.wait_converged(n);
    }

    /// Starts one more node with id `id`, joining through `seed` if given;
    /// returns its index.
    pub fn add(&mut self, id: &str, seed: Option<SocketAddr>) -> usize {
        let mut config = self.config.clone();
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
        self.wait_converged_within(n, CONVERGE);
    }

    /// Like [`Cluster::wait_converged`] with another bound (a join that
    /// pulls data takes longer than gossip alone).
    pub fn wait_converged_within(&self, n: usize, timeout: Duration) {
        let ok = wait_for(timeout, || {
            self.running().all(|(i, _)| self.active_seen_by(i).len() == n).then_some(())
        });
        let views: Vec<_> = self.running().map(|(i, _)| self.active_seen_by(i)).collect();
        assert!(ok.is_some(), "nodes did not converge on {n} active members within {timeout:?}: {views:?}");
    }

    /// The index of the running node with id `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.running().find(|(_, n)| n.handle().node_id() == id).map(|(i, _)| i)
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

    /// Stops node `i` gracefully, waiting at most `timeout`: how long the
    /// stop took, or `None` if it had not returned by then (the node is
    /// then abandoned half-stopped).
    pub fn stop_within(&mut self, i: usize, timeout: Duration) -> Option<Duration> {
        let node = self.nodes[i].take().expect("running");
        let started = Instant::now();
        let stopped = self.runtime.block_on(async { tokio::time::timeout(timeout, node.shutdown()).await });
        stopped.ok().map(|()| started.elapsed())
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

// ---------------------------------------------------------------------------
// Rebalancing and re-replication status
// ---------------------------------------------------------------------------

/// What `SHOAL REBALANCE` reports on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebalance {
    /// `joining`, `active` or `leaving`.
    pub state: String,
    /// Slots whose copies differ between the serving and target ring.
    pub moving_slots: i64,
    /// Slots this node must copy and does not hold yet.
    pub slots_to_pull: i64,
    /// Keys this node has pulled so far.
    pub keys_pulled: i64,
    /// Bytes this node has pulled so far.
    pub bytes_pulled: i64,
}

/// Why [`Cluster::wait_settled`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSettled {
    /// A node does not report rebalancing at all (no `SHOAL REBALANCE` or
    /// no `INFO cluster` fields for it): nothing to wait for.
    Unsupported(String),
    /// Still moving or under-replicated at the deadline: the last status.
    TimedOut(String),
}

/// The fields of a map reply, RESP3 (`%`) or RESP2 (flat array of pairs).
pub fn map_fields(frame: &Frame) -> Option<Vec<(String, Frame)>> {
    let text = |f: &Frame| match f {
        Frame::Bulk(b) | Frame::Verbatim(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Frame::Simple(s) => Some(s.clone()),
        _ => None,
    };
    match frame {
        Frame::Map(pairs) => pairs.iter().map(|(k, v)| Some((text(k)?, v.clone()))).collect(),
        Frame::Array(flat) if flat.len() % 2 == 0 => {
            flat.chunks(2).map(|pair| Some((text(&pair[0])?, pair[1].clone()))).collect()
        }
        _ => None,
    }
}

/// Parses a `SHOAL REBALANCE` reply.
pub fn parse_rebalance(frame: &Frame) -> Result<Rebalance, String> {
    if let Frame::Error(e) = frame {
        return Err(e.clone());
    }
    let fields = map_fields(frame).ok_or_else(|| format!("not a map: {frame:?}"))?;
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let int = |name: &str| match get(name) {
        Some(Frame::Integer(n)) => Ok(n),
        other => Err(format!("field {name}: {other:?} in {frame:?}")),
    };
    let state = match get("state") {
        Some(Frame::Bulk(b)) => String::from_utf8_lossy(&b).into_owned(),
        Some(Frame::Simple(s)) => s,
        other => return Err(format!("field state: {other:?} in {frame:?}")),
    };
    Ok(Rebalance {
        state,
        moving_slots: int("moving_slots")?,
        slots_to_pull: int("slots_to_pull")?,
        keys_pulled: int("keys_pulled")?,
        bytes_pulled: int("bytes_pulled")?,
    })
}

/// One field of an `INFO <section>` reply, if present.
pub fn info_field(conn: &mut RespConn, section: &str, name: &str) -> std::io::Result<Option<String>> {
    let text = match conn.call(["INFO", section])? {
        Frame::Bulk(b) | Frame::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
        other => return Ok(Some(format!("{other:?}"))),
    };
    let prefix = format!("{name}:");
    Ok(text.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().to_string()))
}

impl Cluster {
    /// Node `i`'s `SHOAL REBALANCE`, parsed; the error text or what was
    /// wrong with the reply otherwise.
    pub fn rebalance(&self, i: usize) -> Result<Rebalance, String> {
        let reply = self.conn(i).call(["SHOAL", "REBALANCE"]).map_err(|e| e.to_string())?;
        parse_rebalance(&reply)
    }

    /// A numeric `INFO cluster` field of node `i`: `Ok(None)` when absent.
    pub fn info_cluster_number(&self, i: usize, name: &str) -> Result<Option<i64>, String> {
        let value = info_field(&mut self.conn(i), "cluster", name).map_err(|e| e.to_string())?;
        value.map(|v| v.parse().map_err(|_| format!("{name}:{v} is not a number"))).transpose()
    }

    /// Waits until every running node is `active`, has nothing moving or to
    /// pull (`SHOAL REBALANCE`) and reports `shoal_under_replicated_slots:0`
    /// and `shoal_moving_slots:0` (`INFO cluster`). Gives up at once, with
    /// [`NotSettled::Unsupported`], when a node does not report these.
    pub fn wait_settled(&self, timeout: Duration) -> Result<(), NotSettled> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut pending = Vec::new();
            for (i, node) in self.running() {
                let id = node.handle().node_id().to_string();
                let status = match self.rebalance(i) {
                    Ok(status) => status,
                    Err(e) if e.contains("unknown subcommand") || e.contains("unknown command") => {
                        return Err(NotSettled::Unsupported(format!("{id}: SHOAL REBALANCE: {e}")));
                    }
                    Err(e) => {
                        pending.push(format!("{id}: {e}"));
                        continue;
                    }
                };
                let mut numbers = Vec::new();
                for name in ["shoal_under_replicated_slots", "shoal_moving_slots"] {
                    match self.info_cluster_number(i, name) {
                        Ok(Some(n)) => numbers.push(n),
                        Ok(None) => {
                            return Err(NotSettled::Unsupported(format!("{id}: INFO cluster has no {name}")));
                        }
                        Err(e) => pending.push(format!("{id}: {e}")),
                    }
                }
                let settled = status.state == "active"
                    && status.moving_slots == 0
                    && status.slots_to_pull == 0
                    && numbers == [0, 0];
                if !settled {
                    pending.push(format!("{id}: {status:?}, under-replicated/moving {numbers:?}"));
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(NotSettled::TimedOut(pending.join("; ")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            self.runtime.block_on(node.shutdown());
        }
    }
}
