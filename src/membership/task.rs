//! The task that owns foca: the only place the `Foca` value lives.
//!
//! Inputs arrive from three places, one at a time: commands from the handle
//! and the seed loop (an mpsc channel), datagrams from the UDP socket, and
//! due timers from the one [`TimerQueue`]. After every foca call the
//! accumulating runtime is drained: packets are sealed and sent, timers
//! queued, notifications counted and logged, and the member view is
//! recomputed and published if it changed. Nothing here ends the loop but
//! shutdown or a leave: send errors, receive errors and bad packets are
//! counted and logged.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use foca::{
    AccumulatingRuntime, Error as FocaError, Foca, NoCustomBroadcast, OwnedNotification, PostcardCodec,
};
use rand10::rngs::SmallRng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::config::Tuning;
use super::envelope::Envelope;
use super::error::MembershipError;
use super::identity::NodeIdentity;
use super::stats::{Counter, MembershipStats};
use super::timers::{TimerEvent, TimerQueue};
use super::view::{Liveness, MemberTable, MemberView};
use crate::ring::MemberState;

/// The foca instance type Shoal runs.
type Engine = Foca<NodeIdentity, PostcardCodec, SmallRng, NoCustomBroadcast>;

/// A request to the membership task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Change the local state (a new identity with a higher bump).
    SetState { state: MemberState, reply: oneshot::Sender<Result<NodeIdentity, MembershipError>> },
    /// Tell the cluster we leave, then stop.
    Leave { reply: oneshot::Sender<()> },
    /// Announce to these addresses (resolved seeds).
    Announce(Vec<SocketAddr>),
}

/// What the loop does after an input.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// One input, taken out of the `select!` so its futures are dropped before
/// the input is handled.
enum Input {
    Shutdown,
    Timers,
    Command(Option<Command>),
    Datagram(io::Result<(usize, SocketAddr)>),
}

/// Where the task publishes what it knows.
pub(crate) struct Outputs {
    pub(crate) view: watch::Sender<MemberView>,
    pub(crate) identity: watch::Sender<NodeIdentity>,
    pub(crate) stats: Arc<MembershipStats>,
}

/// The state owned by the membership task.
pub(crate) struct MembershipTask {
    foca: Engine,
    runtime: AccumulatingRuntime<NodeIdentity>,
    timers: TimerQueue,
    table: MemberTable,
    socket: UdpSocket,
    local_addr: SocketAddr,
    envelope: Envelope,
    tuning: Tuning,
    out: Outputs,
    send_buf: Vec<u8>,
}

impl MembershipTask {
    /// A task for `identity` on `socket`; publishes the first view (the
    /// local node alone) at once.
    pub(crate) fn new(
        identity: NodeIdentity,
        rng: SmallRng,
        socket: UdpSocket,
        local_addr: SocketAddr,
        envelope: Envelope,
        tuning: Tuning,
        out: Outputs,
    ) -> MembershipTask {
        let foca = Foca::new(identity, tuning.foca.clone(), rng, PostcardCodec);
        let mut task = MembershipTask {
            foca,
            runtime: AccumulatingRuntime::new(),
            timers: TimerQueue::default(),
            table: MemberTable::new(tuning.duplicate_grace),
            socket,
            local_addr,
            envelope,
            send_buf: Vec::with_capacity(tuning.packet_size),
            tuning,
            out,
        };
        task.refresh_view();
        task
    }

