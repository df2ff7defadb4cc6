//! What the `shoal` binary runs once its configuration is loaded: one node
//! until a signal (`shoal`), or a whole cluster of nodes on 127.0.0.1 in one
//! process (`shoal local-cluster`). Both start nodes the same way and turn
//! SIGINT/SIGTERM into a graceful shutdown.

use std::fmt::Write as _;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};

use futures::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{Config, Flags};
use crate::node::{NodeError, NodeHandle, NodeSockets};
use crate::ring::MemberState;

/// How long `local-cluster` waits for its nodes to see each other before
/// printing how to connect anyway.
const FORM_TIMEOUT: Duration = Duration::from_secs(15);

/// Binds the sockets of `config`, starts the node and logs where it listens.
pub async fn start_node(config: Config, config_file: &str) -> Result<NodeHandle, NodeError> {
    let sockets = NodeSockets::bind(&config).await?;
    let node = NodeHandle::start(config, sockets, config_file).await?;
    tracing::info!(
        node_id = %node.node_id(),
        peer = %node.peer_addr(),
        gossip = %node.gossip_addr(),
        "shoal {} listening for clients on {}",
        env!("CARGO_PKG_VERSION"),
        node.addr()
    );
    Ok(node)
}

/// Runs one node until SIGINT, SIGTERM, `SHUTDOWN` or `SHOAL LEAVE`, then
/// stops it gracefully.
pub async fn run_node(config: Config, config_file: &str) -> Result<(), NodeError> {
    let mut signals = StopSignals::install();
    let node = start_node(config, config_file).await?;
    let token = node.shutdown_token();
    let leave = node.leave_token();
    tokio::select! {
        signal = signals.recv() => tracing::info!("{signal} received, shutting down"),
        _ = token.cancelled() => tracing::info!("SHUTDOWN received, shutting down"),
        _ = leave.cancelled() => tracing::info!("SHOAL LEAVE received, leaving the cluster"),
    }
    node.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT and SIGTERM, watched from the moment [`StopSignals::install`]
/// runs: install before starting nodes, so a signal that arrives while a
/// node starts is not lost (nor kills the process with the default action).
pub struct StopSignals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl StopSignals {
    /// Starts watching both signals. One that cannot be watched is logged
    /// and ignored.
    pub fn install() -> StopSignals {
        let watch = |kind: SignalKind, name: &str| {
            signal(kind).inspect_err(|err| tracing::warn!("cannot watch {name}: {err}")).ok()
        };
        StopSignals {
            interrupt: watch(SignalKind::interrupt(), "SIGINT"),
            terminate: watch(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Resolves on the next SIGINT or SIGTERM, naming it.
    pub async fn recv(&mut self) -> &'static str {
        async fn next(signal: &mut Option<Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.interrupt) => "SIGINT",
            _ = next(&mut self.terminate) => "SIGTERM",
        }
    }
}

/// Options of `shoal local-cluster`: how many nodes and where their ports start.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct LocalClusterArgs {
    /// Number of nodes, n1..nN.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    pub nodes: u16,
    /// Client port of n1; node i listens on PORT+i-1.
    #[arg(long, value_name = "PORT", default_value_t = 7001, value_parser = clap::value_parser!(u16).range(1..))]
    pub base_port: u16,
    /// Peer TCP and gossip UDP port of n1; node i uses PORT+i-1.
    #[arg(long, value_name = "PORT", default_value_t = 17001, value_parser = clap::value_parser!(u16).range(1..))]
    pub peer_base_port: u16,
    /// Metrics port of n1; node i uses PORT+i-1; 0 = off.
    #[arg(long, value_name = "PORT", default_value_t = 9101)]
    pub metrics_base_port: u16,
    /// Gossip timing profile of every node [default: the configured one, lan].
    #[arg(long, value_name = "PROFILE", value_parser = ["lan", "fast"])]
    pub gossip_profile: Option<String>,
}

/// Port ranges of a local cluster that cannot work.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortPlanError {
    /// A range runs past the last port.
    #[error("--{flag} {base} leaves no room for {nodes} nodes: the last port would be above 65535")]
    Overflow {
        /// The flag whose range overflows.
        flag: &'static str,
        /// Its value.
        base: u16,
        /// The number of nodes.
        nodes: u16,
    },
    /// Two TCP ranges share a port.
    #[error("the ports of --{first} ({first_range}) and --{second} ({second_range}) overlap")]
    Overlap {
        /// One flag.
        first: &'static str,
        /// Its ports, `a-b`.
        first_range: String,
        /// The other flag.
        second: &'static str,
        /// Its ports, `a-b`.
        second_range: String,
    },
}

/// One flag's ports for every node.
struct PortRange {
    flag: &'static str,
    first: u16,
    last: u16,
}

