//! Hash commands: HSET HSETNX HMSET HGET HMGET HDEL HEXISTS HLEN HSTRLEN
//! HGETALL HKEYS HVALS HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN, with Redis
//! 7's semantics, replies and error texts.
//!
//! A hash is created by the first write and removed with its last field.
//! Writes keep the key's TTL. Arguments are checked in Redis's order: for
//! HINCRBY, HINCRBYFLOAT and HRANDFIELD the numbers before the key's type.
//!
//! `HRANDFIELD` with a negative count returns that many picks, repeats
//! allowed; Shoal refuses a count whose reply alone would exceed
//! `proto-max-bulk-len` (Redis would try to build it).

use bytes::Bytes;

use super::args::{int, is, name, parse_i64};
use super::scan::{ScanOptions, parse_cursor};
use super::string::long_double::{self, LongDouble, Parsed};
use super::{CmdError, CommandSpec, Ctx, ok};
use crate::protocol::{Frame, Protocol};
use crate::store::{Entry, Hash, Locked, Value};

/// Metadata shared by every hash command: one key, the first argument.
const HASH: CommandSpec = CommandSpec { first_key: 1, last_key: 1, step: 1, ..CommandSpec::BASE };
const WRITE_FAST: &[&str] = &["write", "denyoom", "fast"];
const READ_FAST: &[&str] = &["readonly", "fast"];
const WRITE_ACL: &[&str] = &["@write", "@hash", "@fast"];
const READ_ACL: &[&str] = &["@read", "@hash", "@fast"];
const READ_SLOW_ACL: &[&str] = &["@read", "@hash", "@slow"];

/// This family's part of the command table (metadata as Redis 7's
/// `COMMAND INFO` reports it).
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "hset", arity: -4, flags: WRITE_FAST, acl: WRITE_ACL, handler: hset, ..HASH },
    CommandSpec { name: "hsetnx", arity: 4, flags: WRITE_FAST, acl: WRITE_ACL, handler: hsetnx, ..HASH },
    CommandSpec { name: "hmset", arity: -4, flags: WRITE_FAST, acl: WRITE_ACL, handler: hmset, ..HASH },
    CommandSpec { name: "hget", arity: 3, flags: READ_FAST, acl: READ_ACL, handler: hget, ..HASH },
    CommandSpec { name: "hmget", arity: -3, flags: READ_FAST, acl: READ_ACL, handler: hmget, ..HASH },
    CommandSpec { name: "hdel", arity: -3, flags: &["write", "fast"], acl: WRITE_ACL, handler: hdel, ..HASH },
    CommandSpec { name: "hexists", arity: 3, flags: READ_FAST, acl: READ_ACL, handler: hexists, ..HASH },
    CommandSpec { name: "hlen", arity: 2, flags: READ_FAST, acl: READ_ACL, handler: hlen, ..HASH },
    CommandSpec { name: "hstrlen", arity: 3, flags: READ_FAST, acl: READ_ACL, handler: hstrlen, ..HASH },
    CommandSpec {
        name: "hgetall",
        arity: 2,
        flags: &["readonly"],
        acl: READ_SLOW_ACL,
        tips: &["nondeterministic_output_order"],
        handler: hgetall,
        ..HASH
    },
    CommandSpec {
        name: "hkeys",
        arity: 2,
        flags: &["readonly"],
        acl: READ_SLOW_ACL,
        tips: &["nondeterministic_output_order"],
        handler: hkeys,
        ..HASH
    },
    CommandSpec {
        name: "hvals",
        arity: 2,
        flags: &["readonly"],
        acl: READ_SLOW_ACL,
        tips: &["nondeterministic_output_order"],
        handler: hvals,
        ..HASH
    },
    CommandSpec { name: "hincrby", arity: 4, flags: WRITE_FAST, acl: WRITE_ACL, handler: hincrby, ..HASH },
    CommandSpec {
        name: "hincrbyfloat",
        arity: 4,
        flags: WRITE_FAST,
        acl: WRITE_ACL,
        handler: hincrbyfloat,
        ..HASH
    },
    CommandSpec {
        name: "hrandfield",
        arity: -2,
        flags: &["readonly"],
        acl: READ_SLOW_ACL,
        tips: &["nondeterministic_output"],
        handler: hrandfield,
        ..HASH
    },
    CommandSpec {
        name: "hscan",
        arity: -3,
        flags: &["readonly"],
        acl: READ_SLOW_ACL,
        tips: &["nondeterministic_output"],
        handler: hscan,
        ..HASH
    },
];

