//! One client connection: read, decode, execute, encode, write.
//!
//! Pipelining comes for free: every complete request in the read buffer is
//! executed and its reply appended to one output buffer, written with one
//! call. On shutdown the connection answers what it has already read, then
//! closes.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cmd::{ClientState, ServerState};
use crate::protocol::frame::Frame;
use crate::protocol::request::{RequestDecoder, RequestLimits};
use crate::router::Router;

const READ_CHUNK: usize = 16 * 1024;
/// Flush replies once this much is buffered, even mid-batch.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// Serves one client until it closes, errs, idles out or the node shuts down.
pub async fn serve_connection(mut stream: TcpStream, router: Arc<Router>) {
    let server = router.server();
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true).inspect_err(|e| tracing::debug!("set_nodelay: {e}"));
    let shared = server.register_client(peer, local);
    shared.fd.store(stream.as_raw_fd(), Ordering::Relaxed);
    let needs_auth = !server.settings.read().requirepass.is_empty();
    let mut client = ClientState::new(shared.clone(), !needs_auth);
    let result = run(&mut stream, &router, &mut client).await;
    if let Err(e) = result {
        tracing::debug!(client = shared.id, %peer, "connection closed: {e}");
    }
    server.unregister_client(shared.id);
}

async fn run(stream: &mut TcpStream, router: &Router, client: &mut ClientState) -> std::io::Result<()> {
    let server = router.server();
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    let mut decoder = RequestDecoder::default();
    // Created once per connection: registering a fresh waiter on every read
    // would cost a lock on the shared token each time.
    // The client's own token, a child of the node's shutdown token: checking
    // it locks only this connection's token, not one shared by all.
    let kill = client.shared.kill.clone();
    let stop = kill.cancelled();
    tokio::pin!(stop);
    let idle_sleep = tokio::time::sleep(Duration::from_secs(0));
    tokio::pin!(idle_sleep);
    loop {
        let (limits, idle) = {
            let s = server.settings.read();
            let limits = RequestLimits {
                max_bulk_len: s.proto_max_bulk_len as usize,
                max_multibulk_len: s.max_multibulk_len as usize,
            };
            (limits, s.timeout)
        };
        // Execute every complete request already buffered.
        let mut close = false;
        loop {
            match decoder.decode(&mut input, &limits) {
                Ok(Some(args)) => {
                    let route = router.route(client, &args);
                    let reply = router.run(client, &args, route).await;
                    if client.drop_reply {
                        client.drop_reply = false;
                    } else {
                        reply.encode(client.protocol, &mut output);
                    }
                    if client.close_after_reply {
                        close = true;
                        break;
                    }
                    if output.len() >= WRITE_HIGH_WATER {
                        flush(stream, &mut output, server).await?;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::debug!(client = client.shared.id, "protocol error: {err}");
                    Frame::Error(err.reply_text()).encode(client.protocol, &mut output);
                    close = true;
                    break;
                }
            }
        }
        if !output.is_empty() {
            client
                .shared
                .last_active_ms
                .store(client.shared.created.elapsed().as_millis() as u64, Ordering::Relaxed);
            flush(stream, &mut output, server).await?;
        }
        if close || kill.is_cancelled() {
            return Ok(());
        }
        input.reserve(READ_CHUNK);
        if idle > 0 {
            idle_sleep.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(idle));
        }
        let read = tokio::select! {
            biased;
            read = stream.read_buf(&mut input) => read?,
            _ = &mut stop => return Ok(()),
            _ = &mut idle_sleep, if idle > 0 => {
                tracing::debug!(client = client.shared.id, "closing idle connection");
                return Ok(());
            }
        };
        if read == 0 {
            return Ok(());
        }
        server.stats.net_input_bytes.fetch_add(read as u64, Ordering::Relaxed);
    }
}

async fn flush(stream: &mut TcpStream, output: &mut BytesMut, server: &ServerState) -> std::io::Result<()> {
    stream.write_all(output).await?;
    server.stats.net_output_bytes.fetch_add(output.len() as u64, Ordering::Relaxed);
    output.clear();
    Ok(())
}
