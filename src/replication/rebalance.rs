//! The background side of ownership changes: pulling the slots this node
//! must hold, becoming `active` after a join, dropping copies it no longer
//! holds, and the drain before a graceful leave.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Holdings, Replication};
use crate::keyslot::{SLOTS, Slot};
use crate::membership::MembershipHandle;
use crate::peer::{PeerReply, RequestBody, decode_items};
use crate::protocol::Frame;
use crate::ring::MemberState;
use crate::topology::Topology;

/// How often holdings are checked without a membership change.
const TICK: Duration = Duration::from_millis(100);
/// How often holdings are checked in full without any change.
const RESCAN: Duration = Duration::from_secs(5);
/// How long a node keeps a copy it no longer holds before dropping it.
const DROP_GRACE: Duration = Duration::from_secs(10);
/// About how many bytes one pulled page holds.
const PAGE_BYTES: u32 = 256 * 1024;
/// Slots pulled at the same time.
const PARALLEL_PULLS: usize = 8;

/// Keeps this node's holdings in line with the ring until `stop`: pulls
/// what it must hold, releases what it must not, and while it is
/// `joining`, becomes `active` once it may (see [`Replication`]).
pub async fn run(
    replication: Arc<Replication>,
    membership: Arc<MembershipHandle>,
    bootstrap_timeout: Duration,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let mut members = membership.members();
    let mut released: HashMap<Slot, Instant> = HashMap::new();
    let mut met = false;
    let mut rejoins = membership.stats().rejoins;
    // A node without seeds starts as a cluster of one. If it then meets an
    // active member that started before it, it is not the first node of a
    // cluster but one that restarted (or a group merging into an older
    // one): it must copy its slots like a joining node, not serve them empty.
    let mut started_alone = membership.local_identity().state == MemberState::Active;
    let mut seen: Option<Arc<Topology>> = None;
    let mut was_joining = false;
    let mut unsettled = true;
    let mut last_scan = Instant::now();
    loop {
        let now_rejoins = membership.stats().rejoins;
        if now_rejoins != rejoins {
            // Declared down and back (as `joining`): what this node held may
            // have missed writes accepted elsewhere meanwhile.
            rejoins = now_rejoins;
            replication.release_everything();
            unsettled = true;
        }
        let topology = replication.server.topology.load_full();
        if started_alone && replication.met_an_older_cluster(&topology) {
            started_alone = false;
            tracing::warn!("met active members older than this node: joining them and copying its slots");
            replication.release_everything();
            unsettled = true;
            if let Err(err) = membership.set_state(MemberState::Joining).await {
                tracing::warn!("could not turn joining: {err}");
            }
            continue;
        }
        // The node's own state is fresher than the published topology.
        let joining = membership.local_identity().state == MemberState::Joining;
        // The scans over every slot run only when something may have
        // changed: a new topology, a state change, or pulls still to do.
        // (And every few seconds, for copies written here just after the
        // node stopped being a target.)
        let changed = !seen.as_ref().is_some_and(|t| Arc::ptr_eq(t, &topology))
            || joining != was_joining
            || last_scan.elapsed() >= RESCAN;
        if changed || unsettled {
            last_scan = Instant::now();
            replication.settle(&topology, joining, &mut released);
            let to_pull = replication.slots_to_pull(&topology);
            unsettled = !to_pull.is_empty();
            if unsettled {
                replication.pull_slots(to_pull, &stop).await;
            }
            seen = Some(topology.clone());
            was_joining = joining;
        }
        replication.drop_released(&mut released);
        if membership.local_identity().state == MemberState::Joining {
            // Judged on the published topology, which the decision below
            // reads too (the member view may be ahead of it).
            met = met
                || (topology.has_peers() && membership.is_bootstrapped())
                || started.elapsed() >= bootstrap_timeout;
            if met && replication.may_activate(&topology).await {
                match membership.set_state(MemberState::Active).await {
                    Ok(_) => tracing::info!("joined the cluster: now active"),
                    Err(err) => tracing::warn!("could not become active: {err}"),
                }
            }
        }
        tokio::select! {
            _ = members.changed() => {}
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Hands a leaving node's data over: waits (until `deadline`) until the
/// target copies of every slot it holds in the serving ring hold it, then
/// hands its owned slots to their target owners. False if the deadline
/// passed first.
pub async fn drain(replication: &Replication, deadline: Instant) -> bool {
    loop {
        let topology = replication.server.topology.load_full();
        if replication.my_turn(&topology) && replication.new_copies_hold(&topology).await {
            let local = topology.local_id.as_str();
            let owned: Vec<(Slot, String)> = (0..SLOTS as Slot)
                .filter(|&slot| topology.serving.owner(slot) == Some(local))
                .filter_map(|slot| topology.target.owner(slot).map(|to| (slot, to.to_string())))
                .filter(|(_, to)| to != local)
                .collect();
            replication.hand_off_locally(&owned).await;
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(TICK).await;
    }
}

impl Replication {
    /// Releases every holding: the node copies its slots afresh before it
    /// serves them again. Its data stays, merged by version with what it
    /// pulls: if every node was declared down by the others (a partition
    /// that healed), nobody would be left to pull from, and dropping the
    /// data would lose it all.
    fn release_everything(&self) {
        for slot in 0..SLOTS as Slot {
            self.holdings.release(slot);
        }
        tracing::warn!("the cluster declared this node down: copying its slots afresh before serving them");
    }

    /// Whether this (active) node sees an active member that started
    /// clearly before it (start times are wall-clock milliseconds from
    /// different machines: a second of margin).
    fn met_an_older_cluster(&self, topology: &Topology) -> bool {
        let Some(local) = topology.local() else { return false };
        local.state == MemberState::Active
            && topology.members.iter().any(|m| {
                !m.is_local && m.state == MemberState::Active && m.started_at + 1000 < local.started_at
            })
    }

    /// Holds the slots this node serves with nothing to pull (unless it is
    /// `joining`: a topology published before it turned joining may still
    /// show it serving), and releases those it is no longer a copy of
    /// (see [`Replication::drop_released`]).
    fn settle(&self, topology: &Topology, joining: bool, released: &mut HashMap<Slot, Instant>) {
        if topology.serving.is_empty() {
            // Nobody serves yet: nothing to hold, nobody to pull from.
            return;
        }
        let local = topology.local_id.as_str();
        let now = Instant::now();
        for slot in 0..SLOTS as Slot {
            if topology.is_copy(local, slot) {
                released.remove(&slot);
                if !joining && !self.holdings.is_held(slot) && topology.serving.owner(slot) == Some(local) {
                    // The owner is the authority: if it has not got the
                    // data, nobody has.
                    self.holdings.hold(slot);
                }
                continue;
            }
            if self.holdings.is_held(slot) {
                self.holdings.release(slot);
                released.insert(slot, now);
            } else if !released.contains_key(&slot) && self.store.slot_len(slot) > 0 {
                // Dual writes received as a target that is no target any more.
                released.insert(slot, now);
            }
        }
    }

    /// Drops the copies released longer than the grace period ago.
    fn drop_released(&self, released: &mut HashMap<Slot, Instant>) {
        let now = Instant::now();
        released.retain(|&slot, since| {
            if now.duration_since(*since) < DROP_GRACE {
                return true;
            }
            let dropped = self.store.clear_slot(slot);
            if dropped > 0 {
                tracing::debug!(slot, keys = dropped, "dropped a copy this node no longer holds");
            }
            false
        });
    }

    /// The slots this node is a copy of but does not hold, with the node
    /// to pull each from (its serving owner).
    pub(super) fn slots_to_pull(&self, topology: &Topology) -> Vec<(Slot, String)> {
        if topology.serving.is_empty() {
            return Vec::new();
        }
        let local = topology.local_id.as_str();
        (0..SLOTS as Slot)
            .filter(|&slot| !self.holdings.is_held(slot) && topology.is_copy(local, slot))
            .filter_map(|slot| match topology.serving.owner(slot) {
                Some(owner) if owner != local => Some((slot, owner.to_string())),
                _ => None,
            })
            .collect()
    }

    /// Slots this node is a serving copy of without holding them yet.
    pub fn under_replicated(&self, topology: &Topology) -> usize {
        let local = topology.local_id.as_str();
        (0..SLOTS as Slot)
            .filter(|&slot| {
                !self.holdings.is_held(slot) && topology.serving.copies(slot).any(|id| id == local)
            })
            .count()
    }

    /// Slots this node must copy and does not hold yet.
    pub fn slots_left_to_pull(&self) -> usize {
        self.slots_to_pull(&self.server.topology.load()).len()
    }

    /// Pulls `slots`, several at a time, within the configured rate.
    async fn pull_slots(&self, slots: Vec<(Slot, String)>, stop: &CancellationToken) {
        let started = Instant::now();
        let bytes = AtomicU64::new(0);
        let view_id = self.server.topology.load().view_id();
        let pulls = futures::stream::iter(slots).map(|(slot, owner)| {
            let bytes = &bytes;
            async move {
                if self.server.topology.load().view_id() != view_id {
                    return; // re-planned on the next pass
                }
                match self.pull_slot(slot, &owner, bytes, started).await {
                    Ok(()) => {
                        if self.server.topology.load().is_copy(&self.server.topology.load().local_id, slot) {
                            self.holdings.hold(slot);
                            self.stats.add_slot_pulled();
                        }
                    }
                    Err(why) => tracing::debug!(slot, from = owner, "pull failed, retrying later: {why}"),
                }
            }
        });
        let mut pulls = pulls.buffer_unordered(PARALLEL_PULLS);
        loop {
            tokio::select! {
                next = pulls.next() => if next.is_none() { break },
                _ = stop.cancelled() => return,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.stats.set_pull_rate((bytes.load(Ordering::Relaxed) as f64 / secs) as u64);
        }
    }

    /// Pulls every page of `slot` from `owner`, applying each.
    async fn pull_slot(
        &self,
        slot: Slot,
        owner: &str,
        bytes: &AtomicU64,
        started: Instant,
    ) -> Result<(), String> {
        let mut cursor = 0u64;
        loop {
            let body = RequestBody::Pull { slot, cursor, max_bytes: PAGE_BYTES };
            let reply = self.request(owner, body).await?;
            let PeerReply::Frame(Frame::Array(parts)) = reply else {
                return Err(format!("{reply:?}"));
            };
            let [next, Frame::Bulk(page)] =
                <[Frame; 2]>::try_from(parts).map_err(|_| "bad page".to_string())?
            else {
                return Err("bad page".into());
            };
            let size = page.len() as u64;
            let items = decode_items(page).map_err(|e| e.to_string())?;
            let count = items.len() as u64;
            self.apply(items);
            self.stats.add_pulled(count, size);
            let total = bytes.fetch_add(size, Ordering::Relaxed) + size;
            self.throttle(total, started).await;
            match next {
                Frame::Null => return Ok(()),
                Frame::Bulk(b) if b.len() == 8 => {
                    cursor = u64::from_be_bytes(b[..].try_into().expect("8 bytes"))
                }
                other => return Err(format!("bad cursor {other:?}")),
            }
        }
    }

    /// Sleeps as long as pulling `total` bytes since `started` is ahead of
    /// `rebalance.max_bytes_per_sec`.
    async fn throttle(&self, total: u64, started: Instant) {
        let rate = self.settings.max_bytes_per_sec;
        if rate == 0 {
            return;
        }
        let due = started + Duration::from_secs_f64(total as f64 / rate as f64);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
    }

    /// Whether no member with a lower id than this node's is joining or
    /// leaving: one node changes state at a time.
    fn my_turn(&self, topology: &Topology) -> bool {
        !topology.members.iter().any(|m| {
            m.id < topology.local_id && matches!(m.state, MemberState::Joining | MemberState::Leaving)
        })
    }

    /// For a joining node: true when it may become `active` now. A new
    /// cluster (nobody serving) may at once; otherwise the node must hold
    /// every slot it will hold, it must be its turn, and the serving
    /// owners of the slots it will own must have handed them off.
    async fn may_activate(&self, topology: &Topology) -> bool {
        if topology.serving.is_empty() {
            return true;
        }
        if !self.slots_to_pull(topology).is_empty() || !self.my_turn(topology) {
            return false;
        }
        let local = topology.local_id.as_str();
        let mut by_owner: BTreeMap<&str, Vec<Slot>> = BTreeMap::new();
        for slot in 0..SLOTS as Slot {
            if topology.target.owner(slot) != Some(local) {
                continue;
            }
            match topology.serving.owner(slot) {
                Some(owner) if owner != local => by_owner.entry(owner).or_default().push(slot),
                _ => {}
            }
        }
        for (owner, slots) in by_owner {
            let count = slots.len();
            match self.request(owner, RequestBody::Handoff { slots }).await {
                Ok(PeerReply::Frame(_)) => tracing::debug!(from = owner, slots = count, "slots handed off"),
                Ok(other) => {
                    tracing::debug!(from = owner, "handoff refused: {other:?}");
                    return false;
                }
                Err(why) => {
                    tracing::debug!(from = owner, "handoff failed: {why}");
                    return false;
                }
            }
        }
        true
    }

    /// For a leaving node: whether every node that becomes a copy of a slot
    /// this node serves holds it.
    async fn new_copies_hold(&self, topology: &Topology) -> bool {
        let local = topology.local_id.as_str();
        let mut needed: BTreeMap<&str, Vec<Slot>> = BTreeMap::new();
        for slot in 0..SLOTS as Slot {
            if !topology.serving.copies(slot).any(|id| id == local) {
                continue;
            }
            for copy in topology.target.copies(slot).filter(|&id| id != local) {
                needed.entry(copy).or_default().push(slot);
            }
        }
        for (node, slots) in needed {
            let bitmap = match self.request(node, RequestBody::Holds).await {
                Ok(PeerReply::Frame(Frame::Bulk(bitmap))) => bitmap,
                other => {
                    tracing::debug!(node, "holdings query failed: {other:?}");
                    return false;
                }
            };
            if let Some(slot) = slots.iter().find(|&&s| !Holdings::bitmap_has(&bitmap, s)) {
                tracing::debug!(node, slot, "waiting for the new copy to hold its slots");
                return false;
            }
        }
        true
    }
}
