//! The published member set, and the pure bookkeeping that derives it from
//! foca's live members.
//!
//! foca keys members by gossip address; Shoal keys them by node id. Several
//! live identities can share a node id (a restart on a new address before
//! the old one is declared down, or two machines configured with one id);
//! the view keeps the one with the highest
//! [`precedence`](NodeIdentity::precedence). Because the view is recomputed
//! from foca's member list after every foca call, a state change (foca's
//! `Rename`) replaces an entry in one step, and a down notification for an
//! identity that was already superseded changes nothing.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::identity::NodeIdentity;
use crate::ring::RingMember;

/// foca's opinion of a live member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Liveness {
    /// Answering probes.
    Alive,
    /// Missed a probe; declared down unless it refutes in time. Still a
    /// member.
    Suspect,
}

/// One member of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's current identity (node id, addresses, state, start).
    pub identity: NodeIdentity,
    /// Alive or suspect (down members are not in the view).
    pub liveness: Liveness,
    /// Whether this entry is the local node.
    pub is_local: bool,
}

/// The live members as one node sees them: at most one entry per node id,
/// the local node included, sorted by node id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberView {
    /// Live members sorted by node id.
    pub members: Vec<MemberInfo>,
    /// Increases by one with every published change.
    pub version: u64,
}

impl MemberView {
    /// The member with `node_id`, if live.
    pub fn get(&self, node_id: &str) -> Option<&MemberInfo> {
        self.members
            .binary_search_by(|m| m.identity.node_id.as_str().cmp(node_id))
            .ok()
            .map(|i| &self.members[i])
    }

    /// Number of live members, the local node included.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the view is empty (only after the node left the cluster).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether any member other than the local node is live.
    pub fn has_peers(&self) -> bool {
        self.members.iter().any(|m| !m.is_local)
    }

    /// The members as the ring takes them: node id and state.
    pub fn ring_members(&self) -> Vec<RingMember> {
        self.members.iter().map(|m| RingMember::new(m.identity.node_id.clone(), m.identity.state)).collect()
    }
}

/// What one refresh found besides the new member list.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Refresh {
    /// Whether the member list changed (a new view version was made).
    pub(crate) changed: bool,
    /// Node ids whose current identity now has a later start: restarts.
    pub(crate) restarts: Vec<NodeIdentity>,
    /// Node ids that became duplicates: (kept identity, the others).
    pub(crate) duplicates: Vec<(NodeIdentity, Vec<NodeIdentity>)>,
}

/// A node id held by more than one live identity.
#[derive(Debug)]
struct Conflict {
    /// The processes involved, as (address, start time).
    instances: Vec<(SocketAddr, u64)>,
    since: Instant,
    reported: bool,
}

/// Derives the view from foca's live members and tracks node id conflicts.
#[derive(Debug)]
pub(crate) struct MemberTable {
    view: MemberView,
    conflicts: BTreeMap<String, Conflict>,
    duplicate_grace: Duration,
}

impl MemberTable {
    /// An empty table; `duplicate_grace` as in
    /// [`GossipOverrides::duplicate_grace`](super::GossipOverrides::duplicate_grace).
    pub(crate) fn new(duplicate_grace: Duration) -> MemberTable {
        MemberTable { view: MemberView::default(), conflicts: BTreeMap::new(), duplicate_grace }
    }

    /// The current view.
    pub(crate) fn view(&self) -> &MemberView {
        &self.view
    }

    /// Recomputes the view from the local identity and foca's live members.
    pub(crate) fn refresh<'a>(
        &mut self,
        local: &NodeIdentity,
        live: impl IntoIterator<Item = (&'a NodeIdentity, Liveness)>,
        now: Instant,
    ) -> Refresh {
        let mut groups: BTreeMap<&str, Vec<MemberInfo>> = BTreeMap::new();
        let local_info = MemberInfo { identity: local.clone(), liveness: Liveness::Alive, is_local: true };
        groups.entry(&local.node_id).or_default().push(local_info);
        for (identity, liveness) in live {
            if identity.is_seed_placeholder() {
                continue;
            }
            let info = MemberInfo { identity: identity.clone(), liveness, is_local: false };
            groups.entry(&identity.node_id).or_default().push(info);
        }

        let mut refresh = Refresh::default();
        let mut members = Vec::with_capacity(groups.len());
        for (node_id, mut group) in groups {
            group.sort_by(|a, b| b.identity.precedence(&a.identity));
            self.track_conflict(node_id, &group, now, &mut refresh);
            members.push(group.swap_remove(0));
        }
        // Node ids that vanished entirely end their conflicts too.
        self.conflicts
            .retain(|id, _| members.binary_search_by(|m| m.identity.node_id.as_str().cmp(id)).is_ok());
        self.publish(members, &mut refresh);
        refresh
    }

