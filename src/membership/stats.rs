//! Counters of the membership task, read by metrics and tests.

use std::sync::atomic::{AtomicU64, Ordering};

use super::envelope::Rejection;

/// Live counters, updated by the membership task. Read them with
/// [`snapshot`](Self::snapshot).
#[derive(Debug, Default)]
pub struct MembershipStats {
    packets_sent: AtomicU64,
    packets_received: AtomicU64,
    rejected_bad_magic: AtomicU64,
    rejected_bad_version: AtomicU64,
    rejected_wrong_cluster: AtomicU64,
    rejected_unknown_key: AtomicU64,
    rejected_bad_mac: AtomicU64,
    rejected_too_large: AtomicU64,
    rejected_malformed: AtomicU64,
    send_errors: AtomicU64,
    recv_errors: AtomicU64,
    foca_errors: AtomicU64,
    members_up: AtomicU64,
    members_down: AtomicU64,
    renames: AtomicU64,
    view_changes: AtomicU64,
    restarts: AtomicU64,
    duplicate_node_ids: AtomicU64,
    rejoins: AtomicU64,
    seed_resolve_failures: AtomicU64,
}

/// A copy of the counters at one moment. All counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Datagrams received, accepted or not.
    pub packets_received: u64,
    /// Dropped: not starting with our magic (garbage, another protocol).
    pub rejected_bad_magic: u64,
    /// Dropped: an envelope version this build does not speak.
    pub rejected_bad_version: u64,
    /// Dropped: from a node of another cluster name.
    pub rejected_wrong_cluster: u64,
    /// Dropped: MAC missing or unexpected, or sealed with a key we lack.
    pub rejected_unknown_key: u64,
    /// Dropped: MAC mismatch (wrong secret or altered packet).
    pub rejected_bad_mac: u64,
    /// Dropped: larger than the configured packet size.
    pub rejected_too_large: u64,
    /// Dropped by foca after a valid envelope: undecodable payload.
    pub rejected_malformed: u64,
    /// Sends that failed (unreachable peer, firewall); the loop went on.
    pub send_errors: u64,
    /// Receive errors on the socket; the loop went on.
    pub recv_errors: u64,
    /// Other errors foca returned (logged at debug).
    pub foca_errors: u64,
    /// Members foca reported up.
    pub members_up: u64,
    /// Members foca reported down (left or failed).
    pub members_down: u64,
    /// Identities foca replaced by a newer one at the same address.
    pub renames: u64,
    /// Member views published after the first.
    pub view_changes: u64,
    /// Node ids seen coming back with a later start time.
    pub restarts: u64,
    /// Node ids held by two live identities for longer than the grace.
    pub duplicate_node_ids: u64,
    /// Times this node was declared down and rejoined with a renewed
    /// identity.
    pub rejoins: u64,
    /// Seeds that did not resolve (DNS error or timeout) on an attempt.
    pub seed_resolve_failures: u64,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    PacketsSent,
    PacketsReceived,
    Rejected(Rejection),
    TooLarge,
    Malformed,
    SendError,
    RecvError,
    FocaError,
    MemberUp,
    MemberDown,
    Rename,
    ViewChange,
    Restart,
    DuplicateNodeId,
    Rejoin,
    SeedResolveFailure,
}

impl MembershipStats {
    /// Adds one to `counter`.
    pub(crate) fn bump(&self, counter: Counter) {
        self.cell(counter).fetch_add(1, Ordering::Relaxed);
    }

    fn cell(&self, counter: Counter) -> &AtomicU64 {
        match counter {
            Counter::PacketsSent => &self.packets_sent,
            Counter::PacketsReceived => &self.packets_received,
            Counter::Rejected(Rejection::BadMagic) => &self.rejected_bad_magic,
            Counter::Rejected(Rejection::BadVersion) => &self.rejected_bad_version,
            Counter::Rejected(Rejection::WrongCluster) => &self.rejected_wrong_cluster,
            Counter::Rejected(Rejection::UnknownKey) => &self.rejected_unknown_key,
            Counter::Rejected(Rejection::BadMac) => &self.rejected_bad_mac,
            Counter::TooLarge => &self.rejected_too_large,
            Counter::Malformed => &self.rejected_malformed,
            Counter::SendError => &self.send_errors,
            Counter::RecvError => &self.recv_errors,
            Counter::FocaError => &self.foca_errors,
            Counter::MemberUp => &self.members_up,
            Counter::MemberDown => &self.members_down,
            Counter::Rename => &self.renames,
            Counter::ViewChange => &self.view_changes,
            Counter::Restart => &self.restarts,
            Counter::DuplicateNodeId => &self.duplicate_node_ids,
            Counter::Rejoin => &self.rejoins,
            Counter::SeedResolveFailure => &self.seed_resolve_failures,
        }
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            packets_sent: get(&self.packets_sent),
            packets_received: get(&self.packets_received),
            rejected_bad_magic: get(&self.rejected_bad_magic),
            rejected_bad_version: get(&self.rejected_bad_version),
            rejected_wrong_cluster: get(&self.rejected_wrong_cluster),
            rejected_unknown_key: get(&self.rejected_unknown_key),
            rejected_bad_mac: get(&self.rejected_bad_mac),
            rejected_too_large: get(&self.rejected_too_large),
            rejected_malformed: get(&self.rejected_malformed),
            send_errors: get(&self.send_errors),
            recv_errors: get(&self.recv_errors),
            foca_errors: get(&self.foca_errors),
            members_up: get(&self.members_up),
            members_down: get(&self.members_down),
            renames: get(&self.renames),
            view_changes: get(&self.view_changes),
            restarts: get(&self.restarts),
            duplicate_node_ids: get(&self.duplicate_node_ids),
            rejoins: get(&self.rejoins),
            seed_resolve_failures: get(&self.seed_resolve_failures),
        }
    }
}

impl StatsSnapshot {
    /// All dropped datagrams, whatever the reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_bad_magic
            + self.rejected_bad_version
            + self.rejected_wrong_cluster
            + self.rejected_unknown_key
            + self.rejected_bad_mac
            + self.rejected_too_large
            + self.rejected_malformed
    }
}
