//! The HTTP endpoint: `/metrics` (Prometheus text format), `/health` (200
//! while the node serves) and `/ready` (200 once it has joined and every
//! slot has an owner), on bare hyper.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::Metrics;

/// Most HTTP connections open at once; more are closed as soon as they
/// are accepted (rather than left waiting in the backlog).
const MAX_CONNECTIONS: usize = 1024;
/// A client must send its request headers within this time, and an idle
/// keep-alive connection is closed after it.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `listener` until `stop` is cancelled; connections run on `tracker`.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("metrics on http://{addr}/metrics");
    }
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!("metrics accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics: {MAX_CONNECTIONS} connections open, closing a new one");
            continue;
        };
        let metrics = metrics.clone();
        let stop = stop.clone();
        tracker.spawn(
            async move {
                serve_connection(stream, metrics, stop).await;
                drop(permit);
            }
            .in_current_span(),
        );
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, metrics: Arc<Metrics>, stop: CancellationToken) {
    let service = service_fn(move |request: Request<Incoming>| {
        let metrics = metrics.clone();
        async move { Ok::<_, Infallible>(respond(&metrics, &request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!("metrics connection: {err}");
    }
}

async fn respond(metrics: &Metrics, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = Response::new(Full::new(metrics.scrape().await));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(prometheus::TEXT_FORMAT));
            response
        }
        "/health" if metrics.is_serving() => text(StatusCode::OK, "ok\n"),
        "/health" => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
        "/ready" => match metrics.readiness() {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, &format!("not ready: {why}\n")),
        },
        "/" => text(StatusCode::OK, "shoal: /metrics /health /ready\n"),
        _ => text(StatusCode::NOT_FOUND, "not found: try /metrics, /health or /ready\n"),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
