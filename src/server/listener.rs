//! The accept loop: caps connections at `maxclients`, spawns one tracked
//! task per client, stops accepting on shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::serve_connection;
use crate::router::Router;

/// Accepts clients until `shutdown` is cancelled. Connection tasks are
/// spawned on `tracker` so the node can wait for them to finish.
pub async fn accept_loop(
    listener: TcpListener,
    router: Arc<Router>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let server = router.server();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => return,
        };
        let (mut stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        server.stats.total_connections_received.fetch_add(1, Ordering::Relaxed);
        let maxclients = server.settings.read().maxclients as usize;
        if server.connected_clients() >= maxclients {
            server.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "rejecting connection: maxclients reached");
            tracker.spawn(async move {
                let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
            });
            continue;
        }
        tracker.spawn(serve_connection(stream, router.clone()).in_current_span());
    }
}
