//! Command errors, and their RESP text in one place.

/// Why a command failed. `Display` is the exact RESP error text (prefix
/// included), matching Redis where clients depend on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// Argument count outside the command's arity (name is lowercase,
    /// `container|sub` for subcommands).
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    /// Options that do not parse or conflict.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be a 64-bit integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument that must be a float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// A key holding a value of another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// An increment that leaves the 64-bit range.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// A command that needs an existing key.
    #[error("ERR no such key")]
    NoSuchKey,
    /// An expire time out of range (the name is the command, lowercase).
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpireTime(String),
    /// The connection has not authenticated and a password is set.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// A write refused under `maxmemory` with `noeviction`.
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    OutOfMemory,
    /// A command name the server does not know.
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand {
        /// The name as sent (cut to 128 bytes).
        name: String,
        /// The first arguments, each quoted and followed by a space.
        args: String,
    },
    /// A subcommand the container does not know.
    #[error("ERR unknown subcommand '{sub}'. Try {container} HELP.")]
    UnknownSubcommand {
        /// The subcommand as sent.
        sub: String,
        /// The container command, uppercase.
        container: String,
    },
    /// Any other error; the text carries its own prefix (`ERR ...`).
    #[error("{0}")]
    Other(String),
}

impl CmdError {
    /// An `ERR` error with the given message.
    pub fn err(msg: impl std::fmt::Display) -> CmdError {
        CmdError::Other(format!("ERR {msg}"))
    }
}
