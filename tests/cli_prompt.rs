//! `shoal-cli`'s interactive prompt, driven through a pseudo-terminal:
//! type commands, see replies, greyed hints, help, history kept across
//! runs, `not connected>` and reconnection after a server restart.
//!
//! Each expectation waits up to a generous deadline for text to appear;
//! nothing depends on how fast the machine is.

mod common;

use std::path::Path;
use std::process::Command;

use common::{BlockingNode, RedisServer};
use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};

/// How long one expectation may wait.
const WAIT_MS: u64 = 30_000;

const UP: &str = "\x1b[A";

/// Starts `shoal-cli -p port` on a pseudo-terminal with `home` as HOME. The
/// terminal gets a size first (a new pseudo-terminal has none, and line
/// editing needs one to lay out hints).
fn prompt(port: u16, home: &Path) -> PtySession {
    let mut command = Command::new("sh");
    command
        .args(["-c", "stty cols 200 rows 50 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_shoal-cli"))
        .args(["-p", &port.to_string()])
        .env("HOME", home)
        .env("TERM", "xterm")
        .env_remove("SHOALCLI_HISTFILE");
    let options = Options::new().timeout_ms(Some(WAIT_MS)).strip_ansi_escape_codes(false);
    spawn_with_options(command, options).expect("spawn shoal-cli on a pty")
}

fn expect(session: &mut PtySession, text: &str) -> String {
    session.exp_string(text).unwrap_or_else(|e| panic!("waiting for {text:?}: {e}"))
}

/// Types a line, waits for `reply` (text that is not in the line: the
/// terminal echoes, and redraws, what is typed), then for the next prompt.
fn command(session: &mut PtySession, line: &str, reply: &str, prompt: &str) {
    session.send_line(line).expect("type");
    expect(session, reply);
    expect(session, prompt);
}

#[test]
fn prompt_runs_commands_shows_hints_and_keeps_history() {
    let node = BlockingNode::start_default();
    let port = node.addr().port();
    let home = tempfile::tempdir().expect("home");
    let ready = format!("127.0.0.1:{port}> ");

    let mut cli = prompt(port, home.path());
    expect(&mut cli, &ready);
    // The hint for SET after its key, in grey.
    cli.send("set foo").expect("type");
    cli.flush().expect("flush");
    expect(&mut cli, "\x1b[90m value [NX|XX] [GET]");
    cli.send_line(" \"bar baz\"").expect("type");
    expect(&mut cli, "OK");
    expect(&mut cli, &ready);
    command(&mut cli, "get foo", "\"bar baz\"", &ready);
    command(&mut cli, "hset h f 'v 1' g 2", "(integer) 2", &ready);
    command(&mut cli, "hgetall h", "2) \"v 1\"", &ready);
    command(&mut cli, "nosuch x", "(error) ERR unknown command 'nosuch'", &ready);
    command(&mut cli, "2 incr n", "(integer) 2", &ready);
    command(&mut cli, "help get", "summary:", &ready);
    command(&mut cli, "\"unbalanced", "Invalid argument(s)", &ready);
    cli.send_line("multi").expect("type");
    let in_tx = format!("127.0.0.1:{port}(TX)> ");
    expect(&mut cli, &in_tx);
    command(&mut cli, "get foo", "QUEUED", &in_tx);
    command(&mut cli, "exec", "1) \"bar baz\"", &ready);
    cli.send_line("auth secret").expect("type");
    expect(&mut cli, &ready);
    cli.send_line("quit").expect("type");
    cli.exp_eof().expect("exit after quit");

    let history = std::fs::read_to_string(home.path().join(".shoalcli_history")).expect("history file");
    assert!(history.contains("get foo") && history.contains("hset h f 'v 1' g 2"), "{history}");
    assert!(!history.contains("secret"), "a password was kept in history: {history}");

    // A new run recalls the previous run's lines: quit, exec, get foo.
    let mut again = prompt(port, home.path());
    expect(&mut again, &ready);
    again.send(&UP.repeat(3)).expect("type");
    again.flush().expect("flush");
    again.send_line("").expect("enter");
    expect(&mut again, "\"bar baz\"");
    expect(&mut again, &ready);
    again.send_control('d').expect("ctrl-d");
    again.exp_eof().expect("exit on ctrl-d");
}

#[test]
fn prompt_reconnects_after_the_server_restarts() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    let home = tempfile::tempdir().expect("home");
    let ready = format!("127.0.0.1:{port}> ");

    let mut cli = prompt(port, home.path());
    expect(&mut cli, &ready);
    command(&mut cli, "set k v", "OK", &ready);
    let in_db = format!("127.0.0.1:{port}[2]> ");
    command(&mut cli, "select 2", "OK", &in_db);
    redis.restart();
    // The next command reconnects (selecting database 2 again) and runs.
    command(&mut cli, "set in2 x", "OK", &in_db);
    command(&mut cli, "dbsize", "(integer) 1", &in_db);
    command(&mut cli, "get k", "(nil)", &in_db);
    cli.send_line("exit").expect("type");
    cli.exp_eof().expect("exit");
}

#[test]
fn prompt_without_a_server_says_not_connected() {
    let port = common::free_port();
    let home = tempfile::tempdir().expect("home");
    let mut cli = prompt(port, home.path());
    expect(&mut cli, &format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused"));
    expect(&mut cli, "not connected> ");
    cli.send_line("ping").expect("type");
    expect(&mut cli, "Connection refused");
    expect(&mut cli, "not connected> ");
    cli.send_line("quit").expect("type");
    cli.exp_eof().expect("exit");
}
