//! Keyspace commands: DEL UNLINK EXISTS TOUCH TYPE RENAME RENAMENX COPY KEYS
//! RANDOMKEY DBSIZE FLUSHDB FLUSHALL.
//!
//! Commands on several keys lock all their slots at once, so each runs
//! atomically on this node. The keyspace-wide ones walk the slots one at a
//! time instead:
//! - `KEYS` lists the live keys of each slot in turn; keys whose TTL passed
//!   but that were not removed yet are skipped, not deleted (the active
//!   expiry cycle removes them).
//! - `RANDOMKEY` removes the expired keys of the slot it picked, as Redis
//!   deletes the expired keys it samples.
//! - `DBSIZE` counts entries, including expired ones not yet removed, as
//!   Redis's does.
//! - `FLUSHDB`/`FLUSHALL` empty the slots one after another: a write that
//!   runs concurrently on a slot already emptied survives the flush. Redis,
//!   being single-threaded, has no such window; commands from one client
//!   still see every key gone once the reply arrives.
//!
//! Shoal has one database: `COPY ... DB n` accepts only 0 and answers
//! `ERR DB index is out of range` otherwise, as `SELECT` does.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::args::{int, is};
use super::{CmdError, CommandSpec, Ctx, ok};
use crate::protocol::Frame;
use crate::store::now_ms;
use crate::util::glob::glob_match;

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        arity: -2,
        flags: &["write"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["@keyspace", "@write", "@slow"],
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        handler: del,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "unlink",
        arity: -2,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["@keyspace", "@write", "@fast"],
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        handler: del,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "exists",
        arity: -2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["@keyspace", "@read", "@fast"],
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        handler: exists,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "touch",
        arity: -2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["@keyspace", "@read", "@fast"],
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        handler: touch,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "type",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["@keyspace", "@read", "@fast"],
        handler: type_of,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "rename",
        arity: 3,
        flags: &["write"],
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: &["@keyspace", "@write", "@slow"],
        handler: rename,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "renamenx",
        arity: 3,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: &["@keyspace", "@write", "@fast"],
        handler: renamenx,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "copy",
        arity: -3,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: &["@keyspace", "@write", "@slow"],
        handler: copy,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "keys",
        arity: 2,
        flags: &["readonly"],
        acl: &["@keyspace", "@read", "@slow", "@dangerous"],
        tips: &["request_policy:all_shards", "nondeterministic_output_order"],
        handler: keys,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "randomkey",
        arity: 1,
        flags: &["readonly"],
        acl: &["@keyspace", "@read", "@slow"],
        tips: &["request_policy:all_shards", "nondeterministic_output"],
        handler: randomkey,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "dbsize",
        arity: 1,
        flags: &["readonly", "fast"],
        acl: &["@keyspace", "@read", "@fast"],
        tips: &["request_policy:all_shards", "response_policy:agg_sum"],
        handler: dbsize,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "flushdb",
        arity: -1,
        flags: &["write"],
        acl: &["@keyspace", "@write", "@slow", "@dangerous"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        handler: flush,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "flushall",
        arity: -1,
        flags: &["write"],
        acl: &["@keyspace", "@write", "@slow", "@dangerous"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        handler: flush,
        ..CommandSpec::BASE
    },
];

/// DEL and UNLINK (values are freed when the last reference drops, so the
/// two behave the same).
fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let keys = &args[1..];
    let mut db = ctx.store.lock_keys(keys);
    let deleted = keys.iter().filter(|key| db.delete(key).is_some()).count();
    Ok(Frame::Integer(deleted as i64))
}

/// Counts a key once per mention: `EXISTS k k` is 2 when `k` exists.
fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let keys = &args[1..];
    let mut db = ctx.store.lock_keys(keys);
    let found = keys.iter().filter(|key| db.read_untouched(key).is_some()).count();
    Ok(Frame::Integer(found as i64))
}

fn touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let keys = &args[1..];
    let mut db = ctx.store.lock_keys(keys);
    let touched = keys.iter().filter(|key| db.read(key).is_some()).count();
    Ok(Frame::Integer(touched as i64))
}