    /// Replaces the view with an empty one (the node left the cluster).
    pub(crate) fn clear(&mut self) {
        self.conflicts.clear();
        self.view = MemberView { members: Vec::new(), version: self.view.version + 1 };
    }

    /// Starts, continues or ends the conflict for `node_id`; `group` is
    /// sorted newest first.
    fn track_conflict(&mut self, node_id: &str, group: &[MemberInfo], now: Instant, refresh: &mut Refresh) {
        let mut instances: Vec<(SocketAddr, u64)> =
            group.iter().map(|m| (m.identity.gossip_addr, m.identity.started_at)).collect();
        instances.sort_unstable();
        instances.dedup();
        if instances.len() < 2 {
            self.conflicts.remove(node_id);
            return;
        }
        let conflict = self.conflicts.entry(node_id.to_string()).or_insert_with(|| Conflict {
            instances: instances.clone(),
            since: now,
            reported: false,
        });
        if conflict.instances != instances {
            *conflict = Conflict { instances, since: now, reported: false };
        }
        if !conflict.reported && now.duration_since(conflict.since) >= self.duplicate_grace {
            conflict.reported = true;
            let others = group[1..].iter().map(|m| m.identity.clone()).collect();
            refresh.duplicates.push((group[0].identity.clone(), others));
        }
    }

