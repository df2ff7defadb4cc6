//! Placement: which node owns and which nodes replicate each of the 16384
//! slots.
//!
//! Consistent hashing with virtual nodes. Every member places `vnodes`
//! tokens on the 64-bit ring ([`vnode_token`]); slot `s` sits at position
//! `s << 50`, so the slots are spread evenly over the ring. A slot belongs to
//! the first token at or after its position, clockwise, and its replicas are
//! the next distinct nodes clockwise. Each token therefore owns a contiguous
//! run of slots, and a joining node takes slots only through its own tokens:
//! about `1/(N+1)` of them, every one moving to the joiner.
//!
//! The module is pure: a [`RingSnapshot`] is computed from a member set and
//! never changes; whoever tracks membership rebuilds it and publishes the new
//! one. Members carry a [`MemberState`]; [`RingSnapshot::serving`] places the
//! members that serve now, [`RingSnapshot::target`] the ones that will serve
//! when ownership changes under way finish, and [`moving_slots`] lists the
//! slots that differ between the two.
//!
//! Placement must agree between nodes and across versions, so the hash is
//! XXH3-64 with the fixed [`RING_SEED`] over explicit bytes, and golden-value
//! tests pin tokens, owners and view ids.

mod member;
mod moving;
mod placement;
mod ranges;
mod snapshot;
mod token;
mod view;

#[cfg(test)]
mod tests;

pub use member::{MemberState, RingMember};
pub use moving::moving_slots;
pub use ranges::SlotRange;
pub use snapshot::RingSnapshot;
pub use token::{RING_SEED, slot_position, vnode_token};
