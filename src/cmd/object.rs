//! OBJECT: ENCODING FREQ IDLETIME REFCOUNT HELP.
//!
//! Single-key introspection: none of these counts as a use of the key
//! (Redis's `LOOKUP_NOTOUCH`), so asking does not change the answer.

use bytes::Bytes;

use super::command::help_reply;
use super::{CmdError, CommandSpec, Ctx};
use crate::protocol::Frame;
use crate::store::{Entry, Value, is_lfu};

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "object",
    arity: -2,
    acl: &["@slow"],
    subcommands: SUBCOMMANDS,
    ..CommandSpec::BASE
}];

const KEY_FLAGS: &[&str] = &["readonly"];
const KEY_ACL: &[&str] = &["@keyspace", "@read", "@slow"];
const KEY_TIPS: &[&str] = &["nondeterministic_output"];

/// A subcommand taking one key at position 2.
const fn on_key(name: &'static str, handler: super::Handler) -> CommandSpec {
    CommandSpec {
        name,
        arity: 3,
        flags: KEY_FLAGS,
        first_key: 2,
        last_key: 2,
        step: 1,
        acl: KEY_ACL,
        tips: KEY_TIPS,
        handler,
        ..CommandSpec::BASE
    }
}

const SUBCOMMANDS: &[CommandSpec] = &[
    on_key("object|encoding", encoding),
    on_key("object|freq", freq),
    CommandSpec {
        name: "object|help",
        arity: 2,
        flags: &["loading", "stale"],
        acl: &["@keyspace", "@slow"],
        handler: help,
        ..CommandSpec::BASE
    },
    on_key("object|idletime", idletime),
    on_key("object|refcount", refcount),
];

const NOT_LFU: &str = "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const IS_LFU: &str = "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// Runs `answer` on the live entry of `args[2]`, or answers null.
fn with_entry(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    answer: impl FnOnce(&Ctx<'_>, &Entry) -> Result<Frame, CmdError>,
) -> Result<Frame, CmdError> {
    let store = ctx.store;
    let mut db = store.lock(&args[2]);
    match db.read_untouched(&args[2]) {
        Some(entry) => answer(ctx, entry),
        None => Ok(Frame::Null),
    }
}

fn encoding(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    with_entry(ctx, args, |_, e| Ok(Frame::bulk(e.value.encoding())))
}

fn freq(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    with_entry(ctx, args, |ctx, e| {
        if !is_lfu(ctx.store.memory_policy().policy) {
            return Err(CmdError::err(NOT_LFU));
        }
        Ok(Frame::Integer(ctx.store.lfu_counter(e) as i64))
    })
}

fn idletime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    with_entry(ctx, args, |ctx, e| {
        if is_lfu(ctx.store.memory_policy().policy) {
            return Err(CmdError::err(IS_LFU));
        }
        Ok(Frame::Integer(ctx.store.idle_secs(e) as i64))
    })
}

/// Redis shares the integers 0..9999 between keys (reference count
/// `INT_MAX`) unless a bounded LRU or LFU policy needs per-key access data;
/// every other value has one reference. Shoal stores values per key, and
/// answers as Redis would for the current settings.
fn refcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    with_entry(ctx, args, |ctx, e| {
        let policy = ctx.store.memory_policy();
        let tracks_access = !matches!(
            policy.policy,
            crate::config::MaxmemoryPolicy::NoEviction
                | crate::config::MaxmemoryPolicy::AllkeysRandom
                | crate::config::MaxmemoryPolicy::VolatileRandom
                | crate::config::MaxmemoryPolicy::VolatileTtl
        );
        let shared = (policy.maxmemory == 0 || !tracks_access) && is_shared_integer(&e.value);
        Ok(Frame::Integer(if shared { i32::MAX as i64 } else { 1 }))
    })
}

// Strings are the only type today; the `else` is for the types to come.
#[allow(irrefutable_let_patterns)]
fn is_shared_integer(value: &Value) -> bool {
    let Value::Str(b) = value else { return false };
    value.encoding() == "int"
        && std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .is_some_and(|n| (0..10_000).contains(&n))
}

fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing::{TestClient, err};
    use crate::protocol::Frame;

    #[test]
    fn encodings_and_missing_keys() {
        let mut c = TestClient::new();
        c.put("i", "12345", 0);
        c.put("e", "hello", 0);
        c.put("r", &"x".repeat(45), 0);
        assert_eq!(c.run(&["object", "encoding", "i"]), Frame::bulk("int"));
        assert_eq!(c.run(&["OBJECT", "ENCODING", "e"]), Frame::bulk("embstr"));
        assert_eq!(c.run(&["object", "encoding", "r"]), Frame::bulk("raw"));
        for sub in ["encoding", "freq", "idletime", "refcount"] {
            assert_eq!(c.run(&["object", sub, "nokey"]), Frame::Null, "{sub}");
        }
        assert_eq!(
            c.run(&["object", "encoding"]),
            err("ERR wrong number of arguments for 'object|encoding' command")
        );
        assert_eq!(c.run(&["object", "foo"]), err("ERR unknown subcommand 'foo'. Try OBJECT HELP."));
        let Frame::Array(lines) = c.run(&["object", "help"]) else { panic!() };
        assert_eq!(lines.len(), 15);
    }

    #[test]
    fn freq_and_idletime_follow_the_policy() {
        let mut c = TestClient::new();
        c.put("k", "v", 0);
        assert_eq!(c.run(&["object", "idletime", "k"]), Frame::Integer(0));
        assert!(
            matches!(c.run(&["object", "freq", "k"]), Frame::Error(e) if e.starts_with("ERR An LFU maxmemory policy is not selected"))
        );
        assert_eq!(c.run(&["config", "set", "maxmemory-policy", "allkeys-lfu"]), Frame::ok());
        assert!(
            matches!(c.run(&["object", "idletime", "k"]), Frame::Error(e) if e.starts_with("ERR An LFU maxmemory policy is selected, idle time not tracked."))
        );
        c.run(&["set", "f", "v"]);
        assert_eq!(c.run(&["object", "freq", "f"]), Frame::Integer(5), "a new key starts at LFU_INIT");
        for _ in 0..3 {
            c.run(&["get", "f"]);
        }
        let Frame::Integer(after) = c.run(&["object", "freq", "f"]) else { panic!() };
        assert!(after > 5, "reads raise the counter: {after}");
    }

    #[test]
    fn refcount_like_redis() {
        let mut c = TestClient::new();
        c.put("small", "5", 0);
        c.put("big", "12345", 0);
        c.put("s", "abc", 0);
        assert_eq!(c.run(&["object", "refcount", "small"]), Frame::Integer(i32::MAX as i64));
        assert_eq!(c.run(&["object", "refcount", "big"]), Frame::Integer(1));
        assert_eq!(c.run(&["object", "refcount", "s"]), Frame::Integer(1));
        c.run(&["config", "set", "maxmemory", "1gb", "maxmemory-policy", "allkeys-lru"]);
        assert_eq!(c.run(&["object", "refcount", "small"]), Frame::Integer(1));
    }
}