    fn publish(&mut self, members: Vec<MemberInfo>, refresh: &mut Refresh) {
        if members == self.view.members {
            return;
        }
        for member in &members {
            if let Some(old) = self.view.get(&member.identity.node_id)
                && member.identity.started_at.cmp(&old.identity.started_at) == Ordering::Greater
            {
                refresh.restarts.push(member.identity.clone());
            }
        }
        refresh.changed = true;
        self.view = MemberView { members, version: self.view.version + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::MemberState;

    fn id(node: &str, port: u16, started_at: u64, bump: u64) -> NodeIdentity {
        NodeIdentity {
            node_id: node.into(),
            gossip_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            peer_port: port,
            client_port: port,
            metrics_port: 0,
            state: MemberState::Active,
            started_at,
            bump,
        }
    }

    fn ids(view: &MemberView) -> Vec<(&str, u16)> {
        view.members.iter().map(|m| (m.identity.node_id.as_str(), m.identity.gossip_addr.port())).collect()
    }

    #[test]
    fn sorted_by_node_id_with_local_first_class() {
        let mut table = MemberTable::new(Duration::from_secs(5));
        let local = id("b", 2, 1, 1);
        let (a, c) = (id("a", 1, 1, 1), id("c", 3, 1, 1));
        let now = Instant::now();
        let refresh = table.refresh(&local, [(&c, Liveness::Alive), (&a, Liveness::Suspect)], now);
        assert!(refresh.changed);
        assert_eq!(ids(table.view()), [("a", 1), ("b", 2), ("c", 3)]);
        assert_eq!(table.view().version, 1);
        assert!(table.view().get("b").unwrap().is_local);
        assert_eq!(table.view().get("a").unwrap().liveness, Liveness::Suspect);
        assert!(table.view().has_peers());

        // Same input: no new version.
        let again = table.refresh(&local, [(&c, Liveness::Alive), (&a, Liveness::Suspect)], now);
        assert!(!again.changed);
        assert_eq!(table.view().version, 1);
    }

    #[test]
    fn state_change_replaces_in_place() {
        let mut table = MemberTable::new(Duration::from_secs(5));
        let local = id("a", 1, 1, 1);
        let peer = id("b", 2, 7, 10);
        let now = Instant::now();
        table.refresh(&local, [(&peer, Liveness::Alive)], now);
        let active = peer.with_state(MemberState::Leaving);
        let refresh = table.refresh(&local, [(&active, Liveness::Alive)], now);
        assert!(refresh.changed && refresh.restarts.is_empty());
        assert_eq!(table.view().get("b").unwrap().identity.state, MemberState::Leaving);
    }

    #[test]
    fn restart_on_new_address_wins_and_is_not_a_duplicate_within_grace() {
        let mut table = MemberTable::new(Duration::from_secs(5));
        let local = id("a", 1, 1, 1);
        let old = id("b", 2, 100, 100);
        let new = id("b", 3, 200, 200);
        let t0 = Instant::now();
        table.refresh(&local, [(&old, Liveness::Alive)], t0);
        let refresh = table.refresh(&local, [(&old, Liveness::Alive), (&new, Liveness::Alive)], t0);
        assert_eq!(refresh.restarts, std::slice::from_ref(&new));
        assert_eq!(ids(table.view()), [("a", 1), ("b", 3)]);

        // The old process is declared down before the grace ends.
        let later = t0 + Duration::from_secs(3);
        let refresh = table.refresh(&local, [(&new, Liveness::Alive)], later);
        assert!(!refresh.changed && refresh.duplicates.is_empty());
        let refresh = table.refresh(&local, [(&new, Liveness::Alive)], t0 + Duration::from_secs(10));
        assert!(refresh.duplicates.is_empty());
    }

    #[test]
    fn lasting_conflict_is_reported_once() {
        let mut table = MemberTable::new(Duration::from_secs(5));
        let local = id("a", 1, 1, 1);
        let x = id("b", 2, 100, 100);
        let y = id("b", 3, 101, 101);
        let t0 = Instant::now();
        let both = [(&x, Liveness::Alive), (&y, Liveness::Alive)];
        assert!(table.refresh(&local, both, t0).duplicates.is_empty());
        let refresh = table.refresh(&local, both, t0 + Duration::from_secs(5));
        assert_eq!(refresh.duplicates, [(y.clone(), vec![x.clone()])]);
        assert!(table.refresh(&local, both, t0 + Duration::from_secs(6)).duplicates.is_empty());

        // A state change of one side keeps it the same conflict.
        let y2 = y.with_state(MemberState::Leaving);
        let moved = [(&x, Liveness::Alive), (&y2, Liveness::Alive)];
        assert!(table.refresh(&local, moved, t0 + Duration::from_secs(7)).duplicates.is_empty());
        assert_eq!(table.view().get("b").unwrap().identity, y2);

        // Resolved, then a new conflict is reported again.
        table.refresh(&local, [(&y2, Liveness::Alive)], t0 + Duration::from_secs(8));
        table.refresh(&local, both, t0 + Duration::from_secs(9));
        let refresh = table.refresh(&local, both, t0 + Duration::from_secs(15));
        assert_eq!(refresh.duplicates.len(), 1);
    }

    #[test]
    fn conflict_with_the_local_node_counts_and_higher_bump_is_shown() {
        let mut table = MemberTable::new(Duration::from_secs(1));
        let local = id("a", 1, 100, 100);
        let twin = id("a", 2, 100, 150);
        let t0 = Instant::now();
        table.refresh(&local, [(&twin, Liveness::Alive)], t0);
        assert_eq!(ids(table.view()), [("a", 2)]);
        assert!(!table.view().get("a").unwrap().is_local);
        let refresh = table.refresh(&local, [(&twin, Liveness::Alive)], t0 + Duration::from_secs(1));
        assert_eq!(refresh.duplicates.len(), 1);
    }

    #[test]
    fn seed_placeholders_never_show() {
        let mut table = MemberTable::new(Duration::from_secs(1));
        let local = id("a", 1, 1, 1);
        let seed = NodeIdentity::seed(SocketAddr::from(([127, 0, 0, 1], 9)));
        table.refresh(&local, [(&seed, Liveness::Alive)], Instant::now());
        assert_eq!(ids(table.view()), [("a", 1)]);
        assert!(!table.view().has_peers());
    }

    #[test]
    fn clear_empties_with_a_new_version() {
        let mut table = MemberTable::new(Duration::from_secs(1));
        table.refresh(&id("a", 1, 1, 1), [], Instant::now());
        table.clear();
        assert!(table.view().is_empty());
        assert_eq!(table.view().version, 2);
    }

    #[test]
    fn ring_members_carry_id_and_state() {
        let mut table = MemberTable::new(Duration::from_secs(1));
        let local = id("a", 1, 1, 1).with_state(MemberState::Joining);
        table.refresh(&local, [], Instant::now());
        assert_eq!(table.view().ring_members(), [RingMember::new("a", MemberState::Joining)]);
    }
}
