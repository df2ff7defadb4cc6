//! Whole-value reads and writes: GET SET SETNX SETEX PSETEX GETSET GETDEL
//! GETEX MGET MSET MSETNX.

use bytes::Bytes;

use super::options::{self, ExpireUnit, Family, Options};
use super::{owned, read_string, reply_copy, string_of};
use crate::cmd::args::name;
use crate::cmd::{CmdError, Ctx, ok};
use crate::protocol::Frame;
use crate::store::now_ms;

fn bulk_or_null(value: Option<Bytes>) -> Frame {
    value.map_or(Frame::Null, Frame::Bulk)
}

pub(super) fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    read_string(&mut db, &args[1]).map(bulk_or_null)
}

pub(super) fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let opts = options::parse(&args[3..], Family::Set)?;
    let replies = Replies { done: Frame::ok(), skipped: Frame::Null };
    set_generic(ctx, &args[1], &args[2], &opts, "set", replies)
}

pub(super) fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let opts = Options { nx: true, ..Options::default() };
    let replies = Replies { done: Frame::Integer(1), skipped: Frame::Integer(0) };
    set_generic(ctx, &args[1], &args[2], &opts, "setnx", replies)
}

pub(super) fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let opts = Options { expire: Some((ExpireUnit::Ex, &args[2])), ..Options::default() };
    let replies = Replies { done: Frame::ok(), skipped: Frame::Null };
    set_generic(ctx, &args[1], &args[3], &opts, "setex", replies)
}

pub(super) fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let opts = Options { expire: Some((ExpireUnit::Px, &args[2])), ..Options::default() };
    let replies = Replies { done: Frame::ok(), skipped: Frame::Null };
    set_generic(ctx, &args[1], &args[3], &opts, "psetex", replies)
}

/// What a SET-like command answers without GET: when it stored the value,
/// and when NX or XX made it skip.
struct Replies {
    done: Frame,
    skipped: Frame,
}

/// SET and its variants, in Redis's order: the expire time is checked
/// first, then GET reads the old value (WRONGTYPE stops everything), then
/// NX/XX decide. With GET the reply is always the old value.
fn set_generic(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: &[u8],
    opts: &Options<'_>,
    command: &str,
    replies: Replies,
) -> Result<Frame, CmdError> {
    let now = now_ms();
    let expires_at = match opts.expire {
        Some((unit, arg)) => Some(options::expire_at_ms(unit, arg, now, command)?),
        None => None,
    };
    let mut db = ctx.store.lock(key);
    let old = if opts.get { Some(read_string(&mut db, key)?) } else { None };
    let current_expiry = db.get(key).map(|entry| entry.expires_at);
    let found = current_expiry.is_some();
    if (opts.nx && found) || (opts.xx && !found) {
        return Ok(old.map_or(replies.skipped, bulk_or_null));
    }
    let expires_at = match expires_at {
        Some(at) => at,
        None if opts.keepttl => current_expiry.unwrap_or(0),
        None => 0,
    };
    if expires_at != 0 && options::is_past(expires_at, now) {
        // An EXAT/PXAT already passed: the new value expires at once.
        db.delete(key);
    } else {
        db.set(key, owned(value), expires_at);
    }
    Ok(old.map_or(replies.done, bulk_or_null))
}

pub(super) fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let old = read_string(&mut db, &args[1])?;
    db.set(&args[1], owned(&args[2]), 0);
    Ok(bulk_or_null(old))
}

pub(super) fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let old = read_string(&mut db, &args[1])?;
    if old.is_some() {
        db.delete(&args[1]);
    }
    Ok(bulk_or_null(old))
}

/// GETEX: a missing key answers nil before its type or the expire time is
/// looked at, as in Redis; only the option syntax is checked earlier.
pub(super) fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let opts = options::parse(&args[2..], Family::GetEx)?;
    let key = &args[1];
    let mut db = ctx.store.lock(key);
    let Some(entry) = db.read(key) else {
        return Ok(Frame::Null);
    };
    let value = string_of(entry)?.clone();
    let volatile = entry.is_volatile();
    let now = now_ms();
    if let Some((unit, arg)) = opts.expire {
        let at = options::expire_at_ms(unit, arg, now, "getex")?;
        if options::is_past(at, now) {
            db.delete(key);
        } else {
            db.update(key, |entry| entry.expires_at = at);
        }
    } else if opts.persist && volatile {
        db.update(key, |entry| entry.expires_at = 0);
    }
    Ok(Frame::Bulk(value))
}

