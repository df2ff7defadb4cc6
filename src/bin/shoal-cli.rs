//! `shoal-cli`: the redis-cli-like client. This file only parses flags;
//! everything else is in `shoal::cli`.
//!
//! Exit status: 0 on success; 1 when the server cannot be reached or the
//! connection fails, on an error reply with `-e`, when a tool fails (e.g.
//! `--pipe` with errors), and on bad flags (as redis-cli's usage errors).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, ArgGroup, Parser};
use shoal::cli::{Endpoint, Mode, Options, Settings};

/// Command-line flags, named as redis-cli names them.
#[derive(Parser, Debug)]
#[command(
    name = "shoal-cli",
    version,
    about = "The Shoal command-line client: redis-cli's commands and output, plus cluster views",
    after_help = "With no command: an interactive prompt on a terminal, else one command per line \
                  from standard input.",
    disable_help_flag = true,
    group(ArgGroup::new("mode").multiple(false))
)]
struct Args {
    /// Server host name or address.
    #[arg(short = 'h', long = "host", default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short = 'p', long = "port", default_value_t = 6380)]
    port: u16,
    /// Password for AUTH (visible to other users of this machine; the
    /// REDISCLI_AUTH environment variable is safer).
    #[arg(short = 'a', long = "pass")]
    password: Option<String>,
    /// User name for AUTH, with a password.
    #[arg(long = "user")]
    user: Option<String>,
    /// Do not warn about -a on the command line.
    #[arg(long = "no-auth-warning")]
    no_auth_warning: bool,
    /// Speak RESP2 (sends HELLO 2 first).
    #[arg(short = '2', conflicts_with = "resp3")]
    resp2: bool,
    /// Speak RESP3 (sends HELLO 3 first).
    #[arg(short = '3')]
    resp3: bool,
    /// Database number.
    #[arg(short = 'n', default_value_t = 0)]
    db: i64,
    /// Connect and reply timeout in seconds (decimals allowed); default: none.
    #[arg(short = 't', long = "timeout", value_parser = seconds)]
    timeout: Option<Duration>,
    /// Run the command N times (-1: forever); with --stat,
    /// --latency-history or --cluster-watch: N lines, windows or tables.
    #[arg(short = 'r', allow_negative_numbers = true)]
    repeat: Option<i64>,
    /// Seconds between repeats, SCAN batches, --stat lines, --cluster-watch
    /// refreshes; the --latency window (decimals allowed).
    #[arg(short = 'i', value_parser = seconds)]
    interval: Option<Duration>,
    /// Read the last argument from standard input.
    #[arg(short = 'x')]
    stdin_last_arg: bool,
    /// Exit with status 1 when the reply is an error.
    #[arg(short = 'e')]
    errors_exit: bool,
    /// Cluster mode: follow -MOVED and -ASK redirections.
    #[arg(short = 'c')]
    cluster_mode: bool,
    /// Raw output: delimiter between the elements of a reply.
    #[arg(short = 'd', default_value = "\n", hide_default_value = true)]
    bulk_delim: String,
    /// Raw output: delimiter after each reply.
    #[arg(short = 'D', default_value = "\n", hide_default_value = true)]
    reply_delim: String,
    /// Print replies raw, even on a terminal.
    #[arg(long = "raw")]
    raw: bool,
    /// Print replies formatted, even when not on a terminal.
    #[arg(long = "no-raw", conflicts_with = "raw")]
    no_raw: bool,
    /// Mass insertion: send the RESP (or inline) commands on standard input.
    #[arg(long = "pipe", group = "mode")]
    pipe: bool,
    /// With --pipe: seconds to wait for replies after sending all data (0: forever).
    #[arg(long = "pipe-timeout", default_value_t = 30)]
    pipe_timeout: u64,
    /// Sample PING round trips (in ms).
    #[arg(long = "latency", group = "mode")]
    latency: bool,
    /// Like --latency, a new line every interval (15 s unless -i).
    #[arg(long = "latency-history", group = "mode")]
    latency_history: bool,
    /// A line of statistics every interval (1 s unless -i).
    #[arg(long = "stat", group = "mode")]
    stat: bool,
    /// List the keys with SCAN.
    #[arg(long = "scan", group = "mode")]
    scan: bool,
    /// Find the biggest key of each type.
    #[arg(long = "bigkeys", group = "mode")]
    bigkeys: bool,
    /// Key pattern for --scan and --bigkeys.
    #[arg(long = "pattern")]
    pattern: Option<OsString>,
    /// Shoal: the cluster's members, slots, keys and views as a table.
    #[arg(long = "cluster-status", group = "mode")]
    cluster_status: bool,
    /// Shoal: --cluster-status refreshed every interval (2 s unless -i).
    #[arg(long = "cluster-watch", group = "mode")]
    cluster_watch: bool,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true)]
    command: Vec<OsString>,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{text}' is not a number of seconds"))
}

impl Args {
    fn mode(&self) -> Mode {
        match self {
            a if a.pipe => Mode::Pipe,
            a if a.latency => Mode::Latency,
            a if a.latency_history => Mode::LatencyHistory,
            a if a.stat => Mode::Stat,
            a if a.scan => Mode::Scan,
            a if a.bigkeys => Mode::BigKeys,
            a if a.cluster_status => Mode::ClusterStatus,
            a if a.cluster_watch => Mode::ClusterWatch,
            _ => Mode::Command,
        }
    }

    fn into_options(self) -> Options {
        let password = self.password.clone().or_else(|| std::env::var("REDISCLI_AUTH").ok());
        let resp = if self.resp3 {
            Some(3)
        } else if self.resp2 {
            Some(2)
        } else {
            None
        };
        Options {
            settings: Settings {
                endpoint: Endpoint { host: self.host.clone(), port: self.port, timeout: self.timeout },
                user: self.user.clone(),
                password,
                resp,
                db: self.db,
                cluster_mode: self.cluster_mode,
            },
            raw: if self.raw {
                Some(true)
            } else if self.no_raw {
                Some(false)
            } else {
                None
            },
            bulk_delim: self.bulk_delim.clone().into_bytes(),
            reply_delim: self.reply_delim.clone().into_bytes(),
            repeat: self.repeat,
            interval: self.interval,
            stdin_last_arg: self.stdin_last_arg,
            exit_on_error: self.errors_exit,
            mode: self.mode(),
            pattern: self.pattern.map(OsStringExt::into_vec),
            pipe_timeout: (self.pipe_timeout > 0).then(|| Duration::from_secs(self.pipe_timeout)),
            command: self.command.into_iter().map(OsStringExt::into_vec).collect(),
        }
    }
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; bad flags exit 1 as
            // redis-cli's usage errors do.
            return if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    if args.password.is_some() && !args.no_auth_warning {
        eprintln!(
            "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe."
        );
    }
    // A bug must not end in a stack trace: one line, status 1.
    std::panic::set_hook(Box::new(|info| eprintln!("Error: shoal-cli failed unexpectedly: {info}")));
    let options = args.into_options();
    let status = std::panic::catch_unwind(move || shoal::cli::main(options)).unwrap_or(1);
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
