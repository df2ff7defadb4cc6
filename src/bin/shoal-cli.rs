//! `shoal-cli`: sends one command to a Shoal (or Redis) server and prints
//! the reply the way redis-cli does.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use shoal::cli::{CliError, Connection, format};
use shoal::protocol::Frame;

/// Command-line flags, named as redis-cli names them.
#[derive(Parser, Debug)]
#[command(name = "shoal-cli", version, about = "Send a command to a Shoal node", disable_help_flag = true)]
struct Args {
    /// Server host name or address.
    #[arg(short = 'h', long = "host", default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short = 'p', long = "port", default_value_t = 6380)]
    port: u16,
    /// Password for AUTH (visible to other users of this machine).
    #[arg(short = 'a', long = "pass")]
    password: Option<String>,
    /// User name for AUTH, with -a.
    #[arg(long = "user")]
    user: Option<String>,
    /// Do not warn about -a on the command line.
    #[arg(long = "no-auth-warning")]
    no_auth_warning: bool,
    /// Speak RESP3 (sends HELLO 3 first).
    #[arg(short = '3')]
    resp3: bool,
    /// Exit with status 1 when the reply is an error.
    #[arg(short = 'e')]
    errors_exit: bool,
    /// Print replies raw, even on a terminal.
    #[arg(long = "raw")]
    raw: bool,
    /// Print replies formatted, even when not on a terminal.
    #[arg(long = "no-raw", conflicts_with = "raw")]
    no_raw: bool,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, CliError> {
    let mut conn = Connection::connect(&args.host, args.port)?;
    if let Some(password) = &args.password {
        if !args.no_auth_warning {
            eprintln!(
                "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe."
            );
        }
        let mut auth = vec!["AUTH".to_string()];
        auth.extend(args.user.clone());
        auth.push(password.clone());
        if let Frame::Error(text) = conn.call(&auth)? {
            eprintln!("AUTH failed: {text}");
        }
    }
    if args.resp3
        && let Frame::Error(text) = conn.call(&["HELLO", "3"])?
    {
        eprintln!("HELLO 3 failed: {text}");
    }
    let command: Vec<Vec<u8>> = args.command.iter().map(|a| a.clone().into_vec()).collect();
    let reply = conn.call(&command)?;
    if let (Frame::Error(text), true) = (&reply, args.errors_exit) {
        eprintln!("{text}");
        return Ok(ExitCode::FAILURE);
    }
    let raw = args.raw || (!args.no_raw && !std::io::stdout().is_terminal());
    let out = if raw { format::raw(&reply) } else { format::tty(&reply).into_bytes() };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
