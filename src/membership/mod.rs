//! Cluster membership: who is in the cluster, in which state, at which
//! addresses.
//!
//! SWIM gossip over UDP with [`foca`]. One task owns the `Foca` value
//! (`task`); the rest of the node talks to it through a
//! [`MembershipHandle`] and reads the live members from a
//! [`MemberView`] published on a `tokio::sync::watch`. Pure pieces sit in
//! their own files: the foca identity ([`NodeIdentity`]), the packet
//! envelope (`envelope`: magic, version, cluster tag, MAC), the member table
//! that keys foca's members by node id (`view`), the ordered timer queue
//! (`timers`) and the settings ([`MembershipConfig`]). `seeds` resolves and
//! re-announces to the seeds beside the foca task.
//!
//! ```text
//!  handle ──commands──▶ task (owns Foca) ◀──datagrams── UDP socket
//!  seed loop ─announce─▶   │  ▲ one TimerQueue
//!                          ▼
//!             watch<MemberView>, watch<NodeIdentity>, stats
//! ```

mod config;
mod envelope;
mod error;
mod handle;
mod identity;
mod seeds;
mod stats;
mod task;
mod timers;
mod view;

pub use config::{GossipOverrides, GossipProfile, MembershipConfig};
pub use error::MembershipError;
pub use handle::{Membership, MembershipHandle};
pub use identity::{MAX_NODE_ID_LEN, NodeIdentity};
pub use stats::{MembershipStats, StatsSnapshot};
pub use view::{Liveness, MemberInfo, MemberView};
