//! Starting membership, and the handle the rest of the node talks to it
//! through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand10::SeedableRng;
use rand10::rngs::SmallRng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use xxhash_rust::xxh3::xxh3_64;

use super::config::MembershipConfig;
use super::envelope::Envelope;
use super::error::MembershipError;
use super::identity::NodeIdentity;
use super::seeds::{Backoff, SeedLoop};
use super::stats::{MembershipStats, StatsSnapshot};
use super::task::{Command, MembershipTask, Outputs};
use super::view::MemberView;
use crate::ring::MemberState;

/// Queued commands before senders wait.
const COMMAND_QUEUE: usize = 64;

/// Entry point of the membership layer.
pub struct Membership;

impl Membership {
    /// Starts gossiping on `socket` (bound by the caller) and returns the
    /// handle. Spawns the task that owns foca and the seed loop on the
    /// current tokio runtime; both stop when `shutdown` is cancelled or
    /// after [`MembershipHandle::leave`]. Cancelling without leaving looks
    /// like a crash to the other members.
    ///
    /// # Errors
    /// [`MembershipError::InvalidConfig`] for a bad configuration (also when
    /// no advertised address is set and the socket is bound to an
    /// unspecified IP), [`MembershipError::Socket`] when the socket's
    /// address cannot be read. Nothing is started then.
    pub fn start(
        config: MembershipConfig,
        socket: UdpSocket,
        shutdown: CancellationToken,
    ) -> Result<MembershipHandle, MembershipError> {
        let secrets: Vec<&[u8]> = config.secret.iter().map(Vec::as_slice).collect();
        let envelope = Envelope::new(&config.cluster_name, &secrets);
        let tuning = config.tuning(envelope.overhead())?;
        let local_addr = socket.local_addr()?;
        let gossip_addr = advertised_addr(config.advertise, local_addr)?;
        let identity = first_identity(&config, gossip_addr);
        let rng_seed = config.rng_seed.unwrap_or_else(|| {
            xxh3_64(config.node_id.as_bytes()) ^ identity.bump ^ u64::from(gossip_addr.port())
        });

        let stats = Arc::new(MembershipStats::default());
        let (view_tx, view_rx) = watch::channel(MemberView::default());
        let (identity_tx, identity_rx) = watch::channel(identity.clone());
        let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (seed_tx, seed_rx) = mpsc::unbounded_channel();
        let outputs = Outputs { view: view_tx, identity: identity_tx, stats: stats.clone() };
        let task = MembershipTask::new(
            identity,
            SmallRng::seed_from_u64(rng_seed),
            socket,
            local_addr,
            envelope,
            tuning.clone(),
            outputs,
        );
        let seed_loop = SeedLoop {
            seeds: config.seeds.clone(),
            added: seed_rx,
            commands: command_tx.clone(),
            view: view_rx.clone(),
            backoff: Backoff::new(tuning.seed_backoff_min, tuning.seed_interval),
            interval: tuning.seed_interval,
            stats: stats.clone(),
            stop: shutdown.child_token(),
        };

        let tracker = TaskTracker::new();
        tracker.spawn(task.run(command_rx, shutdown, seed_loop.stop.clone()).in_current_span());
        tracker.spawn(seed_loop.run().in_current_span());
        tracker.close();
        tracing::info!(node_id = %config.node_id, %gossip_addr, seeds = ?config.seeds, "membership started");

        Ok(MembershipHandle {
            commands: command_tx,
            seeds: seed_tx,
            view: view_rx,
            identity: identity_rx,
            stats,
            tracker,
            bootstrap: Bootstrap {
                expect: config.bootstrap_expect,
                deadline: Instant::now() + config.bootstrap_timeout,
                reached: AtomicBool::new(false),
            },
        })
    }
}

/// Talks to a running membership task. Dropping it does not stop the task:
/// cancel the shutdown token or call [`leave`](Self::leave).
#[derive(Debug)]
pub struct MembershipHandle {
    commands: mpsc::Sender<Command>,
    seeds: mpsc::UnboundedSender<String>,
    view: watch::Receiver<MemberView>,
    identity: watch::Receiver<NodeIdentity>,
    stats: Arc<MembershipStats>,
    tracker: TaskTracker,
    bootstrap: Bootstrap,
}

/// When the node counts as bootstrapped; once true, it stays true.
#[derive(Debug)]
struct Bootstrap {
    expect: usize,
    deadline: Instant,
    reached: AtomicBool,
}

impl MembershipHandle {
    /// The live member set; a new value is published on every change.
    pub fn members(&self) -> watch::Receiver<MemberView> {
        self.view.clone()
    }

