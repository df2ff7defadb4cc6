//! Shoal: a distributed in-memory cache that speaks the Redis protocol.
//!
//! ```text
//!  redis-cli / any Redis client / shoal-cli
//!           | RESP2/RESP3 (TCP 6380)
//!           v
//!  server (RESP) --> cmd (dispatch, handlers) --> store (slots, TTL, versions)
//! ```
//!
//! Layers point one way: `protocol`, `keyslot`, `store` and `util` are pure
//! (no sockets, no tasks); `cmd` runs commands against the store and returns
//! replies; `server` owns sockets and connections; `node` wires everything
//! and owns shutdown; the binaries only parse flags and configuration.

pub mod cmd;
pub mod keyslot;
pub mod node;
pub mod protocol;
pub mod server;
pub mod store;
pub mod util;
