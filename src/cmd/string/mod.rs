//! String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET
//! MSET MSETNX INCR DECR INCRBY DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE
//! SETRANGE LCS, and the bit commands SETBIT GETBIT BITCOUNT BITPOS BITOP
//! ([`BIT_COMMANDS`]), with Redis 7's semantics, replies and error texts.
//!
//! TTL rules follow Redis: SET (without KEEPTTL), SETEX, GETSET, MSET and
//! BITOP replace the TTL; APPEND, SETRANGE, SETBIT and the INCR family keep
//! it.

mod bits;
mod counter;
mod get_set;
mod lcs;
pub(crate) mod long_double;
mod options;
mod range;

pub use bits::COMMANDS as BIT_COMMANDS;

use bytes::Bytes;

use super::{CmdError, CommandSpec};
use crate::store::{Entry, Locked, Value};

/// This family's part of the command table (metadata as Redis 7's
/// `COMMAND INFO` reports it).
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: 2,
        flags: &["readonly", "fast"],
        acl: &["@read", "@string", "@fast"],
        handler: get_set::get,
        ..single_key()
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: &["write", "denyoom"],
        acl: &["@write", "@string", "@slow"],
        handler: get_set::set,
        ..single_key()
    },
    CommandSpec {
        name: "setnx",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: get_set::setnx,
        ..single_key()
    },
    CommandSpec {
        name: "setex",
        arity: 4,
        flags: &["write", "denyoom"],
        acl: &["@write", "@string", "@slow"],
        handler: get_set::setex,
        ..single_key()
    },
    CommandSpec {
        name: "psetex",
        arity: 4,
        flags: &["write", "denyoom"],
        acl: &["@write", "@string", "@slow"],
        handler: get_set::psetex,
        ..single_key()
    },
    CommandSpec {
        name: "getset",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: get_set::getset,
        ..single_key()
    },
    CommandSpec {
        name: "getdel",
        arity: 2,
        flags: &["write", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: get_set::getdel,
        ..single_key()
    },
    CommandSpec {
        name: "getex",
        arity: -2,
        flags: &["write", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: get_set::getex,
        ..single_key()
    },
    CommandSpec {
        name: "mget",
        arity: -2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["@read", "@string", "@fast"],
        tips: &["request_policy:multi_shard"],
        handler: get_set::mget,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: -1,
        step: 2,
        acl: &["@write", "@string", "@slow"],
        tips: &["request_policy:multi_shard", "response_policy:all_succeeded"],
        handler: get_set::mset,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "msetnx",
        arity: -3,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: -1,
        step: 2,
        acl: &["@write", "@string", "@slow"],
        tips: &["request_policy:multi_shard", "response_policy:agg_min"],
        handler: get_set::msetnx,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "incr",
        arity: 2,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: counter::incr,
        ..single_key()
    },
    CommandSpec {
        name: "decr",
        arity: 2,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: counter::decr,
        ..single_key()
    },
    CommandSpec {
        name: "incrby",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: counter::incrby,
        ..single_key()
    },
    CommandSpec {
        name: "decrby",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: counter::decrby,
        ..single_key()
    },
    CommandSpec {
        name: "incrbyfloat",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: counter::incrbyfloat,
        ..single_key()
    },
    CommandSpec {
        name: "append",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@string", "@fast"],
        handler: range::append,
        ..single_key()
    },
    CommandSpec {
        name: "strlen",
        arity: 2,
        flags: &["readonly", "fast"],
        acl: &["@read", "@string", "@fast"],
        handler: range::strlen,
        ..single_key()
    },
    CommandSpec {
        name: "getrange",
        arity: 4,
        flags: &["readonly"],
        acl: &["@read", "@string", "@slow"],
        handler: range::getrange,
        ..single_key()
    },
    CommandSpec {
        name: "setrange",
        arity: 4,
        flags: &["write", "denyoom"],
        acl: &["@write", "@string", "@slow"],
        handler: range::setrange,
        ..single_key()
    },
    lcs::COMMAND,
];

/// Base for commands whose only key is the first argument.
const fn single_key() -> CommandSpec {
    CommandSpec { first_key: 1, last_key: 1, step: 1, ..CommandSpec::BASE }
}

/// The string an entry holds, or WRONGTYPE for other types.
fn string_of(entry: &Entry) -> Result<&Bytes, CmdError> {
    match &entry.value {
        Value::Str(bytes) => Ok(bytes),
        _ => Err(CmdError::WrongType),
    }
}

/// Mutable access to an entry's string, for callers that checked the type.
fn string_mut(entry: &mut Entry) -> Option<&mut Bytes> {
    match &mut entry.value {
        Value::Str(bytes) => Some(bytes),
        _ => None,
    }
}

/// Reads `key` as a read command does (counting a hit or miss): its
/// string, `None` if absent, WRONGTYPE for other types.
fn read_string(db: &mut Locked<'_>, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
    db.read(key).map(|entry| string_of(entry).map(reply_copy)).transpose()
}

/// Values up to this many bytes are copied into a reply rather than shared.
const COPY_MAX: usize = 512;

/// The value for a reply. A small one is copied: sharing it would take
/// and later release a reference count in a header of its own, a cache
/// line a random key rarely has warm, which costs more than copying a few
/// hundred bytes the reply reads anyway.
pub(super) fn reply_copy(value: &Bytes) -> Bytes {
    if value.len() <= COPY_MAX { Bytes::copy_from_slice(value) } else { value.clone() }
}

/// A string value copied out of a request argument (never sharing the
/// request buffer).
fn owned(arg: &[u8]) -> Value {
    Value::Str(Bytes::copy_from_slice(arg))
}
