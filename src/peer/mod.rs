//! The node-to-node protocol over TCP: a transport that knows nothing about
//! the ring or the store.
//!
//! Pure pieces: `codec` (request and reply frames), `frame_codec` (reply
//! values in binary), `wire` (varints, bounded reads).

mod codec;
mod frame_codec;
mod wire;

pub use codec::{FrameTooLarge, PeerReply, PeerRequest, RequestBody};
