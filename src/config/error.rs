//! Errors from loading the configuration, each naming the key and where its value came from.

use std::fmt;
use std::path::PathBuf;

/// Where a config value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// TOML text given directly (`Config::from_toml_str`).
    Text,
    /// The config file at this path (`--config`).
    File(PathBuf),
    /// The environment variable of this name.
    Env(String),
    /// The command-line flag of this name (with its leading `--`).
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the built-in default"),
            Origin::Text => f.write_str("the TOML text"),
            Origin::File(path) => write!(f, "config file {}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file given with `--config`.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("cannot parse {origin}: {message}")]
    Syntax {
        /// The file (or text) that failed to parse.
        origin: Origin,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// A `[section]` that the schema does not have.
    #[error("unknown config section `[{section}]` in {origin}")]
    UnknownSection {
        /// The section name as written.
        section: String,
        /// Where it was written.
        origin: Origin,
    },
    /// A key that its section does not have (or a key outside any section).
    #[error("unknown config key `{key}` in {origin}")]
    UnknownKey {
        /// The dotted key as written, e.g. `store.nope`.
        key: String,
        /// Where it was written.
        origin: Origin,
    },
    /// An environment variable of the form `SHOAL_<SECTION>__<KEY>` naming no key.
    #[error(
        "environment variable {var} names no config key \
         (expected SHOAL_<SECTION>__<KEY>, e.g. SHOAL_STORE__MAXMEMORY)"
    )]
    UnknownEnv {
        /// The variable's name.
        var: String,
    },
    /// Two environment variables that differ only in case set the same key.
    #[error("environment variables {first} and {second} both set `{key}`")]
    DuplicateEnv {
        /// The dotted key both set.
        key: String,
        /// The first variable, in sorted order.
        first: String,
        /// The second variable.
        second: String,
    },
    /// A value of the wrong type or outside its allowed range.
    #[error("invalid value for `{key}` from {origin}: {reason}")]
    InvalidValue {
        /// The dotted key, e.g. `server.port`.
        key: String,
        /// Where the offending value came from.
        origin: Origin,
        /// What is wrong with it.
        reason: String,
    },
}