    /// The local node's current identity (it changes with
    /// [`set_state`](Self::set_state) and after a rejoin).
    pub fn local_identity(&self) -> NodeIdentity {
        self.identity.borrow().clone()
    }

    /// Changes the local state: a new identity with a higher bump, which
    /// peers see replace the old one. Returns the new identity (or the
    /// current one when the state is already `state`).
    ///
    /// # Errors
    /// [`MembershipError::Stopped`] after shutdown or leave;
    /// [`MembershipError::IdentityChange`] if foca refused (the identity is
    /// unchanged).
    pub async fn set_state(&self, state: MemberState) -> Result<NodeIdentity, MembershipError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SetState { state, reply }).await?;
        answer.await.map_err(|_| MembershipError::Stopped)?
    }

    /// Tells the cluster this node leaves, then stops the membership task.
    /// Returns once the leave packets were sent; the view is then empty.
    ///
    /// # Errors
    /// [`MembershipError::Stopped`] if the task had already stopped.
    pub async fn leave(&self) -> Result<(), MembershipError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Leave { reply }).await?;
        answer.await.map_err(|_| MembershipError::Stopped)
    }

    /// Adds a seed (`host:port`) and announces to it at once; kept for
    /// later attempts like a configured seed.
    pub fn add_seed(&self, seed: impl Into<String>) {
        if self.seeds.send(seed.into()).is_err() {
            tracing::debug!("seed added after membership stopped");
        }
    }

    /// A copy of the counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Whether the node has seen `bootstrap_expect` members (itself
    /// included) or `bootstrap_timeout` has passed since start. Latches.
    pub fn is_bootstrapped(&self) -> bool {
        let b = &self.bootstrap;
        if b.reached.load(Ordering::Relaxed) {
            return true;
        }
        let reached = self.view.borrow().len() >= b.expect || Instant::now() >= b.deadline;
        if reached {
            b.reached.store(true, Ordering::Relaxed);
        }
        reached
    }

    /// Waits until the membership tasks have ended (after shutdown or
    /// leave); the socket is closed by then.
    pub async fn stopped(&self) {
        self.tracker.wait().await;
    }

    async fn send(&self, command: Command) -> Result<(), MembershipError> {
        self.commands.send(command).await.map_err(|_| MembershipError::Stopped)
    }
}

/// The advertised gossip address: the configured one, else the socket's
/// own when it is a concrete IP.
fn advertised_addr(configured: Option<SocketAddr>, local: SocketAddr) -> Result<SocketAddr, MembershipError> {
    match configured {
        Some(addr) if addr.port() == 0 => concrete(SocketAddr::new(addr.ip(), local.port()), "advertise"),
        Some(addr) => concrete(addr, "advertise"),
        None => concrete(local, "the socket's address (set advertise)"),
    }
}

fn concrete(addr: SocketAddr, what: &str) -> Result<SocketAddr, MembershipError> {
    if addr.ip().is_unspecified() {
        Err(MembershipError::InvalidConfig(format!("{what} must be a concrete IP, not {addr}")))
    } else {
        Ok(addr)
    }
}

/// The identity a process starts with: bump seeded from the wall clock so
/// that a restarted process wins over its previous self.
fn first_identity(config: &MembershipConfig, gossip_addr: SocketAddr) -> NodeIdentity {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    NodeIdentity {
        node_id: config.node_id.clone(),
        gossip_addr,
        peer_port: config.peer_port,
        client_port: config.client_port,
        metrics_port: config.metrics_port,
        state: config.initial_state,
        started_at: since_epoch.as_millis() as u64,
        bump: since_epoch.as_micros() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_address_rules() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:5000".parse().unwrap();
        assert_eq!(advertised_addr(None, local).unwrap(), local);
        assert!(advertised_addr(None, any).is_err());
        let public: SocketAddr = "10.1.2.3:0".parse().unwrap();
        assert_eq!(advertised_addr(Some(public), any).unwrap(), "10.1.2.3:5000".parse().unwrap());
        let explicit: SocketAddr = "10.1.2.3:7000".parse().unwrap();
        assert_eq!(advertised_addr(Some(explicit), any).unwrap(), explicit);
    }

    #[test]
    fn first_identity_uses_the_clock() {
        let config = MembershipConfig::new("n1");
        let id = first_identity(&config, "127.0.0.1:1".parse().unwrap());
        assert!(id.started_at > 1_600_000_000_000);
        assert!(id.bump / 1000 >= id.started_at);
        assert_eq!(id.state, MemberState::Active);
        assert!(!id.is_seed_placeholder());
    }
}
