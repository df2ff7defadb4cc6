//! One client connection: read, decode, execute, encode, write.
//!
//! Pipelining comes for free: every complete request in the read buffer is
//! executed and its reply appended to one output buffer, written with one
//! call. Pipelined requests that other nodes own are sent together rather
//! than one round trip after another (see [`Pipeline`]). On shutdown the
//! connection answers what it has already read, then closes.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cmd::{ClientState, ServerState};
use crate::protocol::frame::Frame;
use crate::protocol::request::{RequestDecoder, RequestLimits};
use crate::router::{Plan, Route, Router};

const READ_CHUNK: usize = 16 * 1024;
/// Flush replies once this much is buffered, even mid-batch.
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Pipelined requests a connection may have in flight to other nodes.
const MAX_IN_FLIGHT: usize = 128;

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
    // Made once: an empty pipeline still holds an allocation.
    let mut pipeline = Pipeline::default();
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
                    // More requests already read: a forwarded one need not
                    // finish before the next starts.
                    let more = !input.is_empty();
                    let route = match pipeline.add(router, client, args, route, more) {
                        Ok(()) => {
                            if pipeline.is_full() {
                                pipeline.finish(client, &mut output).await;
                            }
                            continue;
                        }
                        Err((args, route)) => {
                            pipeline.finish(client, &mut output).await;
                            (args, route)
                        }
                    };
                    let (args, route) = route;
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
                    pipeline.finish(client, &mut output).await;
                    tracing::debug!(client = client.shared.id, "protocol error: {err}");
                    Frame::Error(err.reply_text()).encode(client.protocol, &mut output);
                    close = true;
                    break;
                }
            }
        }
        pipeline.finish(client, &mut output).await;
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

/// A forwarded request's reply, still on its way.
type InFlight<'r> = Pin<Box<dyn Future<Output = Frame> + Send + 'r>>;

/// Pipelined requests in order, some already answered here, some on their
/// way to the nodes that own their keys. Only requests whose order against
/// each other cannot be observed join: keyed requests (their keys are on
/// different nodes, or the same node's connection keeps them in order).
/// Anything else (keyless, split or fanned-out requests, transactions) first
/// waits for every reply before it, as if each were sent alone.
#[derive(Default)]
struct Pipeline<'r> {
    /// Answered replies, with `None` where a forwarded reply goes.
    replies: Vec<Option<Frame>>,
    forwarded: FuturesOrdered<InFlight<'r>>,
}

impl<'r> Pipeline<'r> {
    /// Takes the request if it may join the pipeline; else gives it back.
    fn add(
        &mut self,
        router: &'r Router,
        client: &mut ClientState,
        args: Vec<Bytes>,
        route: Route,
        more: bool,
    ) -> Result<(), (Vec<Bytes>, Route)> {
        if client.multi.is_some() {
            return Err((args, route));
        }
        match route {
            Route::Elsewhere(_, Plan::Remote(_)) if more || !self.replies.is_empty() => {
                let mut part = client.detached();
                self.forwarded.push_back(Box::pin(async move { router.run(&mut part, &args, route).await }));
                self.replies.push(None);
                Ok(())
            }
            Route::Local(index, spec) if spec.first_key > 0 && !self.replies.is_empty() => {
                self.replies.push(Some(router.run_here(client, index, spec, &args)));
                Ok(())
            }
            Route::Replicated(index, spec) if spec.first_key > 0 && (more || !self.replies.is_empty()) => {
                // Runs now, in order with its neighbours; only the copies' answer is awaited.
                match router.start_local_write(client, index, spec, &args) {
                    Ok((reply, pending)) if pending.is_empty() => self.replies.push(Some(reply)),
                    Ok((reply, pending)) => {
                        self.forwarded.push_back(Box::pin(crate::router::finish_write(reply, pending)));
                        self.replies.push(None);
                    }
                    Err(_) => return Err((args, Route::Replicated(index, spec))),
                }
                Ok(())
            }
            route => Err((args, route)),
        }
    }

    fn is_full(&self) -> bool {
        self.replies.len() >= MAX_IN_FLIGHT
    }

    /// Waits for every forwarded reply and appends all replies, in order.
    async fn finish(&mut self, client: &ClientState, output: &mut BytesMut) {
        for reply in self.replies.drain(..) {
            let reply = match reply {
                Some(reply) => reply,
                None => self.forwarded.next().await.expect("one forwarded reply per placeholder"),
            };
            reply.encode(client.protocol, output);
        }
    }
}