/// The hash an entry holds, or WRONGTYPE for other types.
fn hash_of(entry: &Entry) -> Result<&Hash, CmdError> {
    match &entry.value {
        Value::Hash(hash) => Ok(hash),
        _ => Err(CmdError::WrongType),
    }
}

/// Reads `key` as a read command does (counting a hit or miss): its hash,
/// `None` if absent, WRONGTYPE for other types.
fn read_hash<'a>(db: &'a mut Locked<'_>, key: &[u8]) -> Result<Option<&'a Hash>, CmdError> {
    db.read(key).map(|entry| hash_of(entry)).transpose()
}

/// Changes the hash at `key` with `change`, creating it if absent (only
/// kept if `change` added a field) and removing the key if it ends empty.
/// WRONGTYPE, before `change` runs, when the key holds another type.
fn write_hash<R>(
    db: &mut Locked<'_>,
    key: &[u8],
    change: impl FnOnce(&mut Hash) -> R,
) -> Result<R, CmdError> {
    let Some(entry) = db.get(key) else {
        let mut hash = Hash::new();
        let result = change(&mut hash);
        if !hash.is_empty() {
            db.set(key, Value::Hash(Box::new(hash)), 0);
        }
        return Ok(result);
    };
    hash_of(entry)?;
    let changed = db.update(key, |entry| match &mut entry.value {
        Value::Hash(hash) => {
            let result = change(hash);
            Some((result, hash.is_empty()))
        }
        _ => None,
    });
    let (result, emptied) = changed.flatten().ok_or(CmdError::WrongType)?;
    if emptied {
        db.delete(key);
    }
    Ok(result)
}

/// The field-value pairs after the key; an odd count is an arity error.
fn field_value_pairs(args: &[Bytes]) -> Result<&[Bytes], CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name(args)));
    }
    Ok(&args[2..])
}

/// Sets each pair in order; returns how many fields were new.
fn set_pairs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<i64, CmdError> {
    let pairs = field_value_pairs(args)?;
    let mut db = ctx.store.lock(&args[1]);
    write_hash(&mut db, &args[1], |hash| {
        pairs.chunks(2).filter(|pair| hash.insert(&pair[0], &pair[1])).count() as i64
    })
}

fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    set_pairs(ctx, args).map(Frame::Integer)
}

fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    set_pairs(ctx, args)?;
    ok()
}

fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (key, field, value) = (&args[1], &args[2], &args[3]);
    let mut db = ctx.store.lock(key);
    if let Some(entry) = db.get(key)
        && hash_of(entry)?.contains(field)
    {
        return Ok(Frame::Integer(0));
    }
    write_hash(&mut db, key, |hash| hash.insert(field, value))?;
    Ok(Frame::Integer(1))
}

fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let value = read_hash(&mut db, &args[1])?.and_then(|hash| hash.get(&args[2]));
    Ok(value.map_or(Frame::Null, Frame::bulk))
}

/// HMGET: nil for each missing field (all of them for a missing key).
fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let hash = read_hash(&mut db, &args[1])?;
    let values =
        args[2..].iter().map(|field| hash.and_then(|h| h.get(field)).map_or(Frame::Null, Frame::bulk));
    Ok(Frame::Array(values.collect()))
}

fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let key = &args[1];
    let mut db = ctx.store.lock(key);
    let Some(entry) = db.get(key) else {
        return Ok(Frame::Integer(0));
    };
    let hash = hash_of(entry)?;
    if !args[2..].iter().any(|field| hash.contains(field)) {
        return Ok(Frame::Integer(0));
    }
    let deleted = write_hash(&mut db, key, |hash| args[2..].iter().filter(|f| hash.remove(f)).count())?;
    Ok(Frame::Integer(deleted as i64))
}

fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let found = read_hash(&mut db, &args[1])?.is_some_and(|hash| hash.contains(&args[2]));
    Ok(Frame::Integer(found as i64))
}

fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let len = read_hash(&mut db, &args[1])?.map_or(0, Hash::len);
    Ok(Frame::Integer(len as i64))
}

fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let len = read_hash(&mut db, &args[1])?.and_then(|hash| hash.get(&args[2])).map_or(0, <[u8]>::len);
    Ok(Frame::Integer(len as i64))
}

