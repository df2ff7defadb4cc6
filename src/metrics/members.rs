//! Members by liveness, including the ones declared down.
//!
//! The member view lists live members only (alive or suspect). To show
//! `down` members, this tracker remembers every node id that left the view
//! without having announced a graceful leave (its last state seen was not
//! `leaving`), until it comes back or [`DOWN_MEMORY`] passes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::membership::{Liveness, MemberView};
use crate::ring::MemberState;

/// How long a member declared down is counted as such.
pub const DOWN_MEMORY: Duration = Duration::from_secs(3600);

/// Member counts by liveness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberCounts {
    /// Live and answering probes (this node included).
    pub alive: usize,
    /// Live but suspected by gossip.
    pub suspect: usize,
    /// Gone without a graceful leave, within [`DOWN_MEMORY`].
    pub down: usize,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct MemberTracker {
    inner: Mutex<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    /// Live members and their last state seen.
    live: BTreeMap<String, (MemberState, Liveness)>,
    /// Members declared down, with when they were.
    down: BTreeMap<String, Instant>,
}

impl MemberTracker {
    /// Takes in a newly published view.
    pub fn observe(&self, view: &MemberView) {
        self.observe_at(view, Instant::now());
    }

    fn observe_at(&self, view: &MemberView, now: Instant) {
        if view.is_empty() {
            // This node left the cluster: keep the last picture.
            return;
        }
        let mut t = self.inner.lock();
        let live: BTreeMap<String, (MemberState, Liveness)> = view
            .members
            .iter()
            .map(|m| (m.identity.node_id.clone(), (m.identity.state, m.liveness)))
            .collect();
        let t = &mut *t;
        for (id, (state, _)) in &t.live {
            if !live.contains_key(id) && *state != MemberState::Leaving {
                t.down.insert(id.clone(), now);
            }
        }
        t.down.retain(|id, _| !live.contains_key(id));
        t.live = live;
    }

    /// Counts now.
    pub fn counts(&self) -> MemberCounts {
        self.counts_at(Instant::now())
    }

    fn counts_at(&self, now: Instant) -> MemberCounts {
        let mut t = self.inner.lock();
        t.down.retain(|_, since| now.duration_since(*since) < DOWN_MEMORY);
        let suspect = t.live.values().filter(|(_, l)| *l == Liveness::Suspect).count();
        MemberCounts { alive: t.live.len() - suspect, suspect, down: t.down.len() }
    }

    /// Ids of the members live now or remembered as down.
    pub fn known_ids(&self) -> Vec<String> {
        let t = self.inner.lock();
        t.live.keys().chain(t.down.keys()).cloned().collect()
    }
}

/// Feeds `tracker` every view published on `members` until `stop`.
pub async fn track_members(
    tracker: std::sync::Arc<MemberTracker>,
    mut members: watch::Receiver<MemberView>,
    stop: CancellationToken,
) {
    loop {
        tracker.observe(&members.borrow_and_update());
        tokio::select! {
            changed = members.changed() => if changed.is_err() { return },
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{MemberInfo, NodeIdentity};

    fn member(id: &str, state: MemberState, liveness: Liveness) -> MemberInfo {
        let mut identity = NodeIdentity::seed(([127, 0, 0, 1], 1).into());
        identity.node_id = id.to_string();
        identity.state = state;
        MemberInfo { identity, liveness, is_local: id == "n1" }
    }

    fn view(members: Vec<MemberInfo>) -> MemberView {
        MemberView { members, version: 1 }
    }

    #[test]
    fn failed_members_count_as_down_until_they_return_or_are_forgotten() {
        let t = MemberTracker::default();
        use Liveness::*;
        use MemberState::*;
        t.observe(&view(vec![
            member("n1", Active, Alive),
            member("n2", Active, Suspect),
            member("n3", Leaving, Alive),
        ]));
        assert_eq!(t.counts(), MemberCounts { alive: 2, suspect: 1, down: 0 });
        // n2 fails; n3 left gracefully.
        t.observe(&view(vec![member("n1", Active, Alive)]));
        assert_eq!(t.counts(), MemberCounts { alive: 1, suspect: 0, down: 1 });
        // n2 comes back.
        t.observe(&view(vec![member("n1", Active, Alive), member("n2", Joining, Alive)]));
        assert_eq!(t.counts(), MemberCounts { alive: 2, suspect: 0, down: 0 });
        t.observe(&view(vec![member("n1", Active, Alive)]));
        assert_eq!(t.counts().down, 1);
        assert_eq!(t.counts_at(Instant::now() + DOWN_MEMORY).down, 0);
        // Leaving the cluster ourselves keeps the last picture.
        t.observe(&MemberView::default());
        assert_eq!(t.counts().alive, 1);
    }
}