/// MGET: nil for missing keys and for keys of other types.
pub(super) fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let keys = &args[1..];
    let mut db = ctx.store.lock_keys(keys);
    let values = keys
        .iter()
        .map(|key| match db.read(key) {
            Some(entry) => string_of(entry).map_or(Frame::Null, |v| Frame::Bulk(reply_copy(v))),
            None => Frame::Null,
        })
        .collect();
    Ok(Frame::Array(values))
}

pub(super) fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let pairs = key_value_pairs(args)?;
    let mut db = ctx.store.lock_keys(&pairs.iter().step_by(2).collect::<Vec<_>>());
    for pair in pairs.chunks(2) {
        db.set(&pair[0], owned(&pair[1]), 0);
    }
    ok()
}

/// MSETNX: sets every pair, or nothing if any key exists.
pub(super) fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let pairs = key_value_pairs(args)?;
    let keys: Vec<&Bytes> = pairs.iter().step_by(2).collect();
    let mut db = ctx.store.lock_keys(&keys);
    if keys.iter().any(|key| db.exists(key)) {
        return Ok(Frame::Integer(0));
    }
    for pair in pairs.chunks(2) {
        db.set(&pair[0], owned(&pair[1]), 0);
    }
    Ok(Frame::Integer(1))
}

/// The alternating keys and values after the command name; an odd count
/// is an arity error, as Redis reports it.
fn key_value_pairs(args: &[Bytes]) -> Result<&[Bytes], CmdError> {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name(args)));
    }
    Ok(&args[1..])
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing::{TestClient, bulk, err, ok};
    use crate::protocol::Frame;
    use crate::store::now_ms;

    #[test]
    fn get_and_set() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["GET", "k"]), Frame::Null);
        assert_eq!(h.run(&["SET", "k", "v"]), ok());
        assert_eq!(h.run(&["get", "k"]), bulk("v"));
        assert_eq!(h.run(&["SET", "k", ""]), ok());
        assert_eq!(h.run(&["GET", "k"]), bulk(""));
        assert_eq!(h.run(&["GET"]), err("ERR wrong number of arguments for 'get' command"));
        assert_eq!(h.run(&["SET", "k"]), err("ERR wrong number of arguments for 'set' command"));
        assert_eq!(h.run_bytes(&[b"SET", b"bin\0", b"\x00\xff"]), ok());
        assert_eq!(h.run_bytes(&[b"GET", b"bin\0"]), Frame::bulk(b"\x00\xff"));
    }

    #[test]
    fn set_nx_xx_get() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["SET", "k", "1", "XX"]), Frame::Null);
        assert_eq!(h.run(&["GET", "k"]), Frame::Null);
        assert_eq!(h.run(&["SET", "k", "1", "nx"]), ok());
        assert_eq!(h.run(&["SET", "k", "2", "NX"]), Frame::Null);
        assert_eq!(h.run(&["SET", "k", "3", "xx"]), ok());
        assert_eq!(h.run(&["SET", "k", "4", "GET"]), bulk("3"));
        assert_eq!(h.run(&["SET", "k", "5", "NX", "GET"]), bulk("4"));
        assert_eq!(h.run(&["GET", "k"]), bulk("4"));
        assert_eq!(h.run(&["SET", "new", "1", "get"]), Frame::Null);
        assert_eq!(h.run(&["GET", "new"]), bulk("1"));
        assert_eq!(h.run(&["SET", "absent", "1", "XX", "GET"]), Frame::Null);
        assert_eq!(h.run(&["GET", "absent"]), Frame::Null);
        assert_eq!(h.run(&["SET", "k", "v", "NX", "XX"]), err("ERR syntax error"));
        assert_eq!(h.run(&["SET", "k", "v", "FOO"]), err("ERR syntax error"));
    }

    #[test]
    fn set_expiry_options() {
        let mut h = TestClient::new();
        let now = now_ms();
        assert_eq!(h.run(&["SET", "k", "v", "EX", "100"]), ok());
        let at = h.expires_at("k").unwrap();
        assert!(at >= now + 100_000 && at <= now_ms() + 100_000);
        assert_eq!(h.run(&["SET", "k", "v", "px", "5000", "Px", "100000"]), ok());
        assert!(h.expires_at("k").unwrap() >= now + 100_000);
        assert_eq!(h.run(&["SET", "k", "v", "PXAT", "99999999999999"]), ok());
        assert_eq!(h.expires_at("k"), Some(99_999_999_999_999));
        assert_eq!(h.run(&["SET", "k", "w", "KEEPTTL"]), ok());
        assert_eq!(h.expires_at("k"), Some(99_999_999_999_999));
        assert_eq!(h.run(&["SET", "k", "x"]), ok());
        assert_eq!(h.expires_at("k"), Some(0), "SET drops the TTL");
        assert_eq!(h.run(&["SET", "k", "y", "exat", "99999999999"]), ok());
        assert_eq!(h.expires_at("k"), Some(99_999_999_999_000));
        assert_eq!(h.run(&["SET", "k", "z", "EXAT", "1"]), ok());
        assert_eq!(h.expires_at("k"), None, "a past EXAT leaves no key");
        assert_eq!(h.run(&["SET", "k", "a"]), ok());
        assert_eq!(h.run(&["SET", "k", "b", "PXAT", "1", "GET"]), bulk("a"));
        assert_eq!(h.expires_at("k"), None);
    }

    #[test]
    fn set_expiry_errors() {
        let mut h = TestClient::new();
        let invalid = err("ERR invalid expire time in 'set' command");
        for bad in ["0", "-1", "9223372036854775", "9223372036854776"] {
            assert_eq!(h.run(&["SET", "k", "v", "EX", bad]), invalid, "EX {bad}");
        }
        assert_eq!(h.run(&["SET", "k", "v", "PX", "9223372036854775807"]), invalid);
        assert_eq!(h.run(&["SET", "k", "v", "PXAT", "0"]), invalid);
        assert_eq!(
            h.run(&["SET", "k", "v", "EX", "1.5"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(h.run(&["SET", "k", "v", "EX"]), err("ERR syntax error"));
        assert_eq!(h.run(&["SET", "k", "v", "EX", "1", "PX", "1"]), err("ERR syntax error"));
        assert_eq!(h.run(&["SET", "k", "v", "KEEPTTL", "EX", "1"]), err("ERR syntax error"));
        assert_eq!(h.run(&["SET", "k", "v", "PERSIST"]), err("ERR syntax error"));
        assert_eq!(h.run(&["SET", "k", "v", "EX", "abc", "EX", "10"]), ok(), "the last EX wins");
        assert_eq!(h.run(&["SET", "k", "v2", "GET", "EX", "0"]), invalid, "expire checked before GET");
        assert_eq!(h.run(&["GET", "k"]), bulk("v"));
    }

    #[test]
    fn setnx_setex_psetex() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["SETNX", "k", "1"]), Frame::Integer(1));
        assert_eq!(h.run(&["SETNX", "k", "2"]), Frame::Integer(0));
        assert_eq!(h.run(&["GET", "k"]), bulk("1"));
        let now = now_ms();
        assert_eq!(h.run(&["SETEX", "k", "10", "v"]), ok());
        assert!(h.expires_at("k").unwrap() >= now + 10_000);
        assert_eq!(h.run(&["GET", "k"]), bulk("v"));
        assert_eq!(h.run(&["PSETEX", "k", "1500", "w"]), ok());
        let at = h.expires_at("k").unwrap();
        assert!(at >= now + 1500 && at < now + 10_000);
        assert_eq!(h.run(&["SETEX", "k", "0", "v"]), err("ERR invalid expire time in 'setex' command"));
        assert_eq!(h.run(&["PSETEX", "k", "-5", "v"]), err("ERR invalid expire time in 'psetex' command"));
        assert_eq!(h.run(&["SETEX", "k", "x", "v"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["GET", "k"]), bulk("w"));
    }

    #[test]
    fn getset_and_getdel() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["GETSET", "k", "1"]), Frame::Null);
        h.put("k", "2", now_ms() + 100_000);
        assert_eq!(h.run(&["GETSET", "k", "3"]), bulk("2"));
        assert_eq!(h.expires_at("k"), Some(0), "GETSET drops the TTL");
        assert_eq!(h.run(&["GETDEL", "k"]), bulk("3"));
        assert_eq!(h.run(&["GETDEL", "k"]), Frame::Null);
        assert_eq!(h.expires_at("k"), None);
    }

    #[test]
    fn getex() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["GETEX", "k"]), Frame::Null);
        assert_eq!(h.run(&["GETEX", "k", "EX", "abc"]), Frame::Null, "a missing key wins over a bad time");
        assert_eq!(h.run(&["GETEX", "k", "FOO"]), err("ERR syntax error"));
        assert_eq!(h.run(&["GETEX", "k", "PERSIST", "EX", "1"]), err("ERR syntax error"));
        h.put("k", "v", 0);
        assert_eq!(h.run(&["GETEX", "k"]), bulk("v"));
        assert_eq!(h.expires_at("k"), Some(0));
        let now = now_ms();
        assert_eq!(h.run(&["GETEX", "k", "ex", "100"]), bulk("v"));
        assert!(h.expires_at("k").unwrap() >= now + 100_000);
        assert_eq!(h.run(&["GETEX", "k", "PXAT", "99999999999999"]), bulk("v"));
        assert_eq!(h.expires_at("k"), Some(99_999_999_999_999));
        assert_eq!(h.run(&["GETEX", "k"]), bulk("v"));
        assert_eq!(h.expires_at("k"), Some(99_999_999_999_999), "no option keeps the TTL");
        assert_eq!(h.run(&["GETEX", "k", "persist"]), bulk("v"));
        assert_eq!(h.expires_at("k"), Some(0));
        assert_eq!(h.run(&["GETEX", "k", "EX", "0"]), err("ERR invalid expire time in 'getex' command"));
        assert_eq!(h.run(&["GETEX", "k", "PX", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["GETEX", "k", "EXAT", "1"]), bulk("v"));
        assert_eq!(h.expires_at("k"), None, "a past EXAT deletes the key");
    }

    #[test]
    fn mget_mset_msetnx() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["MSET", "a", "1", "b", "2", "a", "3"]), ok());
        assert_eq!(h.run(&["MGET", "a", "b", "c"]), Frame::Array(vec![bulk("3"), bulk("2"), Frame::Null]));
        assert_eq!(h.run(&["MSET", "a", "1", "b"]), err("ERR wrong number of arguments for 'mset' command"));
        assert_eq!(h.run(&["MSET", "a"]), err("ERR wrong number of arguments for 'mset' command"));
        assert_eq!(
            h.run(&["MSETNX", "x", "1", "y"]),
            err("ERR wrong number of arguments for 'msetnx' command")
        );
        assert_eq!(h.run(&["MSETNX", "x", "1", "a", "2"]), Frame::Integer(0));
        assert_eq!(h.run(&["GET", "x"]), Frame::Null, "MSETNX sets nothing when a key exists");
        assert_eq!(h.run(&["MSETNX", "x", "1", "y", "2", "x", "3"]), Frame::Integer(1));
        assert_eq!(h.run(&["MGET", "x", "y"]), Frame::Array(vec![bulk("3"), bulk("2")]));
        h.put("t", "v", now_ms() + 100_000);
        assert_eq!(h.run(&["MSET", "t", "w"]), ok());
        assert_eq!(h.expires_at("t"), Some(0), "MSET drops the TTL");
    }

    #[test]
    fn reads_count_hits_and_misses() {
        use std::sync::atomic::Ordering::Relaxed;
        let mut h = TestClient::new();
        h.run(&["SET", "k", "v"]);
        h.run(&["GET", "k"]);
        h.run(&["MGET", "k", "nope"]);
        h.run(&["SET", "k", "w", "GET"]);
        let stats = h.store.stats();
        assert_eq!((stats.keyspace_hits.load(Relaxed), stats.keyspace_misses.load(Relaxed)), (3, 1));
    }
}
