//! The client side of `shoal-cli`: everything but flag parsing, so it can
//! be tested as a library.
//!
//! - [`conn`]: a blocking connection (send commands, read replies) and the
//!   errors the CLI prints; [`reply`]: replies with every RESP2/RESP3 type;
//! - [`format`]: redis-cli's reply formatting, terminal and raw;
//! - [`session`]: reconnection, AUTH/SELECT/HELLO, `-c` redirections, the
//!   prompt;
//! - [`run`]: one-shot commands and lines of commands; [`repl`]: the
//!   interactive prompt; [`help`]: command syntax for `help` and hints;
//! - tools: [`pipe`] (`--pipe`), [`latency`], [`stat`], [`keys`]
//!   (`--scan`, `--bigkeys`), and Shoal's cluster views in [`cluster`].

pub mod cluster;
pub mod conn;
pub mod format;
pub mod help;
pub mod info;
pub mod keys;
pub mod latency;
pub mod pipe;
pub mod repl;
pub mod reply;
pub mod run;
pub mod session;
pub mod stat;

use std::io::{IsTerminal, Write};
use std::time::Duration;

pub use conn::{CliError, Connection, Endpoint, encode_command};
pub use format::Format;
pub use reply::Reply;
pub use session::{Session, Settings};

use run::{LineRunner, RunOptions};

/// What the CLI was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run the command given, or the prompt, or commands from standard input.
    Command,
    /// `--pipe`: send a RESP stream from standard input.
    Pipe,
    /// `--latency`.
    Latency,
    /// `--latency-history`.
    LatencyHistory,
    /// `--stat`.
    Stat,
    /// `--scan`.
    Scan,
    /// `--bigkeys`.
    BigKeys,
    /// `--cluster-status`.
    ClusterStatus,
    /// `--cluster-watch`.
    ClusterWatch,
}

/// Everything the flags say.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where and how to connect.
    pub settings: Settings,
    /// `--raw` (`Some(true)`), `--no-raw` (`Some(false)`), or neither (raw
    /// when standard output is not a terminal).
    pub raw: Option<bool>,
    /// Raw mode's delimiter between elements of a reply (`-d`).
    pub bulk_delim: Vec<u8>,
    /// Raw mode's delimiter after each reply (`-D`).
    pub reply_delim: Vec<u8>,
    /// `-r`: times to run the command (negative: forever; default once);
    /// for `--stat`, `--latency-history` and `--cluster-watch`, how many
    /// lines, windows or tables (default: until interrupted).
    pub repeat: Option<i64>,
    /// `-i`: seconds between runs, SCAN batches, `--stat` lines, ...
    pub interval: Option<Duration>,
    /// `-x`: read the last argument from standard input.
    pub stdin_last_arg: bool,
    /// `-e`: exit with status 1 on an error reply.
    pub exit_on_error: bool,
    /// The mode.
    pub mode: Mode,
    /// `--pattern` for `--scan` and `--bigkeys`.
    pub pattern: Option<Vec<u8>>,
    /// `--pipe-timeout`: how long `--pipe` waits for the last reply after
    /// sending everything (`None`: forever).
    pub pipe_timeout: Option<Duration>,
    /// The command and its arguments (may be empty).
    pub command: Vec<Vec<u8>>,
}

impl Options {
    /// The reply format: raw as asked, else raw unless standard output is
    /// a terminal.
    pub fn format(&self) -> Format {
        let raw = self.raw.unwrap_or_else(|| !std::io::stdout().is_terminal());
        Format { tty: !raw, bulk_delim: self.bulk_delim.clone(), reply_delim: self.reply_delim.clone() }
    }
}

/// Runs the CLI; returns the process exit status: 0, or 1 for a
/// connection failure, an error reply with `-e`, or a failed tool run.
pub fn main(options: Options) -> i32 {
    let mut session = Session::new(options.settings.clone());
    let format = options.format();
    let interval = options.interval;
    match options.mode {
        Mode::Command => command_mode(options, session, format),
        Mode::Pipe => pipe::run(&mut session, std::io::stdin().lock(), options.pipe_timeout),
        Mode::Latency => latency::run(&mut session, format.tty, interval, false, None),
        Mode::LatencyHistory => latency::run(&mut session, format.tty, interval, true, options.repeat),
        Mode::Stat => stat::run(&mut session, interval.unwrap_or(Duration::from_secs(1)), options.repeat),
        Mode::Scan => keys::scan(&mut session, options.pattern.as_deref(), interval, format.tty),
        Mode::BigKeys => keys::bigkeys(&mut session, options.pattern.as_deref(), interval),
        Mode::ClusterStatus => cluster::status(&mut session),
        Mode::ClusterWatch => cluster::watch(
            &mut session,
            interval.unwrap_or(Duration::from_secs(2)),
            options.repeat,
            format.tty,
        ),
    }
}

fn command_mode(options: Options, mut session: Session, format: Format) -> i32 {
    let opts = RunOptions {
        format,
        repeat: options.repeat.unwrap_or(1),
        interval: options.interval.unwrap_or_default(),
        exit_on_error: options.exit_on_error,
    };
    let mut stdout = std::io::stdout().lock();
    if !options.command.is_empty() {
        return run::one_shot(&mut session, options.command, options.stdin_last_arg, &opts, &mut stdout);
    }
    let mut runner = LineRunner { session, opts, hints: true };
    if std::io::stdin().is_terminal() {
        drop(stdout);
        repl::run(&mut runner)
    } else {
        let status = run::lines(&mut runner, std::io::stdin().lock(), &mut stdout);
        let _ = stdout.flush();
        status
    }
}
