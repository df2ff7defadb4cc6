//! `shoal`: runs one node. Parses flags and configuration, starts the node,
//! and turns SIGINT/SIGTERM into a graceful shutdown.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use shoal::config::{Config, Flags, LogFormat, process_env};
use shoal::node::{NodeHandle, NodeSockets};

fn main() -> ExitCode {
    let flags = Flags::parse();
    let config = match Config::load(&flags, process_env()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("shoal: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    if flags.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    init_logging(&config);
    let config_file = flags.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(config, config_file)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("shoal: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(config: Config, config_file: String) -> anyhow::Result<()> {
    let sockets = NodeSockets::bind(&config).await?;
    let node = NodeHandle::start(config, sockets, &config_file).await?;
    tracing::info!(
        node_id = %node.node_id(),
        peer = %node.peer_addr(),
        gossip = %node.gossip_addr(),
        "shoal {} listening for clients on {}",
        env!("CARGO_PKG_VERSION"),
        node.addr()
    );
    let token = node.shutdown_token();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
        _ = sigterm() => tracing::info!("SIGTERM received, shutting down"),
        _ = token.cancelled() => tracing::info!("SHUTDOWN received, shutting down"),
    }
    node.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(err) => {
            tracing::warn!("cannot watch SIGTERM: {err}");
            std::future::pending().await
        }
    }
}
