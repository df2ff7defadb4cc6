//! The command table's entry type: what `COMMAND` reports, how arguments
//! are counted, where keys are, and which handler runs.

use bytes::Bytes;

use super::{CmdError, Ctx};
use crate::protocol::Frame;

/// Runs a command. `args[0]` is the command name as sent (for a subcommand,
/// `args[1]` is the subcommand), so arity and positions match Redis's argv.
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> Result<Frame, CmdError>;

/// One command (or subcommand), with Redis 7's metadata.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase name; subcommands are `container|sub`, as Redis names them.
    pub name: &'static str,
    /// Redis arity: N = exactly N arguments (name included), -N = at least N.
    pub arity: i32,
    /// Redis command flags (`write`, `readonly`, `denyoom`, `fast`, `noauth`, ...).
    pub flags: &'static [&'static str],
    /// Position of the first key (0 = none).
    pub first_key: i32,
    /// Position of the last key (-1 = the last argument).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// ACL categories (`@read`, `@string`, ...).
    pub acl: &'static [&'static str],
    /// Command tips (`nondeterministic_output`, ...).
    pub tips: &'static [&'static str],
    /// The function that runs it. Containers with subcommands never run
    /// their own handler for a known subcommand.
    pub handler: Handler,
    /// Subcommands (`CLIENT SETNAME`, ...).
    pub subcommands: &'static [CommandSpec],
}

fn not_runnable(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    Err(CmdError::WrongArity(String::from_utf8_lossy(&args[0]).to_lowercase()))
}

impl CommandSpec {
    /// A base for table entries: `CommandSpec { name, arity, handler, ..CommandSpec::BASE }`.
    pub const BASE: CommandSpec = CommandSpec {
        name: "",
        arity: 1,
        flags: &[],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl: &[],
        tips: &[],
        handler: not_runnable,
        subcommands: &[],
    };

    /// True when the argument count (name included) fits the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 { argc == arity } else { argc >= -arity }
    }

    /// True if the command has the given flag.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// True for commands that change data.
    pub fn is_write(&self) -> bool {
        self.has_flag("write")
    }

    /// Positions of the keys in `args` according to first/last/step.
    pub fn key_positions(&self, argc: usize) -> impl Iterator<Item = usize> + use<> {
        let first = self.first_key.max(0) as usize;
        let last = if self.last_key < 0 {
            (argc as i64 + self.last_key as i64).max(0) as usize
        } else {
            (self.last_key as usize).min(argc.saturating_sub(1))
        };
        let step = self.step.max(1) as usize;
        let end = if first == 0 || first >= argc { first } else { last + 1 };
        (first..end).step_by(step)
    }
}