fn type_of(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let key = &args[1];
    let name = ctx.store.lock(key).read_untouched(key).map_or("none", |e| e.value.type_name());
    Ok(Frame::Simple(name.to_string()))
}

fn rename(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    move_key(ctx, &args[1], &args[2], false)?;
    ok()
}

fn renamenx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let moved = move_key(ctx, &args[1], &args[2], true)?;
    Ok(Frame::Integer(moved as i64))
}

/// Moves `src`'s value and TTL to `dst`, replacing what `dst` held unless
/// `nx`. True if the value moved; false when `src` is `dst`, or `dst`
/// exists and `nx` is set.
fn move_key(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], nx: bool) -> Result<bool, CmdError> {
    let mut db = ctx.store.lock_keys(&[src, dst]);
    if !db.exists(src) {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst || (nx && db.exists(dst)) {
        return Ok(false);
    }
    let entry = db.delete(src).ok_or(CmdError::NoSuchKey)?;
    db.set(dst, entry.value, entry.expires_at);
    Ok(true)
}

/// `COPY source destination [DB destination-db] [REPLACE]`.
fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "REPLACE") {
            replace = true;
            i += 1;
        } else if is(&args[i], "DB") && i + 1 < args.len() {
            if db_index(&args[i + 1])? != 0 {
                return Err(CmdError::err("DB index is out of range"));
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (src, dst) = (&args[1][..], &args[2][..]);
    if src == dst {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let mut db = ctx.store.lock_keys(&[src, dst]);
    let Some(entry) = db.read(src) else {
        return Ok(Frame::Integer(0));
    };
    let (value, expires_at) = (entry.value.clone(), entry.expires_at);
    if !replace && db.exists(dst) {
        return Ok(Frame::Integer(0));
    }
    db.set(dst, value, expires_at);
    Ok(Frame::Integer(1))
}

/// A database index argument, with Redis's errors for a non-integer and for
/// one outside the C `int` range.
fn db_index(arg: &[u8]) -> Result<i32, CmdError> {
    let n = int(arg)?;
    i32::try_from(n).map_err(|_| {
        CmdError::err(format!("value is out of range, value must between {} and {}", i32::MIN, i32::MAX))
    })
}

fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let pattern = &args[1][..];
    // Redis answers "*" without matching, which also lists the empty key.
    let all = pattern == b"*";
    let now = now_ms();
    let mut found = Vec::new();
    ctx.store.walk_slots(0, |_, table| {
        let live = table.iter().filter(|(_, e)| !e.is_expired(now));
        found.extend(live.filter(|(k, _)| all || glob_match(pattern, k, false)).map(|(k, _)| Frame::bulk(k)));
        ControlFlow::Continue(())
    });
    Ok(Frame::Array(found))
}

fn randomkey(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(ctx.store.random_key().map_or(Frame::Null, Frame::Bulk))
}

fn dbsize(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.store.counts().0 as i64))
}

