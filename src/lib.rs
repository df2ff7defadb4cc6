//! Shoal: a distributed in-memory cache that speaks the Redis protocol.
//!
//! ```text
//!  redis-cli / any Redis client / shoal-cli            Prometheus
//!           | RESP2/RESP3 (TCP 6380)                       | HTTP /metrics (9380)
//!           v
//!  server (RESP) --> cmd (dispatch, handlers) --> store (slots, TTL, versions)
//!
//!  membership (foca SWIM, UDP) --> member view --> ring (slots -> owners)
//!
//!  peer pool ==TCP==> peer server --> PeerService (implemented by the layer above)
//! ```
//!
//! Layers point one way:
//! - pure, no sockets or tasks: `protocol` (RESP framing), `keyslot`
//!   (CRC16 hash slots), `store` (the keyspace), `ring` (consistent hashing
//!   with virtual nodes over the slots), `topology` (members and ring as one
//!   published value), `config` (the layered settings), `util`
//!   (Redis's glob matcher, the atomic latency histogram);
//! - `cmd` runs commands against the store and returns replies;
//! - doing I/O: `server` (client sockets and connections), `membership`
//!   (SWIM gossip over UDP with foca, one task owning the protocol engine,
//!   publishing the live members the ring is built from), `peer` (the
//!   node-to-node TCP protocol: multiplexed, batched, authenticated
//!   connections carrying parsed commands and reply values);
//! - `metrics` reads the counters of every layer at scrape time into one
//!   Prometheus registry per node and serves `/metrics`, `/health` and
//!   `/ready` over HTTP;
//! - `node` wires everything and owns shutdown;
//! - `launch` is what the `shoal` binary runs: one node, or a local
//!   cluster of several in one process, until a signal;
//! - `cli` is the client side of `shoal-cli` (sessions, redis-cli's reply
//!   formatting, the prompt, `--pipe` and the other tools, cluster views);
//!   it uses `protocol` and, for the cluster views, `ring`, and no server
//!   layer; the binaries only parse flags and configuration.

/// jemalloc (Redis's allocator) serves every allocation: at 50 clients with
/// 16-deep pipelines it cut a node's CPU per request by 3% for GET and 8%
/// for SET against glibc's malloc, and kept RSS within maxmemory under
/// eviction churn where mimalloc (faster still) let it grow 1.35 times
/// past it with two worker threads. Declared here, not in the binary, so
/// tests run on the allocator the store's memory model
/// (`store::alloc_size`) follows.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start. One arena for every thread: a
/// value written on one worker and evicted on another frees into the same
/// slabs the next write takes from (with an arena per thread, RSS under
/// eviction churn measured 1.4 times maxmemory; with one, 1.2). Freed
/// pages go back to the system after about a second instead of ten, so RSS
/// follows what is stored after a burst of large requests. The
/// `_RJEM_MALLOC_CONF` environment variable still overrides these.
#[unsafe(export_name = "_rjem_malloc_conf")]
#[used]
static MALLOC_CONF: Option<&'static std::ffi::c_char> =
    Some(unsafe { &*c"narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr() });

pub mod cli;
pub mod cmd;
pub mod config;
pub mod keyslot;
pub mod launch;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod protocol;
pub mod replication;
pub mod ring;
pub mod router;
pub mod server;
pub mod store;
pub mod topology;
pub mod util;
