//! Shoal: a distributed in-memory cache that speaks the Redis protocol.
//!
//! ```text
//!  redis-cli / any Redis client / shoal-cli
//!           | RESP2/RESP3 (TCP 6380)
//!           v
//!  server (RESP) --> cmd (dispatch, handlers) --> store (slots, TTL, versions)
//! ```
//!
//! Layers point one way: `protocol`, `keyslot`, `ring` and `store` are pure
//! (no sockets, no tasks); `cmd` runs commands against the store and returns
//! replies; `server` owns sockets and connections; `node` wires everything
//! and owns shutdown; the binaries only parse flags and configuration.
//!
//! `ring` (consistent hashing with virtual nodes over the 16384 slots) is
//! the placement layer the cluster builds on. `membership` (SWIM gossip over
//! UDP with foca, one task owning the protocol engine) publishes the live
//! members, with their states and addresses, that the ring is built from.

pub mod cmd;
pub mod keyslot;
pub mod membership;
pub mod node;
pub mod protocol;
pub mod ring;
pub mod server;
pub mod store;
