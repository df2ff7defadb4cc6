//! The node-to-node protocol over TCP: a transport that knows nothing about
//! the ring or the store.
//!
//! Pure pieces: `codec` (request and reply frames), `frame_codec` (reply
//! values in binary), `handshake` (messages and proofs), `wire` (varints,
//! bounded reads). I/O: `framed` (frame reader, batching writer),
//! `negotiate` (the handshake exchange).

mod codec;
mod config;
mod error;
mod frame_codec;
mod framed;
mod handshake;
mod negotiate;
mod stats;
mod wire;

pub use codec::{FrameTooLarge, PeerReply, PeerRequest, RequestBody};
pub use config::{MIN_FRAME_BYTES, PeerConfig};
pub use error::PeerError;
pub use handshake::{HandshakeError, MAX_NODE_ID_LEN, PROTOCOL_VERSION, RefusalReason};
pub use stats::{PeerStats, PeerStatsSnapshot};
