//! Copies of every slot on more than one node, and moving them when
//! membership changes (DESIGN.md section 5).
//!
//! - **Writes.** The owner of a slot runs a write, then sends the state of
//!   each key it touched, stamped with the key's version, to every other
//!   copy of the slot in the serving and the target ring
//!   ([`Topology::write_targets`]). A copy applies a state only over an
//!   older version, so order and repetition do not matter. In `sync` mode
//!   the client's reply waits for every live copy; a copy that does not
//!   answer turns the reply into `-TRYAGAIN` unless gossip has declared it
//!   down meanwhile.
//! - **Holding.** Each node knows which slots it holds a complete copy of.
//!   A node that becomes a copy of a slot pulls the slot from its serving
//!   owner in pages while the owner already sends it every new write
//!   ([`rebalance`]).
//! - **Handoff.** A joining node that holds everything it will hold asks
//!   the serving owners of the slots it will own to stop serving them
//!   (they route them to it from then on, once their writes in flight are
//!   done), then becomes `active`. A leaving node waits until the new
//!   copies hold its slots, hands its owned slots off the same way, then
//!   leaves.

mod holdings;
mod pages;
pub mod rebalance;
mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use smallvec::SmallVec;

pub use holdings::Holdings;
pub use stats::{RebalanceSnapshot, RebalanceStats};

use crate::cmd::{CmdError, ServerState};
use crate::config::ReplicationMode;
use crate::keyslot::{Slot, key_slot};
use crate::peer::{ItemState, ItemValue, PeerPool, PeerReply, PeerRequest, ReplicaItem, RequestBody};
use crate::protocol::Frame;
use crate::store::{Entry, Hash, Store, Value};
use crate::topology::Topology;

/// How writes reach copies and how fast slots move.
#[derive(Debug, Clone)]
pub struct ReplicationSettings {
    /// When a write is acknowledged.
    pub mode: ReplicationMode,
    /// Longest wait for a live copy in `sync` mode.
    pub timeout: Duration,
    /// Most bytes per second pulled while copying slots; 0 = unlimited.
    pub max_bytes_per_sec: u64,
}

/// A node's replication: the write path's copies, the pulls and handoffs.
pub struct Replication {
    store: Arc<Store>,
    server: Arc<ServerState>,
    pool: Arc<PeerPool>,
    settings: ReplicationSettings,
    holdings: Holdings,
    /// Slots handed off to their new owner (the id), published in the
    /// topology so routing sends them there.
    handoffs: parking_lot::Mutex<BTreeMap<Slot, String>>,
    stats: RebalanceStats,
}

/// A write that ran here and whose copies still have to apply it. Until it
/// is dropped, its slots count as having a write in flight (a handoff waits
/// for it).
#[must_use = "the write is not replicated until the pending copies are sent"]
pub struct Pending {
    replication: Arc<Replication>,
    slots: SmallVec<[Slot; 2]>,
    view_id: u64,
    batches: Vec<(String, Vec<ReplicaItem>)>,
}

/// A write refused before it ran because one of its slots was handed off.
#[derive(Debug)]
pub struct HandedOff;

impl Replication {
    /// Replication for the node whose store and state these are.
    pub fn new(
        store: Arc<Store>,
        server: Arc<ServerState>,
        pool: Arc<PeerPool>,
        settings: ReplicationSettings,
    ) -> Arc<Replication> {
        Arc::new(Replication {
            store,
            server,
            pool,
            settings,
            holdings: Holdings::new(),
            handoffs: parking_lot::Mutex::new(BTreeMap::new()),
            stats: RebalanceStats::default(),
        })
    }

    /// Which slots this node holds.
    pub fn holdings(&self) -> &Holdings {
        &self.holdings
    }

    /// Counters for `SHOAL REBALANCE`, `INFO` and metrics.
    pub fn stats(&self) -> &RebalanceStats {
        &self.stats
    }

