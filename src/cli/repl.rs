//! The interactive prompt: rustyline for line editing and persistent
//! history, greyed argument hints from [`super::help`], and the same line
//! rules as commands read from standard input ([`LineRunner`]).

use std::borrow::Cow;
use std::cell::Cell;
use std::path::PathBuf;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Config, Context, Editor, Helper};

use super::help;
use super::run::{LineOutcome, LineRunner};
use crate::protocol::request::split_args;

/// The history file under the home directory.
pub const HISTORY_FILE: &str = ".shoalcli_history";
/// Environment variable naming another history file (`/dev/null`: none).
pub const HISTORY_ENV: &str = "SHOALCLI_HISTFILE";

/// Where history is kept: `$SHOALCLI_HISTFILE`, else `~/.shoalcli_history`;
/// `None` for `/dev/null` or when there is no home directory.
pub fn history_path() -> Option<PathBuf> {
    match std::env::var_os(HISTORY_ENV) {
        Some(path) if path == "/dev/null" => None,
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(HISTORY_FILE)),
    }
}

/// rustyline's helper: hints only.
struct PromptHelper {
    hints: Cell<bool>,
}

impl Hinter for PromptHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if !self.hints.get() || pos < line.len() {
            return None;
        }
        help::hint(line)
    }
}

impl Highlighter for PromptHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
    }
}

impl Completer for PromptHelper {
    type Candidate = String;
}

impl Validator for PromptHelper {}

impl Helper for PromptHelper {}

/// True for lines kept out of the history because they carry a password.
pub fn is_sensitive(line: &str) -> bool {
    let Ok(args) = split_args(line.as_bytes()) else { return false };
    let word =
        |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).unwrap_or_default();
    let mut start = 0;
    // A leading repeat count: `3 auth pw`.
    if args.len() > 1 && word(0).parse::<i64>().is_ok() {
        start = 1;
    }
    let (cmd, sub) = (word(start), word(start + 1));
    match cmd.as_str() {
        "auth" => true,
        "hello" => args.iter().skip(start).any(|a| a.eq_ignore_ascii_case(b"auth")),
        "acl" => sub == "setuser",
        "config" => {
            sub == "set" && matches!(word(start + 2).as_str(), "masterauth" | "masteruser" | "requirepass")
        }
        "migrate" => args
            .iter()
            .skip(start)
            .any(|a| a.eq_ignore_ascii_case(b"auth") || a.eq_ignore_ascii_case(b"auth2")),
        _ => false,
    }
}

/// Runs the prompt until `quit`, `exit`, Ctrl-D or Ctrl-C. Returns the exit
/// status.
pub fn run(runner: &mut LineRunner) -> i32 {
    if let Err(e) = runner.session.connect() {
        eprintln!("{e}");
    }
    runner.session.show_redirects = true;
    let config = Config::builder().auto_add_history(false).build();
    let mut editor: Editor<PromptHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("Error: cannot set up the terminal: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(PromptHelper { hints: Cell::new(runner.hints) }));
    let history = history_path();
    if let Some(path) = &history {
        // A missing file is the first run.
        let _ = editor.load_history(path);
    }
    loop {
        let prompt = runner.session.prompt();
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => return 0,
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if !is_sensitive(&line) {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history
                && let Err(e) = editor.save_history(path)
            {
                eprintln!("Warning: cannot save history to {}: {e}", path.display());
            }
        }
        let mut stdout = std::io::stdout().lock();
        let outcome = runner.run(line.as_bytes(), &mut stdout);
        drop(stdout);
        if let Some(helper) = editor.helper_mut() {
            helper.hints.set(runner.hints);
        }
        if outcome == LineOutcome::Quit {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_history() {
        assert!(is_sensitive("auth secret"));
        assert!(is_sensitive("AUTH user secret"));
        assert!(is_sensitive("2 auth secret"));
        assert!(is_sensitive("hello 3 AUTH default secret"));
        assert!(is_sensitive("config set requirepass x"));
        assert!(!is_sensitive("config set maxmemory 1mb"));
        assert!(!is_sensitive("hello 3"));
        assert!(!is_sensitive("get auth"));
    }
}
