//! The node-to-node protocol over TCP: a transport that knows nothing about
//! the ring or the store.
//!
//! A [`PeerPool`] keeps one multiplexed connection per peer node (many
//! requests in flight, replies matched by request id, frames batched into
//! few writes, reconnect with capped backoff, every wait bounded). [`serve`]
//! accepts peers' connections and hands each request to a [`PeerService`],
//! which the layer above implements, in arrival order per connection.
//!
//! ```text
//!  PeerPool::request ─▶ connection (writer ▶ socket ▶ reader) ══TCP══▶ serve ─▶ PeerService::handle
//!                    ◀─ reply matched by id ◀─────────────────────────── reply
//! ```
//!
//! Pure pieces: `codec` (request and reply frames), `frame_codec` (reply
//! values in binary), `handshake` (messages and proofs), `wire` (varints,
//! bounded reads). I/O: `framed` (frame reader, batching writer),
//! `negotiate` (the handshake exchange), `client` (one connection), `pool`,
//! `server`.

mod client;
mod codec;
mod config;
mod error;
mod frame_codec;
mod framed;
mod handshake;
mod items;
mod negotiate;
mod pool;
mod server;
mod stats;
mod wire;

#[cfg(test)]
mod tests;

pub use codec::{FrameTooLarge, PeerReply, PeerRequest, RequestBody, WatchedKey};
pub use config::{MIN_FRAME_BYTES, PeerConfig};
pub use error::PeerError;
pub use handshake::{HandshakeError, MAX_NODE_ID_LEN, PROTOCOL_VERSION, RefusalReason};
pub use items::{ItemState, ItemValue, ReplicaItem, decode_items, encode_items};
pub use pool::PeerPool;
pub use server::{Handled, LaterReply, PeerService, serve};
pub use stats::{PeerStats, PeerStatsSnapshot};