    /// The figures `SHOAL REBALANCE` and `INFO cluster` show.
    pub fn info(&self) -> crate::cmd::RebalanceInfo {
        let topology = self.server.topology.load();
        let s = self.stats.snapshot();
        crate::cmd::RebalanceInfo {
            slots_to_pull: self.slots_to_pull(&topology).len() as u64,
            under_replicated: self.under_replicated(&topology) as u64,
            slots_held: self.holdings.held_count() as u64,
            keys_held: self.store.held_keys() as u64,
            keys_pulled: s.keys_pulled,
            bytes_pulled: s.bytes_pulled,
            slots_pulled: s.slots_pulled,
            pull_rate: s.pull_rate,
            keys_served: s.served,
            slots_handed_off: s.handed_off,
            replicated: s.replicated,
            replication_failures: s.failed,
            applied: s.applied,
            wrong_owner_answers: self
                .server
                .stats
                .wrong_owner_answers
                .load(std::sync::atomic::Ordering::Relaxed),
            request_retries: self.server.stats.cluster_retries.load(std::sync::atomic::Ordering::Relaxed),
            tryagain_replies: self.server.stats.tryagain_replies.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The node's store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The node's shared state (its published topology).
    pub fn server(&self) -> &Arc<ServerState> {
        &self.server
    }

    /// The handed-off slots that still stand in `topology`: this node
    /// serves the slot and its target owner is still the node it went to.
    pub fn current_handoffs(&self, topology: &Topology) -> BTreeMap<Slot, String> {
        let mut handoffs = self.handoffs.lock();
        handoffs.retain(|&slot, to| {
            topology.serving.owner(slot) == Some(topology.local_id.as_str())
                && topology.target.owner(slot) == Some(to.as_str())
                && topology.member(to).is_some()
        });
        handoffs.clone()
    }

    /// Publishes `topology` with the handoffs that still stand in it, and
    /// tells the store which slots it owns.
    pub fn publish(&self, mut topology: Topology) {
        topology.handoffs = Arc::new(self.current_handoffs(&topology));
        let local = topology.local_id.clone();
        self.store.set_owned(|slot| topology.owner(slot) == Some(local.as_str()));
        self.store.record_evictions(topology.has_peers());
        self.server.topology.store(Arc::new(topology));
    }

    /// Runs a write here (`run`) on `keys` and prepares their new states
    /// for the slots' other copies. Refused, without running, when one of
    /// the slots is handed off (the caller routes it anew).
    pub fn write<R>(
        self: &Arc<Self>,
        keys: &[&[u8]],
        run: impl FnOnce() -> R,
    ) -> Result<(R, Pending), HandedOff> {
        let mut slots: SmallVec<[Slot; 2]> = keys.iter().map(|k| key_slot(k)).collect();
        slots.sort_unstable();
        slots.dedup();
        let pending = self.begin(slots)?;
        let result = run();
        Ok((result, pending))
    }

    /// Marks writes to `slots` in flight, then checks (in that order, so a
    /// handoff either sees the write or the write sees the handoff) that
    /// this node still serves them.
    fn begin(self: &Arc<Self>, slots: SmallVec<[Slot; 2]>) -> Result<Pending, HandedOff> {
        for &slot in &slots {
            self.holdings.enter(slot);
        }
        let topology = self.server.topology.load();
        let pending =
            Pending { replication: self.clone(), slots, view_id: topology.view_id(), batches: Vec::new() };
        if pending.slots.iter().any(|&slot| topology.handoffs.contains_key(&slot)) {
            return Err(HandedOff);
        }
        Ok(pending)
    }

    /// The state of `key` here, as a copy must apply it: a deleted or
    /// expired key becomes a deletion newer than anything this node issued.
    fn item_of(&self, key: &[u8]) -> ReplicaItem {
        let mut locked = self.store.lock(key);
        let key_bytes = Bytes::copy_from_slice(key);
        match locked.get(key) {
            Some(entry) => {
                ReplicaItem { key: key_bytes, version: entry.version, state: Some(state_of(entry)) }
            }
            None => ReplicaItem { key: key_bytes, version: self.store.clock().next(), state: None },
        }
    }

    /// Applies states from a slot's owner. Returns how many changed
    /// something here.
    pub fn apply(&self, items: Vec<ReplicaItem>) -> usize {
        let mut applied = 0;
        for item in items {
            let slot = key_slot(&item.key);
            if !self.holdings.admit(slot, &item) {
                continue;
            }
            let entry = item.state.map(|state| entry_of(&self.store, state, item.version));
            if self.store.lock_slot(slot).apply(&item.key, item.version, entry) {
                applied += 1;
            }
        }
        self.stats.add_applied(applied as u64);
        applied
    }

    /// Answers a peer's `Holds`: the slots held here as a 2048-byte bitmap.
    pub fn holds_reply(&self) -> PeerReply {
        PeerReply::Frame(Frame::Bulk(self.holdings.bitmap()))
    }

    /// Serves a handoff: `from` is the target owner of `slots` and holds
    /// them; from now on this node routes them to it. Answers once the
    /// writes in flight on those slots are done.
    pub async fn handoff(&self, from: &str, slots: Vec<u16>) -> PeerReply {
        {
            let topology = self.server.topology.load();
            for &slot in &slots {
                if slot as usize >= crate::keyslot::SLOTS {
                    return PeerReply::Error(format!("no slot {slot}"));
                }
                if topology.serving.owner(slot) != Some(topology.local_id.as_str())
                    || topology.target.owner(slot) != Some(from)
                {
                    return PeerReply::Error(format!(
                        "slot {slot} does not move from here to {from} in this view"
                    ));
                }
            }
            let mut handoffs = self.handoffs.lock();
            for &slot in &slots {
                handoffs.insert(slot, from.to_string());
            }
        }
        self.publish(Topology::clone(&self.server.topology.load()));
        if !self.holdings.wait_idle(&slots, Duration::from_secs(10)).await {
            return PeerReply::Error("writes in flight did not finish".into());
        }
        self.stats.add_handed_off(slots.len() as u64);
        PeerReply::Frame(Frame::ok())
    }

    /// Hands this node's own `slots` to their target owners (a leaving
    /// node), waiting for writes in flight.
    pub async fn hand_off_locally(&self, slots: &[(Slot, String)]) {
        {
            let mut handoffs = self.handoffs.lock();
            for (slot, to) in slots {
                handoffs.insert(*slot, to.clone());
            }
        }
        self.publish(Topology::clone(&self.server.topology.load()));
        let slots: Vec<Slot> = slots.iter().map(|(s, _)| *s).collect();
        if !self.holdings.wait_idle(&slots, Duration::from_secs(10)).await {
            tracing::warn!("writes in flight did not finish before the handoff");
        }
        self.stats.add_handed_off(slots.len() as u64);
    }

    /// Sends one request to a peer by id, in the current view.
    async fn request(&self, node_id: &str, body: RequestBody) -> Result<PeerReply, String> {
        let (addr, view_id) = {
            let topology = self.server.topology.load();
            let member = topology.member(node_id).ok_or_else(|| format!("{node_id} is not a live member"))?;
            (member.peer_addr, topology.view_id())
        };
        let request = PeerRequest::internal(view_id, body);
        self.pool.request(node_id, addr, &request).await.map_err(|e| e.to_string())
    }
}

impl Pending {
    /// Adds the states of `keys` (and of keys evicted meanwhile) for the
    /// copies of their slots; nothing when no other node holds them.
    pub fn capture<'k>(&mut self, keys: impl IntoIterator<Item = &'k [u8]>) {
        let replication = self.replication.clone();
        let topology = replication.server.topology.load();
        if !topology.has_peers() {
            return;
        }
        self.view_id = topology.view_id();
        let evicted = replication.store.take_evicted();
        let keys: SmallVec<[&[u8]; 4]> = keys.into_iter().collect();
        let mut seen: SmallVec<[&[u8]; 4]> = SmallVec::new();
        for key in keys.iter().copied().chain(evicted.iter().map(|k| &k[..])) {
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let targets = topology.write_targets(key_slot(key));
            if targets.is_empty() {
                continue;
            }
            let item = replication.item_of(key);
            for target in targets {
                match self.batches.iter_mut().find(|(id, _)| id == target) {
                    Some((_, items)) => items.push(item.clone()),
                    None => self.batches.push((target.to_string(), vec![item.clone()])),
                }
            }
        }
    }

    /// Whether any copy has to apply something.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Sends the states to the copies. In `sync` mode, waits until every
    /// copy applied them; a copy that did not, and that gossip still
    /// counts as live, makes this a `-TRYAGAIN` error. In `async` mode,
    /// returns at once.
    pub async fn finish(self) -> Result<(), CmdError> {
        if self.batches.is_empty() {
            return Ok(());
        }
        match self.replication.settings.mode {
            ReplicationMode::Sync => {
                let timeout = self.replication.settings.timeout;
                self.send(timeout).await
            }
            ReplicationMode::Async => {
                let timeout = self.replication.settings.timeout;
                tokio::spawn(async move {
                    if let Err(e) = self.send(timeout).await {
                        tracing::debug!("asynchronous replication failed: {e}");
                    }
                });
                Ok(())
            }
        }
    }

    async fn send(mut self, timeout: Duration) -> Result<(), CmdError> {
        let replication = self.replication.clone();
        let batches = std::mem::take(&mut self.batches);
        let view_id = self.view_id;
        let sends = batches.into_iter().map(|(target, items)| {
            let replication = &replication;
            async move {
                let request = PeerRequest::internal(view_id, RequestBody::Replicate { items });
                let addr = replication.server.topology.load().member(&target).map(|m| m.peer_addr);
                let outcome = match addr {
                    None => return Ok(()),
                    Some(addr) => {
                        tokio::time::timeout(timeout, replication.pool.request(&target, addr, &request)).await
                    }
                };
                match outcome {
                    Ok(Ok(PeerReply::Frame(_))) => Ok(()),
                    Ok(Ok(other)) => Err((target, format!("{other:?}"))),
                    Ok(Err(e)) => Err((target, e.to_string())),
                    Err(_) => Err((target, "timed out".to_string())),
                }
            }
        });
        let results = futures::future::join_all(sends).await;
        replication.stats.add_replicated(results.len() as u64);
        let topology = replication.server.topology.load();
        for result in results {
            if let Err((target, why)) = result {
                if topology.member(&target).is_none() {
                    // Declared down meanwhile: acknowledged with the copies that exist.
                    continue;
                }
                replication.stats.add_failed(1);
                replication.server.stats.tryagain_replies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(CmdError::Other(format!(
                    "TRYAGAIN replica {target} did not acknowledge the write ({why}); it may or may not have been applied"
                )));
            }
        }
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        for &slot in &self.slots {
            self.replication.holdings.leave(slot);
        }
    }
}

/// A stored entry as a copy receives it.
fn state_of(entry: &Entry) -> ItemState {
    let value = match &entry.value {
        Value::Str(s) => ItemValue::Str(s.clone()),
        Value::Hash(h) => ItemValue::Hash(
            h.iter().map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v))).collect(),
        ),
    };
    ItemState { expires_at: entry.expires_at, value }
}