    /// Runs until `shutdown` is cancelled or the node leaves. Cancels `stop`
    /// on the way out, whatever the reason.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
        stop: CancellationToken,
    ) {
        let _stop_on_exit = stop.drop_guard();
        // One byte more than allowed, to tell an oversized datagram from a
        // full-sized one.
        let mut recv_buf = vec![0u8; self.tuning.packet_size + 1];
        let mut commands_open = true;
        self.timers.schedule(Instant::now() + self.tuning.housekeeping, TimerEvent::Housekeeping);
        loop {
            let deadline = self.timers.next_deadline();
            let input = tokio::select! {
                biased;
                _ = shutdown.cancelled() => Input::Shutdown,
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => Input::Timers,
                command = commands.recv(), if commands_open => Input::Command(command),
                received = self.socket.recv_from(&mut recv_buf) => Input::Datagram(received),
            };
            let flow = match input {
                Input::Shutdown => Flow::Stop,
                Input::Timers => self.fire_due_timers().await,
                Input::Command(Some(command)) => self.handle_command(command).await,
                Input::Command(None) => {
                    commands_open = false;
                    Flow::Continue
                }
                Input::Datagram(received) => self.handle_datagram(received, &recv_buf).await,
            };
            if flow == Flow::Stop {
                break;
            }
        }
        tracing::debug!(node_id = %self.foca.identity().node_id, "membership task stopped");
    }

    async fn fire_due_timers(&mut self) -> Flow {
        let now = Instant::now();
        while let Some(event) = self.timers.pop_due(now) {
            match event {
                TimerEvent::Foca(timer) => {
                    let result = self.foca.handle_timer(timer, &mut self.runtime);
                    self.note_foca_error(result, "timer");
                    self.drain().await;
                }
                TimerEvent::Housekeeping => {
                    self.timers.schedule(now + self.tuning.housekeeping, TimerEvent::Housekeeping);
                    self.refresh_view();
                }
            }
        }
        Flow::Continue
    }

    async fn handle_command(&mut self, command: Command) -> Flow {
        match command {
            Command::SetState { state, reply } => {
                let result = self.change_state(state).await;
                let _receiver_may_have_given_up = reply.send(result);
                Flow::Continue
            }
            Command::Leave { reply } => {
                let result = self.foca.leave_cluster(&mut self.runtime);
                self.note_foca_error(result, "leave");
                self.drain().await;
                self.table.clear();
                self.out.view.send_replace(self.table.view().clone());
                tracing::info!(node_id = %self.foca.identity().node_id, "left the cluster");
                let _receiver_may_have_given_up = reply.send(());
                Flow::Stop
            }
            Command::Announce(addrs) => {
                let own = [self.foca.identity().gossip_addr, self.local_addr];
                for addr in addrs.into_iter().filter(|a| !own.contains(a)) {
                    let result = self.foca.announce(NodeIdentity::seed(addr), &mut self.runtime);
                    self.note_foca_error(result, "announce");
                    self.drain().await;
                }
                Flow::Continue
            }
        }
    }

    async fn change_state(&mut self, state: MemberState) -> Result<NodeIdentity, MembershipError> {
        let current = self.foca.identity();
        if current.state == state {
            return Ok(current.clone());
        }
        let next = current.with_state(state);
        let result = self.foca.change_identity(next.clone(), &mut self.runtime);
        self.drain().await;
        result.map_err(|e| MembershipError::IdentityChange(e.to_string()))?;
        tracing::info!(node_id = %next.node_id, ?state, bump = next.bump, "state changed");
        Ok(next)
    }

    async fn handle_datagram(&mut self, received: io::Result<(usize, SocketAddr)>, buf: &[u8]) -> Flow {
        let (len, from) = match received {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors (connection refused) can surface here; the
                // socket is still fine.
                self.out.stats.bump(Counter::RecvError);
                tracing::debug!(%error, "gossip receive error");
                tokio::task::yield_now().await;
                return Flow::Continue;
            }
        };
        self.out.stats.bump(Counter::PacketsReceived);
        if len > self.tuning.packet_size {
            self.out.stats.bump(Counter::TooLarge);
            tracing::debug!(%from, len, "oversized gossip packet dropped");
            return Flow::Continue;
        }
        let payload = match self.envelope.open(&buf[..len]) {
            Ok(payload) => payload,
            Err(reason) => {
                self.out.stats.bump(Counter::Rejected(reason));
                tracing::debug!(%from, %reason, "gossip packet rejected");
                return Flow::Continue;
            }
        };
        let result = self.foca.handle_data(payload, &mut self.runtime);
        if let Err(error) = &result
            && matches!(error, FocaError::Decode(_) | FocaError::MalformedPacket | FocaError::DataTooBig)
        {
            self.out.stats.bump(Counter::Malformed);
            tracing::debug!(%from, %error, "malformed gossip payload");
        } else {
            self.note_foca_error(result, "data");
        }
        self.drain().await;
        Flow::Continue
    }

    /// Counts and logs a failed foca call; foca stays usable after each.
    fn note_foca_error(&self, result: Result<(), FocaError>, during: &'static str) {
        if let Err(error) = result {
            self.out.stats.bump(Counter::FocaError);
            tracing::debug!(during, %error, "foca error");
        }
    }

    /// Acts on everything the last foca call produced.
    async fn drain(&mut self) {
        while let Some((dst, data)) = self.runtime.to_send() {
            self.send(dst.gossip_addr, &data).await;
        }
        let now = Instant::now();
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.timers.schedule(now + after, TimerEvent::Foca(timer));
        }
        while let Some(notification) = self.runtime.to_notify() {
            self.on_notification(notification);
        }
        self.refresh_view();
    }

    async fn send(&mut self, to: SocketAddr, payload: &[u8]) {
        self.envelope.seal(payload, &mut self.send_buf);
        match self.socket.send_to(&self.send_buf, to).await {
            Ok(_) => self.out.stats.bump(Counter::PacketsSent),
            Err(error) => {
                self.out.stats.bump(Counter::SendError);
                tracing::debug!(%to, %error, "gossip send failed");
            }
        }
    }

    fn on_notification(&self, notification: OwnedNotification<NodeIdentity>) {
        let stats = &self.out.stats;
        let me = &self.foca.identity().node_id;
        match notification {
            OwnedNotification::MemberUp(id) => {
                stats.bump(Counter::MemberUp);
                tracing::debug!(node_id = %me, member = %id.node_id, addr = %id.gossip_addr, "member up");
            }
            OwnedNotification::MemberDown(id) => {
                stats.bump(Counter::MemberDown);
                tracing::info!(node_id = %me, member = %id.node_id, addr = %id.gossip_addr, "member down");
            }
            OwnedNotification::Rename(old, new) => {
                stats.bump(Counter::Rename);
                tracing::debug!(node_id = %me, member = %new.node_id, from = old.bump, to = new.bump, "identity replaced");
            }
            OwnedNotification::Active => tracing::debug!(node_id = %me, "connected to the cluster"),
            OwnedNotification::Idle => tracing::info!(node_id = %me, "no live peers"),
            OwnedNotification::Defunct => tracing::debug!(node_id = %me, "own identity is down"),
            OwnedNotification::Rejoin(id) => {
                stats.bump(Counter::Rejoin);
                tracing::warn!(node_id = %me, bump = id.bump, "declared down by the cluster; rejoined");
            }
        }
    }

    /// Recomputes the view; publishes it and the local identity if changed.
    fn refresh_view(&mut self) {
        let local = self.foca.identity();
        if *self.out.identity.borrow() != *local {
            self.out.identity.send_replace(local.clone());
        }
        let live = self.foca.iter_members().filter_map(|m| {
            let liveness = match m.state() {
                foca::State::Alive => Liveness::Alive,
                foca::State::Suspect => Liveness::Suspect,
                foca::State::Down => return None,
            };
            Some((m.id(), liveness))
        });
        let refresh = self.table.refresh(local, live, Instant::now());
        let stats = &self.out.stats;
        for restarted in &refresh.restarts {
            stats.bump(Counter::Restart);
            tracing::info!(
                node_id = %local.node_id,
                member = %restarted.node_id,
                addr = %restarted.gossip_addr,
                started_at = restarted.started_at,
                "member restarted"
            );
        }
        for (kept, others) in &refresh.duplicates {
            stats.bump(Counter::DuplicateNodeId);
            let others: Vec<String> = others.iter().map(|o| o.gossip_addr.to_string()).collect();
            tracing::warn!(
                node_id = %local.node_id,
                member = %kept.node_id,
                kept = %kept.gossip_addr,
                others = ?others,
                "duplicate node id: two live nodes use it; keeping the higher bump"
            );
        }
        if refresh.changed {
            let view = self.table.view().clone();
            if view.version > 1 {
                stats.bump(Counter::ViewChange);
            }
            self.out.view.send_replace(view);
        }
    }
}