/// HGETALL: a map in RESP3 (a flat array in RESP2).
fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let pairs = read_hash(&mut db, &args[1])?
        .map(|hash| hash.iter().map(|(f, v)| (Frame::bulk(f), Frame::bulk(v))).collect())
        .unwrap_or_default();
    Ok(Frame::Map(pairs))
}

fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let hash = read_hash(&mut db, &args[1])?;
    Ok(Frame::Array(hash.map(|h| h.iter().map(|(f, _)| Frame::bulk(f)).collect()).unwrap_or_default()))
}

fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let hash = read_hash(&mut db, &args[1])?;
    Ok(Frame::Array(hash.map(|h| h.iter().map(|(_, v)| Frame::bulk(v)).collect()).unwrap_or_default()))
}

/// The current value of `field` in the hash at `key`, for the increments:
/// `Ok(None)` when the key or the field is absent.
fn current_value(db: &mut Locked<'_>, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    match db.get(key) {
        Some(entry) => Ok(hash_of(entry)?.get(field).map(<[u8]>::to_vec)),
        None => Ok(None),
    }
}

fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (key, field) = (&args[1], &args[2]);
    let by = int(&args[3])?;
    let mut db = ctx.store.lock(key);
    let current = match current_value(&mut db, key, field)? {
        Some(text) => parse_i64(&text).ok_or_else(|| CmdError::err("hash value is not an integer"))?,
        None => 0,
    };
    let value = current.checked_add(by).ok_or(CmdError::Overflow)?;
    let text = itoa::Buffer::new().format(value).as_bytes().to_vec();
    write_hash(&mut db, key, |hash| hash.insert(field, &text))?;
    Ok(Frame::Integer(value))
}

/// HINCRBYFLOAT, computed and printed as INCRBYFLOAT (x87 long double,
/// `%.17Lf` trimmed); unlike it, the increment is checked before the key.
fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (key, field) = (&args[1], &args[2]);
    let increment = match long_double::parse(&args[3]).ok_or(CmdError::NotFloat)? {
        Parsed::Finite(value) => value,
        Parsed::Infinite => return Err(CmdError::err("value is NaN or Infinity")),
    };
    let mut db = ctx.store.lock(key);
    let current = match current_value(&mut db, key, field)? {
        Some(text) => long_double::parse(&text).ok_or_else(|| CmdError::err("hash value is not a float"))?,
        None => Parsed::Finite(LongDouble::ZERO),
    };
    let sum = match current {
        Parsed::Finite(current) => current.add(increment),
        Parsed::Infinite => None,
    };
    let text = sum.ok_or_else(|| CmdError::err("increment would produce NaN or Infinity"))?.to_human();
    write_hash(&mut db, key, |hash| hash.insert(field, text.as_bytes()))?;
    Ok(Frame::bulk(text))
}