/// A received state as an entry, its bytes copied out of the frame they
/// arrived in (which they would otherwise keep alive).
fn entry_of(store: &Store, state: ItemState, version: u64) -> Entry {
    let value = match state.value {
        ItemValue::Str(s) => Value::Str(Bytes::copy_from_slice(&s)),
        ItemValue::Hash(fields) => {
            let mut hash = Hash::new();
            for (f, v) in fields {
                hash.insert(&f, &v);
            }
            Value::Hash(Box::new(hash))
        }
    };
    Entry { value, expires_at: state.expires_at, version, access: store.fresh_access() }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    use super::*;
    use crate::cmd::Settings;
    use crate::peer::{PeerConfig, decode_items};

    fn replication() -> Arc<Replication> {
        let store = Arc::new(Store::new());
        let server = Arc::new(ServerState::new(Settings::default(), CancellationToken::new()));
        let config = Arc::new(PeerConfig::new("test"));
        let pool = Arc::new(PeerPool::new(config, CancellationToken::new(), TaskTracker::new()));
        let settings = ReplicationSettings {
            mode: ReplicationMode::Sync,
            timeout: Duration::from_secs(1),
            max_bytes_per_sec: 0,
        };
        Replication::new(store, server, pool, settings)
    }

    fn string_item(key: &str, version: u64, value: &str) -> ReplicaItem {
        ReplicaItem {
            key: Bytes::copy_from_slice(key.as_bytes()),
            version,
            state: Some(ItemState {
                expires_at: 0,
                value: ItemValue::Str(Bytes::copy_from_slice(value.as_bytes())),
            }),
        }
    }

    fn value_of(r: &Replication, key: &str) -> Option<(Value, u64)> {
        r.store.lock(key.as_bytes()).get(key.as_bytes()).map(|e| (e.value.clone(), e.version))
    }

    #[test]
    fn copies_apply_only_newer_states() {
        let r = replication();
        r.holdings.hold(key_slot(b"k"));
        assert_eq!(r.apply(vec![string_item("k", 10, "a")]), 1);
        assert_eq!(r.apply(vec![string_item("k", 9, "old")]), 0, "an older state changes nothing");
        assert_eq!(r.apply(vec![string_item("k", 10, "same")]), 0, "nor does the same version again");
        assert_eq!(value_of(&r, "k"), Some((Value::Str(Bytes::from_static(b"a")), 10)));
        let deleted = ReplicaItem { key: Bytes::from_static(b"k"), version: 9, state: None };
        assert_eq!(r.apply(vec![deleted]), 0, "an older deletion leaves the key");
        let deleted = ReplicaItem { key: Bytes::from_static(b"k"), version: 11, state: None };
        assert_eq!(r.apply(vec![deleted]), 1);
        assert_eq!(value_of(&r, "k"), None);
        assert!(r.store.clock().next() > 11, "later local versions pass what was applied");
    }

    #[test]
    fn a_hash_travels_whole() {
        let r = replication();
        let mut hash = Hash::new();
        hash.insert(b"f1", b"v1");
        hash.insert(b"f2", b"v2");
        let expires_at = crate::store::now_ms() + 3_600_000;
        let entry = Entry { value: Value::Hash(Box::new(hash)), expires_at, version: 5, access: 0 };
        let state = state_of(&entry);
        r.apply(vec![ReplicaItem { key: Bytes::from_static(b"h"), version: 5, state: Some(state) }]);
        let got = r.store.lock(b"h").get(b"h").cloned().expect("applied");
        assert_eq!((got.value, got.expires_at, got.version), (entry.value, expires_at, 5));
    }

    /// Pulls `slot` page by page with a small budget, running `between`
    /// after each page; returns the keys received.
    fn pull_all(
        r: &Replication,
        slot: Slot,
        budget: usize,
        mut between: impl FnMut(usize),
    ) -> BTreeSet<Vec<u8>> {
        let mut keys = BTreeSet::new();
        let mut cursor = 0;
        for page in 0.. {
            let (items, next) = r.collect_page(slot, cursor, budget);
            assert!(!items.is_empty() || next.is_none(), "a page that is not the last holds something");
            keys.extend(items.into_iter().map(|i| i.key.to_vec()));
            between(page);
            match next {
                Some(next) => cursor = next,
                None => return keys,
            }
        }
        unreachable!()
    }

    #[test]
    fn pages_cover_a_slot_that_changes_between_them() {
        let r = replication();
        let key = |i: usize| format!("{{tag}}:{i:04}");
        let slot = key_slot(key(0).as_bytes());
        let version = r.store.clock().next();
        for i in 0..2000 {
            r.apply(vec![string_item(&key(i), version, &"x".repeat(50))]);
        }
        // Unchanged: every key exactly once, over many pages.
        let mut pages = 0;
        assert_eq!(pull_all(&r, slot, 4096, |p| pages = p + 1).len(), 2000);
        assert!(pages > 10, "{pages} pages");

        // Keys deleted and added while pulling (the table rehashes as it
        // grows): every key present throughout still arrives.
        let mut added = 2000;
        let received = pull_all(&r, slot, 4096, |page| {
            for i in (page * 7..page * 7 + 7).filter(|i| i % 3 == 0) {
                r.store.lock(key(i).as_bytes()).delete(key(i).as_bytes());
            }
            for _ in 0..300 {
                r.apply(vec![string_item(&key(added), version, "new")]);
                added += 1;
            }
        });
        let deleted_some_time: BTreeSet<usize> = (0..2000).filter(|i| i % 3 == 0).collect();
        for i in (0..2000).filter(|i| !deleted_some_time.contains(i)) {
            assert!(received.contains(key(i).as_bytes()), "{} was there throughout but not pulled", key(i));
        }
    }

    #[test]
    fn pulls_are_refused_for_slots_not_held_or_pullers_that_are_no_copy() {
        let r = replication();
        let PeerReply::Error(text) = r.page("other", 7, 0, 1024) else {
            panic!("served a slot it does not hold")
        };
        assert!(text.contains("not held"), "{text}");
        r.holdings.hold(7);
        let PeerReply::Error(text) = r.page("other", 7, 0, 1024) else { panic!("served a stranger") };
        assert!(text.contains("not a copy"), "{text}");
        let local = r.server.topology().local_id.clone();
        let PeerReply::Frame(Frame::Array(parts)) = r.page(&local, 7, 0, 1024) else {
            panic!("refused a copy")
        };
        let [Frame::Null, Frame::Bulk(items)] = &parts[..] else { panic!("{parts:?}") };
        assert_eq!(decode_items(items.clone()).unwrap(), vec![]);
        assert!(matches!(r.page(&local, 16384, 0, 1024), PeerReply::Error(_)));
    }
}
