//! RESP framing: bytes to requests, replies to bytes. Pure: no sockets, no tasks.
//!
//! - [`request`] splits a client's byte stream into argument vectors
//!   (multibulk or inline), two-phase and bounded.
//! - [`frame`] is the reply value every command returns, encoded for RESP2
//!   or RESP3 at the connection's protocol version.
//! - [`reply`] reads replies back (for `shoal-cli` and tests).

pub mod frame;
pub mod reply;
pub mod request;

pub use frame::{Frame, Protocol};
pub use request::{ProtocolError, RequestLimits, parse_request};
