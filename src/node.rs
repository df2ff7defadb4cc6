//! A running node: wires the store, the server and background tasks, and
//! stops them all on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cmd::{ServerState, Settings};
use crate::config::Config;
use crate::server::accept_loop;
use crate::store::Store;

/// How often the active expiry cycle runs (Redis's `hz 10`).
const EXPIRE_PERIOD: Duration = Duration::from_millis(100);
/// Entries examined per expiry step.
const EXPIRE_BUDGET: usize = 2000;
/// Longest one expiry round may run before yielding.
const EXPIRE_TIME_LIMIT: Duration = Duration::from_millis(25);

/// The run-time settings a node's commands see, from its configuration.
pub fn settings_from_config(config: &Config, config_file: &str) -> Settings {
    Settings {
        bind: config.node.bind.to_string(),
        port: config.server.port,
        maxclients: config.server.maxclients as u64,
        timeout: config.server.timeout,
        proto_max_bulk_len: config.server.proto_max_bulk_len.as_u64(),
        max_multibulk_len: config.server.max_multibulk_len,
        requirepass: config.server.requirepass.clone(),
        maxmemory: config.store.maxmemory.as_u64(),
        maxmemory_policy: config.store.maxmemory_policy.as_str().to_string(),
        maxmemory_samples: config.store.maxmemory_samples as u64,
        config_file: config_file.to_string(),
    }
}

/// A started node. Drop does not stop it: call [`NodeHandle::shutdown`].
pub struct NodeHandle {
    addr: SocketAddr,
    store: Arc<Store>,
    server: Arc<ServerState>,
    tracker: TaskTracker,
}

impl NodeHandle {
    /// Starts a node serving clients on `listener`.
    pub fn start(settings: Settings, listener: TcpListener) -> std::io::Result<NodeHandle> {
        let addr = listener.local_addr()?;
        let mut settings = settings;
        settings.port = addr.port();
        let shutdown = CancellationToken::new();
        let store = Arc::new(Store::new());
        let server = Arc::new(ServerState::new(settings, shutdown.clone()));
        let tracker = TaskTracker::new();
        tracker.spawn(accept_loop(
            listener,
            store.clone(),
            server.clone(),
            shutdown.clone(),
            tracker.clone(),
        ));
        tracker.spawn(expire_loop(store.clone(), shutdown.clone()));
        Ok(NodeHandle { addr, store, server, tracker })
    }

    /// The client address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node's store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The node's shared server state.
    pub fn server(&self) -> &Arc<ServerState> {
        &self.server
    }

    /// Cancelled when the node begins shutting down (e.g. by `SHUTDOWN`).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.server.shutdown.clone()
    }

    /// Stops accepting, lets connections answer what they have read, and
    /// waits for every task.
    pub async fn shutdown(self) {
        self.server.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

async fn expire_loop(store: Arc<Store>, shutdown: CancellationToken) {
    let mut cursor = 0usize;
    let mut tick = tokio::time::interval(EXPIRE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        // Like Redis: keep going while many sampled keys were expired, within a time limit.
        let started = Instant::now();
        loop {
            let (examined, removed) = store.expire_cycle(&mut cursor, EXPIRE_BUDGET);
            if examined == 0 || removed * 4 < examined || started.elapsed() > EXPIRE_TIME_LIMIT {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}