impl PortRange {
    fn new(flag: &'static str, base: u16, nodes: u16) -> Result<PortRange, PortPlanError> {
        let last = base.checked_add(nodes - 1).ok_or(PortPlanError::Overflow { flag, base, nodes })?;
        Ok(PortRange { flag, first: base, last })
    }

    fn overlaps(&self, other: &PortRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    fn text(&self) -> String {
        format!("{}-{}", self.first, self.last)
    }
}

impl LocalClusterArgs {
    /// The flags each node would be started with as a process of its own:
    /// id `n<i>`, client port `base_port+i-1`, peer and gossip port
    /// `peer_base_port+i-1`, metrics port `metrics_base_port+i-1` (or 0),
    /// all on 127.0.0.1, nodes after the first seeding from n1's gossip port.
    ///
    /// # Errors
    /// A range past port 65535, or two TCP ranges (client, peer, metrics)
    /// sharing a port. Gossip is UDP and shares the peer ports.
    pub fn node_flags(&self) -> Result<Vec<Flags>, PortPlanError> {
        let nodes = self.nodes.max(1);
        let mut ranges = vec![
            PortRange::new("base-port", self.base_port, nodes)?,
            PortRange::new("peer-base-port", self.peer_base_port, nodes)?,
        ];
        if self.metrics_base_port != 0 {
            ranges.push(PortRange::new("metrics-base-port", self.metrics_base_port, nodes)?);
        }
        for (i, a) in ranges.iter().enumerate() {
            if let Some(b) = ranges[i + 1..].iter().find(|b| a.overlaps(b)) {
                return Err(PortPlanError::Overlap {
                    first: a.flag,
                    first_range: a.text(),
                    second: b.flag,
                    second_range: b.text(),
                });
            }
        }
        let seed = format!("127.0.0.1:{}", self.peer_base_port);
        Ok((0..nodes)
            .map(|i| {
                let peer_port = self.peer_base_port + i;
                let metrics_port = if self.metrics_base_port == 0 { 0 } else { self.metrics_base_port + i };
                Flags {
                    node_id: Some(format!("n{}", i + 1)),
                    bind: Some("127.0.0.1".to_string()),
                    port: Some(self.base_port + i),
                    peer_port: Some(peer_port),
                    gossip_port: Some(peer_port),
                    metrics_port: Some(metrics_port),
                    seeds: (i > 0).then(|| seed.clone()),
                    gossip_profile: self.gossip_profile.clone(),
                    ..Flags::default()
                }
            })
            .collect())
    }
}

/// Why a local cluster could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start node {node_id}: {error}")]
pub struct LocalClusterError {
    /// The node that failed; the ones started before it were stopped.
    pub node_id: String,
    /// Why (shown in the message, so not chained as a source as well).
    pub error: NodeError,
}

/// Starts one node per config (the first is the seed), prints how to
/// connect, and runs until SIGINT or SIGTERM, then stops every node (each
/// leaves the gossip ring; with nobody staying, none hands slots over).
/// `SHUTDOWN` sent to a node stops that node alone, gracefully; the process
/// ends when none is left.
pub async fn run_local_cluster(configs: Vec<Config>) -> Result<(), LocalClusterError> {
    let mut signals = StopSignals::install();
    let mut nodes = Vec::with_capacity(configs.len());
    for config in configs {
        let node_id = config.node_id();
        let span = tracing::info_span!("node", id = %node_id);
        match start_node(config, "").instrument(span.clone()).await {
            Ok(node) => nodes.push((node, span)),
            Err(error) => {
                join_all(nodes.into_iter().map(|(node, span)| node.shutdown_with_cluster().instrument(span)))
                    .await;
                return Err(LocalClusterError { node_id, error });
            }
        }
    }
    let formed = tokio::select! {
        formed = wait_formed(&nodes, FORM_TIMEOUT) => Some(formed),
        signal = signals.recv() => {
            tracing::info!("{signal} received, shutting down");
            None
        }
    };
    let Some(formed) = formed else {
        join_all(nodes.into_iter().map(|(node, span)| node.shutdown_with_cluster().instrument(span))).await;
        return Ok(());
    };
    if !formed {
        tracing::warn!("the nodes do not all see each other yet after {FORM_TIMEOUT:?}");
    }
    println!("{}", connect_help(&nodes, formed));

    let stop = CancellationToken::new();
    let all_stopped =
        join_all(nodes.into_iter().map(|(node, span)| supervise(node, stop.clone()).instrument(span)));
    tokio::pin!(all_stopped);
    tokio::select! {
        _ = &mut all_stopped => {
            tracing::info!("every node was shut down");
            return Ok(());
        }
        signal = signals.recv() => tracing::info!("{signal} received, shutting down every node"),
    }
    stop.cancel();
    all_stopped.await;
    tracing::info!("stopped");
    Ok(())
}

/// Runs `node` until its own `SHUTDOWN`, which stops it gracefully (it hands
/// its slots to the nodes that stay), or until `stop`, which stops it with
/// the whole cluster.
async fn supervise(node: NodeHandle, stop: CancellationToken) {
    let token = node.shutdown_token();
    let leave = node.leave_token();
    tokio::select! {
        _ = token.cancelled() => tracing::info!("SHUTDOWN received, leaving the cluster"),
        _ = leave.cancelled() => tracing::info!("SHOAL LEAVE received, leaving the cluster"),
        _ = stop.cancelled() => {
            node.shutdown_with_cluster().await;
            tracing::info!("stopped");
            return;
        }
    }
    node.shutdown().await;
    tracing::info!("stopped");
}

/// Waits until every node sees all of them active; false after `timeout`.
async fn wait_formed(nodes: &[(NodeHandle, tracing::Span)], timeout: Duration) -> bool {
    let formed = || {
        nodes.iter().all(|(node, _)| {
            let topology = node.server().topology();
            topology.members.iter().filter(|m| m.state == MemberState::Active).count() == nodes.len()
        })
    };
    let deadline = tokio::time::Instant::now() + timeout;
    while !formed() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// The banner: every node's addresses and redis-cli lines to try.
fn connect_help(nodes: &[(NodeHandle, tracing::Span)], formed: bool) -> String {
    let mut text = format!("Shoal local cluster: {} nodes on 127.0.0.1", nodes.len());
    text.push_str(if formed { ", all active\n" } else { ", still joining\n" });
    for (node, _) in nodes {
        let _ = writeln!(
            text,
            "  {}  clients {}  peers {}  gossip {}",
            node.node_id(),
            node.addr(),
            node.peer_addr(),
            node.gossip_addr()
        );
    }
    let first = nodes.first().map_or(0, |(node, _)| node.addr().port());
    let last = nodes.last().map_or(0, |(node, _)| node.addr().port());
    let _ = write!(
        text,
        "Every node serves every key. Try:\n  \
         redis-cli -p {first} set greeting hello\n  \
         redis-cli -p {last} get greeting\n  \
         redis-cli -p {first} cluster nodes\n  \
         redis-cli -c -p {first} cluster slots\n\
         Ctrl-C stops every node."
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LocalClusterArgs,
    }

    fn args(line: &[&str]) -> LocalClusterArgs {
        Cli::parse_from(std::iter::once("local-cluster").chain(line.iter().copied())).args
    }

    #[test]
    fn defaults_give_the_documented_ports() {
        let flags = args(&[]).node_flags().expect("plan");
        assert_eq!(flags.len(), 3);
        let n3 = &flags[2];
        assert_eq!(n3.node_id.as_deref(), Some("n3"));
        assert_eq!(n3.bind.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            (n3.port, n3.peer_port, n3.gossip_port, n3.metrics_port),
            (Some(7003), Some(17003), Some(17003), Some(9103))
        );
        assert_eq!(n3.seeds.as_deref(), Some("127.0.0.1:17001"));
        assert_eq!(flags[0].seeds, None, "n1 is the seed");
        assert_eq!(n3.gossip_profile, None);
    }

    #[test]
    fn every_node_config_loads() {
        let line =
            ["--nodes", "5", "--base-port", "8000", "--metrics-base-port", "0", "--gossip-profile", "fast"];
        for (i, flags) in args(&line).node_flags().expect("plan").iter().enumerate() {
            let config = Config::load(flags, std::iter::empty()).expect("valid config");
            assert_eq!(config.node_id(), format!("n{}", i + 1));
            assert_eq!(config.server.port, 8000 + i as u16);
            assert_eq!(config.gossip_port(), 17001 + i as u16);
            assert_eq!(config.metrics.port, 0);
            assert_eq!(config.gossip.profile, crate::config::GossipProfile::Fast);
            assert_eq!(config.cluster.seeds.is_empty(), i == 0);
        }
    }

    #[test]
    fn bad_port_plans_are_refused() {
        let overflow = args(&["--nodes", "3", "--base-port", "65534"]).node_flags();
        assert_eq!(overflow, Err(PortPlanError::Overflow { flag: "base-port", base: 65534, nodes: 3 }));
        let err = args(&["--nodes", "10", "--base-port", "9100"]).node_flags().expect_err("overlap");
        assert_eq!(
            err.to_string(),
            "the ports of --base-port (9100-9109) and --metrics-base-port (9101-9110) overlap"
        );
        assert!(
            args(&["--nodes", "10", "--base-port", "9100", "--metrics-base-port", "0"]).node_flags().is_ok()
        );
        let cli = |line: &[&str]| Cli::try_parse_from(std::iter::once("x").chain(line.iter().copied()));
        assert!(cli(&["--nodes", "0"]).is_err());
        assert!(cli(&["--gossip-profile", "wan"]).is_err());
    }
}
