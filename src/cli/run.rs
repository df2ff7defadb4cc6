//! Running commands: one-shot (`shoal-cli CMD ARGS`), and lines of text as
//! typed at the prompt or read from standard input, with redis-cli's rules
//! for quoting, `N CMD` repetition, `quit`, `connect` and `help`.

use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};

use super::conn::CliError;
use super::format::{Format, prints_verbatim};
use super::help;
use super::session::{Session, is};
use crate::protocol::request::split_args;

/// How a command is run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How replies are printed.
    pub format: Format,
    /// Times to run it (`-r`; negative: forever).
    pub repeat: i64,
    /// Pause between runs (`-i`).
    pub interval: Duration,
    /// Stop with status 1 at the first error reply (`-e`, one-shot only).
    pub exit_on_error: bool,
}

/// What running a command came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Ran {
    /// Every reply was printed.
    Done,
    /// An error reply ended the run (`-e`); it was printed on standard error.
    ServerError,
}

/// Runs `args` `opts.repeat` times, printing each reply to `out`.
pub fn execute(
    session: &mut Session,
    args: &[Vec<u8>],
    opts: &RunOptions,
    out: &mut dyn Write,
) -> Result<Ran, CliError> {
    if is(args, 0, "help") || is(args, 0, "?") {
        let topic: Vec<String> = args[1..].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        out.write_all(help::render(&topic, opts.format.tty).as_bytes())?;
        return Ok(Ran::Done);
    }
    let verbatim = prints_verbatim(args);
    let mut left = opts.repeat;
    while left != 0 {
        left = left.saturating_sub(1).max(-1);
        let Some(reply) = session.call(args, out)? else { break };
        if opts.exit_on_error && reply.is_error() {
            out.flush()?;
            eprintln!("{}", reply.as_text().unwrap_or_default());
            return Ok(Ran::ServerError);
        }
        out.write_all(&opts.format.render(&reply, verbatim))?;
        out.flush()?;
        if left != 0 && !opts.interval.is_zero() {
            std::thread::sleep(opts.interval);
        }
    }
    Ok(Ran::Done)
}

/// One-shot mode: connect, run the command (with the last argument read
/// from `stdin` when `stdin_last_arg`), exit. Returns the exit status.
pub fn one_shot(
    session: &mut Session,
    mut args: Vec<Vec<u8>>,
    stdin_last_arg: bool,
    opts: &RunOptions,
    out: &mut dyn Write,
) -> i32 {
    if let Err(e) = session.connect() {
        eprintln!("{e}");
        return 1;
    }
    if stdin_last_arg {
        let mut last = Vec::new();
        if let Err(e) = std::io::stdin().lock().read_to_end(&mut last) {
            eprintln!("Error: cannot read standard input: {e}");
            return 1;
        }
        args.push(last);
    }
    match execute(session, &args, opts, out) {
        Ok(Ran::Done) => 0,
        Ok(Ran::ServerError) => 1,
        Err(e) => {
            let _ = out.flush();
            if !e.is_output_closed() {
                eprintln!("{e}");
            }
            1
        }
    }
}

/// What a line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum LineOutcome {
    /// Read the next line.
    Continue,
    /// `quit` or `exit`.
    Quit,
}

/// Runs lines as redis-cli's prompt does; used for the interactive prompt
/// and for commands read from standard input.
pub struct LineRunner {
    /// The connection.
    pub session: Session,
    /// How replies are printed (`repeat` is set per line).
    pub opts: RunOptions,
    /// Argument hints on (`:set hints` / `:set nohints`).
    pub hints: bool,
}

impl LineRunner {
    /// Runs one line, printing replies to `out` and connection errors to
    /// standard error.
    pub fn run(&mut self, line: &[u8], out: &mut dyn Write) -> LineOutcome {
        let Ok(args) = split_args(line) else {
            let _ = writeln!(out, "Invalid argument(s)");
            let _ = out.flush();
            return LineOutcome::Continue;
        };
        let mut args: Vec<Vec<u8>> = args.into_iter().map(|a| a.to_vec()).collect();
        if args.is_empty() {
            return LineOutcome::Continue;
        }
        let mut repeat = 1;
        if args.len() > 1 && is_integer(&args[0]) {
            let text = String::from_utf8_lossy(&args[0]);
            match text.parse::<i64>() {
                Ok(n) if n > 0 => {
                    repeat = n;
                    args.remove(0);
                }
                _ => {
                    let _ = writeln!(out, "Invalid redis-cli repeat command option value.");
                    let _ = out.flush();
                    return LineOutcome::Continue;
                }
            }
        }
        if is(&args, 0, "quit") || is(&args, 0, "exit") {
            return LineOutcome::Quit;
        }
        if args[0].starts_with(b":") {
            self.set_preference(&args, out);
            return LineOutcome::Continue;
        }
        if args.len() == 3 && is(&args, 0, "connect") {
            let host = String::from_utf8_lossy(&args[1]).into_owned();
            let port = std::str::from_utf8(&args[2]).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
            self.session.set_endpoint(host, port);
            if let Err(e) = self.session.connect() {
                eprintln!("{e}");
            }
            return LineOutcome::Continue;
        }
        if args.len() == 1 && is(&args, 0, "clear") {
            let _ = out.write_all(b"\x1b[H\x1b[2J");
            let _ = out.flush();
            return LineOutcome::Continue;
        }
        let started = Instant::now();
        let opts = RunOptions { repeat, exit_on_error: false, ..self.opts.clone() };
        if let Err(e) = execute(&mut self.session, &args, &opts, out) {
            if e.is_output_closed() {
                return LineOutcome::Quit;
            }
            let _ = out.flush();
            eprintln!("{e}");
        }
        let elapsed = started.elapsed();
        if elapsed >= Duration::from_millis(500) && self.opts.format.tty {
            let _ = writeln!(out, "({:.2}s)", elapsed.as_secs_f64());
            let _ = out.flush();
        }
        LineOutcome::Continue
    }

    fn set_preference(&mut self, args: &[Vec<u8>], out: &mut dyn Write) {
        if is(args, 0, ":set") && args.len() == 2 {
            if is(args, 1, "hints") {
                self.hints = true;
                return;
            }
            if is(args, 1, "nohints") {
                self.hints = false;
                return;
            }
        }
        let _ = writeln!(out, "Unknown preference; use \":set hints\" or \":set nohints\"");
    }
}

/// True for `[+-]digits`: a first word redis-cli takes as a repeat count.
fn is_integer(word: &[u8]) -> bool {
    let digits = word.strip_prefix(b"-").or_else(|| word.strip_prefix(b"+")).unwrap_or(word);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// Runs the commands read from `input`, one per line (standard input that
/// is not a terminal, with no command given). Returns the exit status.
pub fn lines(runner: &mut LineRunner, input: impl BufRead, out: &mut dyn Write) -> i32 {
    if let Err(e) = runner.session.connect() {
        eprintln!("{e}");
    }
    // As at the prompt (redis-cli runs both the same way).
    runner.session.show_redirects = true;
    for line in input.split(b'\n') {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("Error: cannot read standard input: {e}");
                return 1;
            }
        };
        if runner.run(&line, out) == LineOutcome::Quit {
            break;
        }
    }
    0
}