/// FLUSHDB and FLUSHALL `[ASYNC|SYNC]` (both free memory at once).
fn flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    match args {
        [_] => {}
        [_, mode] if is(mode, "ASYNC") || is(mode, "SYNC") => {}
        _ => return Err(CmdError::Syntax),
    }
    ctx.store.flush();
    ok()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestClient, bulk, err, int, ok, sorted_bulks};
    use crate::protocol::Frame;
    use crate::store::now_ms;

    #[test]
    fn del_counts_each_key_once() {
        let mut c = TestClient::with_keys(&["a", "b", "{a}c"]);
        assert_eq!(c.run(&["DEL", "a", "a", "nokey", "{a}c"]), int(2));
        assert_eq!(c.run(&["unlink", "b", "b"]), int(1));
        assert_eq!(c.run(&["del", "b"]), int(0));
        assert_eq!(c.store.counts().0, 0);
        assert_eq!(c.run(&["del"]), err("ERR wrong number of arguments for 'del' command"));
    }

    #[test]
    fn del_skips_expired_keys() {
        let mut c = TestClient::with_keys(&["a"]);
        c.set_expiry("a", now_ms() - 1);
        assert_eq!(c.run(&["del", "a"]), int(0));
    }

    #[test]
    fn exists_counts_duplicates() {
        let mut c = TestClient::with_keys(&["a", "b"]);
        assert_eq!(c.run(&["exists", "a", "a", "b", "nokey"]), int(3));
        assert_eq!(c.run(&["exists", "nokey"]), int(0));
        c.set_expiry("b", now_ms() - 1);
        assert_eq!(c.run(&["exists", "b"]), int(0));
    }

    #[test]
    fn touch_counts_existing_keys() {
        let mut c = TestClient::with_keys(&["a", "b"]);
        assert_eq!(c.run(&["touch", "a", "b", "nokey", "a"]), int(3));
    }

    #[test]
    fn type_names_the_value() {
        let mut c = TestClient::with_keys(&["a"]);
        assert_eq!(c.run(&["type", "a"]), Frame::Simple("string".into()));
        assert_eq!(c.run(&["TYPE", "nokey"]), Frame::Simple("none".into()));
        assert_eq!(c.run(&["type"]), err("ERR wrong number of arguments for 'type' command"));
    }

    #[test]
    fn rename_moves_value_and_ttl() {
        let mut c = TestClient::with_keys(&["a", "b"]);
        let at = now_ms() + 100_000;
        c.set_expiry("a", at);
        assert_eq!(c.run(&["rename", "a", "b"]), ok());
        assert_eq!(c.run(&["exists", "a"]), int(0));
        assert_eq!(c.expires_at("b"), Some(at));
        assert_eq!(c.run(&["rename", "b", "b"]), ok());
        assert_eq!(c.run(&["rename", "nokey", "b"]), err("ERR no such key"));
        assert_eq!(c.run(&["rename", "nokey", "nokey"]), err("ERR no such key"));
        assert_eq!(c.store.counts().0, 1);
    }

    #[test]
    fn renamenx_keeps_an_existing_target() {
        let mut c = TestClient::with_keys(&["a", "b"]);
        assert_eq!(c.run(&["renamenx", "a", "b"]), int(0));
        assert_eq!(c.run(&["renamenx", "a", "a"]), int(0));
        assert_eq!(c.run(&["renamenx", "a", "c"]), int(1));
        assert_eq!(c.run(&["exists", "a", "c"]), int(1));
        assert_eq!(c.run(&["renamenx", "nokey", "d"]), err("ERR no such key"));
    }

    #[test]
    fn rename_of_an_expired_key_is_no_such_key() {
        let mut c = TestClient::with_keys(&["a"]);
        c.set_expiry("a", now_ms() - 1);
        assert_eq!(c.run(&["rename", "a", "b"]), err("ERR no such key"));
    }

    #[test]
    fn copy_copies_value_and_ttl() {
        let mut c = TestClient::with_keys(&["a", "b"]);
        let at = now_ms() + 100_000;
        c.set_expiry("a", at);
        assert_eq!(c.run(&["copy", "a", "b"]), int(0));
        assert_eq!(c.run(&["copy", "a", "c"]), int(1));
        assert_eq!(c.run(&["copy", "a", "b", "replace"]), int(1));
        assert_eq!(c.run(&["copy", "a", "d", "DB", "0", "REPLACE"]), int(1));
        for key in ["a", "b", "c", "d"] {
            assert_eq!(c.expires_at(key), Some(at));
        }
        assert_eq!(c.run(&["copy", "nokey", "e"]), int(0));
        assert_eq!(c.store.counts().0, 4);
    }

    #[test]
    fn copy_options_and_errors() {
        let mut c = TestClient::with_keys(&["a"]);
        assert_eq!(c.run(&["copy", "a", "a"]), err("ERR source and destination objects are the same"));
        assert_eq!(
            c.run(&["copy", "nokey", "nokey"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(c.run(&["copy", "a", "b", "db", "1"]), err("ERR DB index is out of range"));
        assert_eq!(c.run(&["copy", "a", "b", "db", "-1"]), err("ERR DB index is out of range"));
        assert_eq!(c.run(&["copy", "a", "b", "db", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(
            c.run(&["copy", "a", "b", "db", "2147483648"]),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
        assert_eq!(
            c.run(&["copy", "a", "b", "db", "-2147483649"]),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
        assert_eq!(
            c.run(&["copy", "a", "b", "db", "99999999999999999999"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(c.run(&["copy", "a", "b", "db", "2147483647"]), err("ERR DB index is out of range"));
        assert_eq!(c.run(&["copy", "a", "b", "replace", "db"]), err("ERR syntax error"));
        assert_eq!(c.run(&["copy", "a", "b", "foo"]), err("ERR syntax error"));
        assert_eq!(c.run(&["copy", "a", "b", "db", "5", "foo"]), err("ERR DB index is out of range"));
        assert_eq!(c.run(&["copy", "a"]), err("ERR wrong number of arguments for 'copy' command"));
        assert_eq!(c.store.counts().0, 1);
    }

    #[test]
    fn keys_matches_live_keys() {
        let mut c = TestClient::with_keys(&["", "hello", "hallo", "hxllo", "world", "h*"]);
        assert_eq!(sorted_bulks(&c.run(&["keys", "*"])), ["", "h*", "hallo", "hello", "hxllo", "world"]);
        assert_eq!(sorted_bulks(&c.run(&["keys", "h[ae]llo"])), ["hallo", "hello"]);
        assert_eq!(sorted_bulks(&c.run(&["keys", "h\\*"])), ["h*"]);
        assert_eq!(sorted_bulks(&c.run(&["keys", "**"])), ["h*", "hallo", "hello", "hxllo", "world"]);
        assert_eq!(sorted_bulks(&c.run(&["keys", ""])), [""]);
        assert_eq!(c.run(&["keys", "nothing*"]), Frame::Array(vec![]));
        c.set_expiry("hello", now_ms() - 1);
        assert_eq!(sorted_bulks(&c.run(&["keys", "h?llo"])), ["hallo", "hxllo"]);
        // Skipped, not deleted.
        assert_eq!(c.run(&["dbsize"]), int(6));
    }

    #[test]
    fn randomkey_and_dbsize() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["randomkey"]), Frame::Null);
        assert_eq!(c.run(&["dbsize"]), int(0));
        let mut c = TestClient::with_keys(&["a", "b"]);
        c.set_expiry("b", now_ms() - 1);
        assert_eq!(c.run(&["dbsize"]), int(2));
        for _ in 0..5 {
            assert_eq!(c.run(&["randomkey"]), bulk("a"));
        }
        assert_eq!(c.run(&["dbsize"]), int(1));
        assert_eq!(c.run(&["dbsize", "x"]), err("ERR wrong number of arguments for 'dbsize' command"));
    }

    #[test]
    fn flush_takes_an_optional_mode() {
        for cmd in ["flushdb", "FLUSHALL"] {
            let mut c = TestClient::with_keys(&["a", "b"]);
            assert_eq!(c.run(&[cmd]), ok());
            assert_eq!(c.run(&["dbsize"]), int(0));
            for mode in ["async", "SYNC"] {
                assert_eq!(c.run(&[cmd, mode]), ok());
            }
            assert_eq!(c.run(&[cmd, "foo"]), err("ERR syntax error"));
            assert_eq!(c.run(&[cmd, "sync", "async"]), err("ERR syntax error"));
        }
        let mut c = TestClient::with_keys(&["a"]);
        assert_eq!(c.run(&["flushall", "bogus"]), err("ERR syntax error"));
        assert_eq!(c.run(&["dbsize"]), int(1));
    }

    #[test]
    fn lookups_count_hits_and_misses_like_redis() {
        use std::sync::atomic::Ordering::Relaxed;
        let mut c = TestClient::with_keys(&["a"]);
        c.run(&["exists", "a", "a", "nokey"]);
        c.run(&["touch", "a", "nokey"]);
        c.run(&["type", "a"]);
        c.run(&["copy", "a", "b"]);
        c.run(&["rename", "b", "c"]);
        c.run(&["del", "c", "nokey"]);
        let stats = c.store.stats();
        assert_eq!((stats.keyspace_hits.load(Relaxed), stats.keyspace_misses.load(Relaxed)), (5, 2));
    }
}