/// `HRANDFIELD key [count [WITHVALUES]]`.
fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    if args.len() == 2 {
        let mut db = ctx.store.lock(&args[1]);
        let Some(hash) = read_hash(&mut db, &args[1])? else {
            return Ok(Frame::Null);
        };
        let pick = hash.nth(rand::random_range(0..hash.len()));
        return Ok(pick.map_or(Frame::Null, |(field, _)| Frame::bulk(field)));
    }
    let count = int(&args[2])?;
    if count == i64::MIN {
        return Err(CmdError::err(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    let with_values = match &args[3..] {
        [] => false,
        [option] if is(option, "WITHVALUES") => true,
        _ => return Err(CmdError::Syntax),
    };
    if with_values && count.unsigned_abs() > (i64::MAX / 2) as u64 {
        return Err(CmdError::err("value is out of range"));
    }
    let max_reply = ctx.server.settings.read().proto_max_bulk_len;
    let protocol = ctx.client.protocol;
    let mut db = ctx.store.lock(&args[1]);
    let Some(hash) = read_hash(&mut db, &args[1])? else {
        return Ok(Frame::Array(vec![]));
    };
    let picks = random_picks(hash, count, max_reply)?;
    // A packed hash finds a position by scanning: list its pairs once.
    let packed: Option<Vec<(&[u8], &[u8])>> = hash.is_packed().then(|| hash.iter().collect());
    let pairs = picks.into_iter().filter_map(|i| match &packed {
        Some(all) => all.get(i).copied(),
        None => hash.nth(i),
    });
    Ok(pick_reply(pairs, with_values, protocol))
}

/// Positions of the pairs HRANDFIELD returns: `count` distinct ones (the
/// whole hash, in order, when it has no more), or for a negative count
/// `-count` independent picks.
fn random_picks(hash: &Hash, count: i64, max_reply: u64) -> Result<Vec<usize>, CmdError> {
    let len = hash.len();
    if count >= 0 {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count >= len {
            return Ok((0..len).collect());
        }
        return Ok(rand::seq::index::sample(&mut rand::rng(), len, count).into_vec());
    }
    let picks = count.unsigned_abs();
    // Each pick becomes at least a frame and a bulk string in memory.
    let per_pick = (size_of::<Frame>() + 16) as u64;
    if picks.saturating_mul(per_pick) > max_reply {
        return Err(CmdError::err("Insufficient memory, reply for HRANDFIELD exceeds proto-max-bulk-len"));
    }
    Ok((0..picks).map(|_| rand::random_range(0..len)).collect())
}

/// The reply of HRANDFIELD with a count: fields, or with values a flat
/// array in RESP2 and an array of [field, value] pairs in RESP3.
fn pick_reply<'a>(
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    with_values: bool,
    protocol: Protocol,
) -> Frame {
    let items = pairs.flat_map(|(field, value)| -> Vec<Frame> {
        match (with_values, protocol) {
            (false, _) => vec![Frame::bulk(field)],
            (true, Protocol::Resp2) => vec![Frame::bulk(field), Frame::bulk(value)],
            (true, Protocol::Resp3) => vec![Frame::Array(vec![Frame::bulk(field), Frame::bulk(value)])],
        }
    });
    Frame::Array(items.collect())
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: a packed hash comes
/// back whole with cursor 0 (COUNT ignored), as Redis returns a listpack;
/// see [`Hash::scan`] for the cursor of a table. Checked in Redis's order:
/// cursor, key, options.
fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let cursor = parse_cursor(&args[2]).ok_or_else(|| CmdError::err("invalid cursor"))?;
    let mut db = ctx.store.lock(&args[1]);
    let Some(hash) = read_hash(&mut db, &args[1])? else {
        return Ok(scan_reply(0, vec![]));
    };
    let options = ScanOptions::parse(&args[3..], false)?;
    let mut found = Vec::new();
    let next = hash.scan(cursor, options.count as usize, |field, value| {
        if options.matches(field) {
            found.push(Frame::bulk(field));
            found.push(Frame::bulk(value));
        }
    });
    Ok(scan_reply(next, found))
}

fn scan_reply(cursor: u64, items: Vec<Frame>) -> Frame {
    Frame::Array(vec![Frame::bulk(itoa::Buffer::new().format(cursor)), Frame::Array(items)])
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestClient, bulk, err, int, ok};
    use crate::protocol::{Frame, Protocol};
    use crate::store::now_ms;

    fn bulks(items: &[&str]) -> Frame {
        Frame::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn encoding(c: &TestClient, key: &str) -> &'static str {
        c.store.lock(key.as_bytes()).get(key.as_bytes()).map_or("none", |e| e.value.encoding())
    }

    #[test]
    fn set_get_and_delete() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["HSET", "h", "a", "1", "b", "2", "a", "3"]), int(2));
        assert_eq!(c.run(&["HGET", "h", "a"]), bulk("3"));
        assert_eq!(c.run(&["HGET", "h", "x"]), Frame::Null);
        assert_eq!(c.run(&["HGET", "nokey", "x"]), Frame::Null);
        assert_eq!(c.run(&["HMSET", "h", "c", "4"]), ok());
        assert_eq!(
            c.run(&["HMGET", "h", "a", "x", "c"]),
            Frame::Array(vec![bulk("3"), Frame::Null, bulk("4")])
        );
        assert_eq!(c.run(&["HMGET", "nokey", "a"]), Frame::Array(vec![Frame::Null]));
        assert_eq!(c.run(&["HLEN", "h"]), int(3));
        assert_eq!(c.run(&["HEXISTS", "h", "b"]), int(1));
        assert_eq!(c.run(&["HEXISTS", "h", "x"]), int(0));
        assert_eq!(c.run(&["HSTRLEN", "h", "c"]), int(1));
        assert_eq!(c.run(&["HSTRLEN", "h", "x"]), int(0));
        assert_eq!(c.run(&["HKEYS", "h"]), bulks(&["a", "b", "c"]));
        assert_eq!(c.run(&["HVALS", "h"]), bulks(&["3", "2", "4"]));
        assert_eq!(
            c.run(&["HGETALL", "h"]),
            Frame::Map(vec![(bulk("a"), bulk("3")), (bulk("b"), bulk("2")), (bulk("c"), bulk("4"))])
        );
        assert_eq!(c.run(&["HDEL", "h", "a", "a", "x"]), int(1));
        assert_eq!(c.run(&["HDEL", "h", "x"]), int(0));
        assert_eq!(c.run(&["HDEL", "nokey", "x"]), int(0));
        assert_eq!(c.run(&["HDEL", "h", "b", "c"]), int(2));
        assert_eq!(c.run(&["EXISTS", "h"]), int(0), "the last field took the key with it");
        assert_eq!(c.run(&["HGETALL", "h"]), Frame::Map(vec![]));
        assert_eq!(c.run(&["HKEYS", "h"]), Frame::Array(vec![]));
    }

    #[test]
    fn arity_and_type_errors() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["HSET", "h", "a"]), err("ERR wrong number of arguments for 'hset' command"));
        assert_eq!(
            c.run(&["HSET", "h", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'hset' command")
        );
        assert_eq!(
            c.run(&["HMSET", "h", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'hmset' command")
        );
        assert_eq!(c.run(&["HDEL", "h"]), err("ERR wrong number of arguments for 'hdel' command"));
        assert_eq!(c.run(&["EXISTS", "h"]), int(0));
        c.put("s", "v", 0);
        let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
        for cmd in [
            &["HSET", "s", "a", "1"][..],
            &["HSETNX", "s", "a", "1"],
            &["HGET", "s", "a"],
            &["HMGET", "s", "a"],
            &["HDEL", "s", "a"],
            &["HLEN", "s"],
            &["HGETALL", "s"],
            &["HINCRBY", "s", "a", "1"],
            &["HINCRBYFLOAT", "s", "a", "1"],
            &["HRANDFIELD", "s"],
            &["HRANDFIELD", "s", "1"],
            &["HSCAN", "s", "0"],
        ] {
            assert_eq!(c.run(cmd), wrongtype, "{cmd:?}");
        }
        c.run(&["HSET", "h", "a", "1"]);
        for cmd in
            [&["GET", "h"][..], &["APPEND", "h", "x"], &["INCR", "h"], &["STRLEN", "h"], &["GETDEL", "h"]]
        {
            assert_eq!(c.run(cmd), wrongtype, "{cmd:?}");
        }
        assert_eq!(c.run(&["MGET", "h", "s"]), Frame::Array(vec![Frame::Null, bulk("v")]));
        assert_eq!(c.run(&["TYPE", "h"]), Frame::Simple("hash".into()));
    }

    #[test]
    fn writes_keep_the_ttl() {
        let mut c = TestClient::new();
        c.run(&["HSET", "h", "a", "1"]);
        let at = now_ms() + 100_000;
        c.set_expiry("h", at);
        c.run(&["HSET", "h", "b", "1"]);
        c.run(&["HINCRBY", "h", "a", "1"]);
        c.run(&["HDEL", "h", "b"]);
        assert_eq!(c.expires_at("h"), Some(at));
    }

    #[test]
    fn hsetnx_sets_only_new_fields() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["HSETNX", "h", "a", "1"]), int(1));
        assert_eq!(c.run(&["HSETNX", "h", "a", "2"]), int(0));
        assert_eq!(c.run(&["HGET", "h", "a"]), bulk("1"));
        let long = "x".repeat(65);
        assert_eq!(c.run(&["HSETNX", "h", "a", &long]), int(0));
        assert_eq!(encoding(&c, "h"), "listpack", "an existing field converts nothing");
        assert_eq!(c.run(&["HSETNX", "h", &long, "1"]), int(1));
        assert_eq!(encoding(&c, "h"), "hashtable");
    }

    #[test]
    fn encodings_follow_redis() {
        let mut c = TestClient::new();
        let long = "y".repeat(65);
        c.run(&["HSET", "h", "a", "1"]);
        c.run(&["HINCRBY", "h", &long, "1"]);
        assert_eq!(encoding(&c, "h"), "hashtable", "a long field converts through HINCRBY too");
        for i in 0..128 {
            c.run(&["HSET", "big", &format!("f{i}"), "v"]);
        }
        assert_eq!(encoding(&c, "big"), "listpack");
        c.run(&["HSET", "big", "f128", "v"]);
        assert_eq!(encoding(&c, "big"), "hashtable");
    }

    #[test]
    fn hincrby() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["HINCRBY", "h", "n", "5"]), int(5));
        assert_eq!(c.run(&["HINCRBY", "h", "n", "-7"]), int(-2));
        assert_eq!(c.run(&["HGET", "h", "n"]), bulk("-2"));
        let not_int = err("ERR value is not an integer or out of range");
        assert_eq!(c.run(&["HINCRBY", "h", "n", "1.5"]), not_int);
        c.put("s", "v", 0);
        assert_eq!(c.run(&["HINCRBY", "s", "n", "x"]), not_int, "the increment is checked first");
        c.run(&["HSET", "h", "s", "abc", "e", "", "big", "9223372036854775807", "sp", " 1"]);
        for field in ["s", "e", "sp"] {
            assert_eq!(c.run(&["HINCRBY", "h", field, "1"]), err("ERR hash value is not an integer"));
        }
        assert_eq!(c.run(&["HINCRBY", "h", "big", "1"]), err("ERR increment or decrement would overflow"));
        assert_eq!(c.run(&["HINCRBY", "new", "f", "x"]), not_int);
        assert_eq!(c.run(&["EXISTS", "new"]), int(0));
    }

    #[test]
    fn hincrbyfloat() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["HINCRBYFLOAT", "h", "f", "10.5"]), bulk("10.5"));
        assert_eq!(c.run(&["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("10.6"));
        assert_eq!(c.run(&["HINCRBYFLOAT", "h", "f", "-10.6"]), bulk("0"));
        assert_eq!(c.run(&["HINCRBYFLOAT", "h", "g", "1.0000000000000001"]), bulk("1.0000000000000001"));
        assert_eq!(c.run(&["HINCRBYFLOAT", "h", "g", "0x10"]), bulk("17.0000000000000001"));
        assert_eq!(c.run(&["HINCRBYFLOAT", "h", "f", "abc"]), err("ERR value is not a valid float"));
        assert_eq!(c.run(&["HINCRBYFLOAT", "h", "f", "inf"]), err("ERR value is NaN or Infinity"));
        c.run(&["HSET", "h", "s", "abc", "i", "inf"]);
        assert_eq!(c.run(&["HINCRBYFLOAT", "h", "s", "1"]), err("ERR hash value is not a float"));
        assert_eq!(
            c.run(&["HINCRBYFLOAT", "h", "i", "1"]),
            err("ERR increment would produce NaN or Infinity")
        );
        c.put("str", "v", 0);
        assert_eq!(c.run(&["HINCRBYFLOAT", "str", "f", "nan"]), err("ERR value is not a valid float"));
        assert_eq!(
            c.run(&["HINCRBYFLOAT", "str", "f", "1"]),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
    }

    #[test]
    fn hrandfield_shapes() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["HRANDFIELD", "nokey"]), Frame::Null);
        assert_eq!(c.run(&["HRANDFIELD", "nokey", "3", "WITHVALUES"]), Frame::Array(vec![]));
        c.run(&["HSET", "h", "a", "1", "b", "2"]);
        assert!(matches!(c.run(&["HRANDFIELD", "h"]), Frame::Bulk(_)));
        assert_eq!(c.run(&["HRANDFIELD", "h", "0"]), Frame::Array(vec![]));
        assert_eq!(c.run(&["HRANDFIELD", "h", "5"]), bulks(&["a", "b"]), "the whole hash, in order");
        assert_eq!(c.run(&["HRANDFIELD", "h", "5", "withvalues"]), bulks(&["a", "1", "b", "2"]));
        let Frame::Array(picks) = c.run(&["HRANDFIELD", "h", "-10"]) else { panic!() };
        assert_eq!(picks.len(), 10);
        let Frame::Array(one) = c.run(&["HRANDFIELD", "h", "1", "WITHVALUES"]) else { panic!() };
        assert!(one == [bulk("a"), bulk("1")] || one == [bulk("b"), bulk("2")], "{one:?}");
        c.clients[0].protocol = Protocol::Resp3;
        let Frame::Array(pairs) = c.run(&["HRANDFIELD", "h", "-3", "WITHVALUES"]) else { panic!() };
        assert_eq!(pairs.len(), 3);
        for pair in pairs {
            assert!(pair == bulks(&["a", "1"]) || pair == bulks(&["b", "2"]), "{pair:?}");
        }
    }

    #[test]
    fn hrandfield_distinct_picks() {
        let mut c = TestClient::new();
        for i in 0..300 {
            c.run(&["HSET", "h", &format!("f{i}"), "v"]);
        }
        for count in ["10", "200", "299"] {
            let Frame::Array(picks) = c.run(&["HRANDFIELD", "h", count]) else { panic!() };
            let distinct: std::collections::HashSet<_> =
                picks.iter().map(|p| p.to_bytes(Protocol::Resp2)).collect();
            assert_eq!(distinct.len(), count.parse::<usize>().unwrap());
        }
    }

    #[test]
    fn hrandfield_errors() {
        let mut c = TestClient::new();
        c.run(&["HSET", "h", "a", "1"]);
        assert_eq!(c.run(&["HRANDFIELD", "h", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(
            c.run(&["HRANDFIELD", "h", "-9223372036854775808"]),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        assert_eq!(c.run(&["HRANDFIELD", "h", "1", "withvalue"]), err("ERR syntax error"));
        assert_eq!(c.run(&["HRANDFIELD", "nokey", "1", "withvalues", "x"]), err("ERR syntax error"));
        let range = err("ERR value is out of range");
        assert_eq!(c.run(&["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"]), range);
        assert_eq!(c.run(&["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"]), range);
        assert_eq!(c.run(&["HRANDFIELD", "h", "4611686018427387903", "WITHVALUES"]), bulks(&["a", "1"]));
        let too_big = err("ERR Insufficient memory, reply for HRANDFIELD exceeds proto-max-bulk-len");
        assert_eq!(c.run(&["HRANDFIELD", "h", "-9223372036854775807"]), too_big);
        assert_eq!(c.run(&["HRANDFIELD", "h", "-100000000"]), too_big);
    }

    #[test]
    fn hscan_small_and_large() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["HSCAN", "nokey", "0"]), Frame::Array(vec![bulk("0"), Frame::Array(vec![])]));
        assert_eq!(
            c.run(&["HSCAN", "nokey", "0", "COUNT", "0"]),
            Frame::Array(vec![bulk("0"), Frame::Array(vec![])])
        );
        c.run(&["HSET", "h", "a", "1", "b", "2", "ab", "3"]);
        assert_eq!(
            c.run(&["HSCAN", "h", "7", "COUNT", "1"]),
            Frame::Array(vec![bulk("0"), bulks(&["a", "1", "b", "2", "ab", "3"])])
        );
        assert_eq!(
            c.run(&["HSCAN", "h", "0", "MATCH", "a*"]),
            Frame::Array(vec![bulk("0"), bulks(&["a", "1", "ab", "3"])])
        );
        for (options, want) in [
            (&["COUNT", "0"][..], "ERR syntax error"),
            (&["MATCH"], "ERR syntax error"),
            (&["TYPE", "string"], "ERR syntax error"),
            (&["NOVALUES"], "ERR syntax error"),
            (&["COUNT", "x"], "ERR value is not an integer or out of range"),
        ] {
            let mut args = vec!["HSCAN", "h", "0"];
            args.extend_from_slice(options);
            assert_eq!(c.run(&args), err(want), "{options:?}");
        }
        assert_eq!(c.run(&["HSCAN", "h", "x"]), err("ERR invalid cursor"));
        for i in 0..500 {
            c.run(&["HSET", "big", &format!("f{i}"), &format!("{i}")]);
        }
        let mut seen = std::collections::BTreeMap::new();
        let mut cursor = "0".to_string();
        loop {
            let Frame::Array(reply) = c.run(&["HSCAN", "big", &cursor, "COUNT", "20"]) else { panic!() };
            let [Frame::Bulk(next), Frame::Array(items)] = &reply[..] else { panic!() };
            assert!(items.len() <= 40);
            for pair in items.chunks(2) {
                seen.insert(pair[0].to_bytes(Protocol::Resp2), pair[1].clone());
            }
            cursor = String::from_utf8(next.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
        assert_eq!(seen[&bulk("f42").to_bytes(Protocol::Resp2)], bulk("42"));
    }
}
