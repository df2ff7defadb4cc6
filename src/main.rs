//! `shoal`: runs one node, or with `local-cluster` a whole cluster on
//! 127.0.0.1 in one process. Parses flags and configuration and hands over
//! to [`shoal::launch`].

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shoal::config::{Config, ConfigError, Flags, LogFormat, process_env};
use shoal::launch::{self, LocalClusterArgs};

/// The command line: the node's flags, or a subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "shoal",
    version,
    about = "Shoal: a distributed in-memory cache that speaks the Redis protocol",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a cluster of N nodes on 127.0.0.1 in this one process (node i is
    /// n<i>, with ports base+i-1). SHOAL_* environment variables apply to
    /// every node.
    LocalCluster(LocalClusterArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => node(&cli.flags),
        Some(Command::LocalCluster(args)) => local_cluster(&args),
    }
}

fn node(flags: &Flags) -> ExitCode {
    let config = match Config::load(flags, process_env()) {
        Ok(config) => config,
        Err(err) => return config_error(err),
    };
    if flags.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    init_logging(&config);
    let config_file = flags.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let threads = config.server.threads;
    run(threads, async move { launch::run_node(config, &config_file).await.map_err(anyhow::Error::from) })
}

fn local_cluster(args: &LocalClusterArgs) -> ExitCode {
    let flags = match args.node_flags() {
        Ok(flags) => flags,
        Err(err) => {
            eprintln!("shoal: {err}");
            return ExitCode::from(2);
        }
    };
    let configs: Result<Vec<Config>, ConfigError> =
        flags.iter().map(|flags| Config::load(flags, process_env())).collect();
    let configs = match configs {
        Ok(configs) => configs,
        Err(err) => return config_error(err),
    };
    init_logging(&configs[0]);
    let threads = configs[0].server.threads;
    run(threads, async move { launch::run_local_cluster(configs).await.map_err(anyhow::Error::from) })
}

fn config_error(err: ConfigError) -> ExitCode {
    eprintln!("shoal: configuration error: {err}");
    ExitCode::from(2)
}

/// Runs `main` on a multi-threaded runtime of `threads` workers (0 = one
/// per core); failures are logged and exit 1.
fn run(threads: u32, main: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    // One thread: the current-thread scheduler, without the work stealing
    // and the bookkeeping that only pay off across several workers.
    let mut builder = match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n as usize);
            builder
        }
    };
    let result = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(main));
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
    // Colours only on a terminal: logs sent to a file or a pipe stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(line: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("shoal").chain(line.iter().copied()))
    }

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_stay_top_level() {
        let cli = parse(&["--port", "7000", "--print-config"]).expect("parse");
        assert!(cli.command.is_none());
        assert_eq!(cli.flags.port, Some(7000));
        assert!(cli.flags.print_config);
    }

    #[test]
    fn local_cluster_has_its_own_options() {
        let cli = parse(&["local-cluster", "--nodes", "5", "--gossip-profile", "fast"]).expect("parse");
        let Some(Command::LocalCluster(args)) = cli.command else { panic!("no subcommand") };
        assert_eq!(
            (args.nodes, args.base_port, args.peer_base_port, args.metrics_base_port),
            (5, 7001, 17001, 9101)
        );
        assert_eq!(args.gossip_profile.as_deref(), Some("fast"));
        assert!(parse(&["--port", "7000", "local-cluster"]).is_err(), "node flags do not apply");
    }
}
