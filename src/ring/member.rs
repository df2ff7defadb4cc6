//! The members a ring is built from: a stable node id and a lifecycle state.

/// Where a member is in its lifecycle. Placement ignores the state; it only
/// decides which ring a member takes part in (see
/// [`RingSnapshot::serving`](super::RingSnapshot::serving) and
/// [`RingSnapshot::target`](super::RingSnapshot::target)) and is part of the
/// view id.
///
/// The order (`Joining < Active < Leaving`) is used to pick one entry when a
/// member list names a node id twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberState {
    /// Pulling the slots it will own or replicate; in the target ring only.
    Joining,
    /// Serving its slots; in both the serving and the target ring.
    Active,
    /// Handing its slots over before it exits; in the serving ring only.
    Leaving,
}

impl MemberState {
    /// Whether a member in this state is placed on the serving ring, the one
    /// that routing and `CLUSTER SLOTS` use.
    pub fn is_serving(self) -> bool {
        matches!(self, MemberState::Active | MemberState::Leaving)
    }

    /// Whether a member in this state is placed on the target ring, the one
    /// the cluster is moving towards.
    pub fn is_in_target(self) -> bool {
        matches!(self, MemberState::Joining | MemberState::Active)
    }

    /// The byte that stands for this state in the view id encoding. Explicit
    /// rather than `as u8` so reordering the enum cannot change view ids.
    pub(super) fn view_byte(self) -> u8 {
        match self {
            MemberState::Joining => 1,
            MemberState::Active => 2,
            MemberState::Leaving => 3,
        }
    }
}

/// One member as the ring sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RingMember {
    /// The stable node id; its bytes are what the ring hashes.
    pub id: String,
    /// The member's lifecycle state.
    pub state: MemberState,
}

impl RingMember {
    /// A member with the given node id and state.
    pub fn new(id: impl Into<String>, state: MemberState) -> Self {
        RingMember { id: id.into(), state }
    }
}
