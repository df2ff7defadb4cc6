//! `shoal`: runs one node.

use anyhow::Context;
use shoal::cmd::Settings;
use shoal::node::NodeHandle;
use tokio::net::TcpListener;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("info")).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let settings = Settings::default();
    let addr = format!("{}:{}", settings.bind, settings.port);
    let listener = TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let node = NodeHandle::start(settings, listener)?;
    tracing::info!("shoal listening for clients on {}", node.addr());
    let token = node.shutdown_token();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
        _ = sigterm() => tracing::info!("SIGTERM received, shutting down"),
        _ = token.cancelled() => tracing::info!("SHUTDOWN received, shutting down"),
    }
    node.shutdown().await;
    tracing::info!("bye");
    Ok(())
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
