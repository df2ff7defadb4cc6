//! Bit commands on strings: SETBIT GETBIT BITCOUNT BITPOS BITOP.
//!
//! Bits are numbered from the most significant bit of the first byte, as
//! in Redis. SETBIT grows the string with zero bytes up to
//! `proto-max-bulk-len` (offsets beyond it are refused before anything is
//! allocated) and keeps the key's TTL; BITOP replaces its destination (TTL
//! included) and deletes it when the result is empty.
//!
//! Arguments are checked in Redis 7.0's order, which differs per command:
//! BITCOUNT looks the key up before parsing its range (a missing key
//! answers 0 whatever follows), BITPOS after parsing its bit argument.

use bytes::Bytes;

use super::range::write_at;
use super::{read_string, string_mut, string_of};
use crate::cmd::args::{int, is, parse_i64};
use crate::cmd::{CmdError, CommandSpec, Ctx};
use crate::protocol::Frame;
use crate::store::Value;

/// The bit commands' part of the command table (Redis 7's metadata).
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "setbit",
        arity: 4,
        flags: &["write", "denyoom"],
        acl: &["@write", "@bitmap", "@slow"],
        handler: setbit,
        ..super::single_key()
    },
    CommandSpec {
        name: "getbit",
        arity: 3,
        flags: &["readonly", "fast"],
        acl: &["@read", "@bitmap", "@fast"],
        handler: getbit,
        ..super::single_key()
    },
    CommandSpec {
        name: "bitcount",
        arity: -2,
        flags: &["readonly"],
        acl: &["@read", "@bitmap", "@slow"],
        handler: bitcount,
        ..super::single_key()
    },
    CommandSpec {
        name: "bitpos",
        arity: -3,
        flags: &["readonly"],
        acl: &["@read", "@bitmap", "@slow"],
        handler: bitpos,
        ..super::single_key()
    },
    CommandSpec {
        name: "bitop",
        arity: -4,
        flags: &["write", "denyoom"],
        first_key: 2,
        last_key: -1,
        step: 1,
        acl: &["@write", "@bitmap", "@slow"],
        handler: bitop,
        ..CommandSpec::BASE
    },
];

/// A bit offset argument: an integer whose byte (offset / 8) lies below
/// `max_len`.
fn bit_offset(arg: &[u8], max_len: u64) -> Result<u64, CmdError> {
    let error = || CmdError::err("bit offset is not an integer or out of range");
    let offset = parse_i64(arg).ok_or_else(error)?;
    let offset = u64::try_from(offset).map_err(|_| error())?;
    if offset >> 3 >= max_len {
        return Err(error());
    }
    Ok(offset)
}

/// The bit at `offset` (0 beyond the end).
fn bit_at(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    bytes.get(byte).is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

fn setbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let key = &args[1];
    let max = ctx.server.settings.read().proto_max_bulk_len;
    let offset = bit_offset(&args[2], max)?;
    let on = match &args[3][..] {
        b"0" => false,
        b"1" => true,
        _ => return Err(CmdError::err("bit is not an integer or out of range")),
    };
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let with_bit = |old: u8| if on { old | mask } else { old & !mask };
    let mut db = ctx.store.lock(key);
    let Some(entry) = db.get(key) else {
        // Redis creates the key even to clear a bit.
        let mut buf = vec![0; byte + 1];
        buf[byte] = with_bit(0);
        db.set(key, Value::Str(Bytes::from(buf)), 0);
        return Ok(Frame::Integer(0));
    };
    let current = string_of(entry)?;
    let old = current.get(byte).copied().unwrap_or(0);
    db.update(key, |entry| string_mut(entry).map(|s| write_at(s, byte, &[with_bit(old)])));
    Ok(Frame::Integer(i64::from(old & mask != 0)))
}

fn getbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let max = ctx.server.settings.read().proto_max_bulk_len;
    let offset = bit_offset(&args[2], max)?;
    let mut db = ctx.store.lock(&args[1]);
    let value = read_string(&mut db, &args[1])?.unwrap_or_default();
    Ok(Frame::Integer(i64::from(bit_at(&value, offset))))
}

/// Whether a range counts bytes or bits.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Byte,
    Bit,
}

fn unit(arg: &[u8]) -> Result<Unit, CmdError> {
    if is(arg, "BIT") {
        Ok(Unit::Bit)
    } else if is(arg, "BYTE") {
        Ok(Unit::Byte)
    } else {
        Err(CmdError::Syntax)
    }
}

/// The inclusive bit range `start..=end` of a string of `len` bytes, with
/// Redis's index rules in `unit`s (negative from the end, clamped); `None`
/// when it is empty.
fn bit_range(start: i64, end: i64, unit: Unit, len: usize) -> Option<(u64, u64)> {
    let total = match unit {
        Unit::Byte => len as i64,
        Unit::Bit => len as i64 * 8,
    };
    let from_end = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(match unit {
        Unit::Byte => (start as u64 * 8, end as u64 * 8 + 7),
        Unit::Bit => (start as u64, end as u64),
    })
}

/// Set bits in the inclusive bit range.
fn count_ones(bytes: &[u8], first: u64, last: u64) -> i64 {
    let (first_byte, last_byte) = ((first >> 3) as usize, (last >> 3) as usize);
    let head = 0xffu8 >> (first & 7);
    let tail = 0xffu8 << (7 - (last & 7));
    if first_byte == last_byte {
        return (bytes[first_byte] & head & tail).count_ones() as i64;
    }
    let middle = &bytes[first_byte + 1..last_byte];
    let mut words = middle.chunks_exact(8);
    let mut ones: u64 =
        (&mut words).map(|w| u64::from_ne_bytes(w.try_into().unwrap_or_default()).count_ones() as u64).sum();
    ones += words.remainder().iter().map(|b| b.count_ones() as u64).sum::<u64>();
    ones += (bytes[first_byte] & head).count_ones() as u64 + (bytes[last_byte] & tail).count_ones() as u64;
    ones as i64
}

/// The first bit equal to `wanted` in the inclusive bit range, a byte at
/// a time.
fn find_bit(bytes: &[u8], first: u64, last: u64, wanted: bool) -> Option<u64> {
    let (first_byte, last_byte) = (first >> 3, last >> 3);
    (first_byte..=last_byte).find_map(|i| {
        let mut mask = 0xffu8;
        if i == first_byte {
            mask &= 0xff >> (first & 7);
        }
        if i == last_byte {
            mask &= 0xff << (7 - (last & 7));
        }
        let byte = bytes[i as usize];
        let hits = if wanted { byte & mask } else { !byte & mask };
        (hits != 0).then(|| i * 8 + u64::from(hits.leading_zeros()))
    })
}

/// `BITCOUNT key [start end [BYTE|BIT]]`.
fn bitcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let Some(value) = read_string(&mut db, &args[1])? else {
        return Ok(Frame::Integer(0));
    };
    let range = match &args[2..] {
        [] => bit_range(0, -1, Unit::Byte, value.len()),
        [start, end, rest @ ..] if rest.len() <= 1 => {
            let (start, end) = (int(start)?, int(end)?);
            let unit = rest.first().map_or(Ok(Unit::Byte), |u| unit(u))?;
            // Two negative indexes out of order mean an empty range (before
            // clamping would turn them into the first unit).
            if start < 0 && end < 0 && start > end { None } else { bit_range(start, end, unit, value.len()) }
        }
        _ => return Err(CmdError::Syntax),
    };
    Ok(Frame::Integer(range.map_or(0, |(first, last)| count_ones(&value, first, last))))
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`: the first bit set to `bit`
/// in the range, or -1. Looking for a 0 without an explicit end, the string
/// counts as followed by zeros, so a string of ones answers its length in
/// bits.
fn bitpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let wanted = match int(&args[2])? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::err("The bit argument must be 1 or 0.")),
    };
    let mut db = ctx.store.lock(&args[1]);
    let Some(value) = read_string(&mut db, &args[1])? else {
        return Ok(Frame::Integer(if wanted { -1 } else { 0 }));
    };
    if args.len() > 6 {
        return Err(CmdError::Syntax);
    }
    let start = args.get(3).map_or(Ok(0), |a| int(a))?;
    let unit = args.get(5).map_or(Ok(Unit::Byte), |u| unit(u))?;
    let end = args.get(4).map(|a| int(a)).transpose()?;
    let Some((first, last)) = bit_range(start, end.unwrap_or(-1), unit, value.len()) else {
        return Ok(Frame::Integer(-1));
    };
    if let Some(found) = find_bit(&value, first, last, wanted) {
        return Ok(Frame::Integer(found as i64));
    }
    Ok(Frame::Integer(match (wanted, end) {
        // The first bit of the padding after the string.
        (false, None) => value.len() as i64 * 8,
        _ => -1,
    }))
}

/// The operations of BITOP.
#[derive(Clone, Copy)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: atomic over all its keys.
fn bitop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let op = match &args[1] {
        a if is(a, "AND") => BitOp::And,
        a if is(a, "OR") => BitOp::Or,
        a if is(a, "XOR") => BitOp::Xor,
        a if is(a, "NOT") => BitOp::Not,
        _ => return Err(CmdError::Syntax),
    };
    let (dest, sources) = (&args[2], &args[3..]);
    if matches!(op, BitOp::Not) && sources.len() != 1 {
        return Err(CmdError::err("BITOP NOT must be called with a single source key."));
    }
    let mut db = ctx.store.lock_keys(&args[2..]);
    let mut values = Vec::with_capacity(sources.len());
    for key in sources {
        values.push(read_string(&mut db, key)?.unwrap_or_default());
    }
    let result = combine(op, &values);
    let len = result.len();
    if len == 0 {
        db.delete(dest);
    } else {
        db.set(dest, Value::Str(Bytes::from(result)), 0);
    }
    Ok(Frame::Integer(len as i64))
}

/// The bytes of `op` over `values`, as long as the longest; shorter
/// values count as padded with zeros.
fn combine(op: BitOp, values: &[Bytes]) -> Vec<u8> {
    let len = values.iter().map(Bytes::len).max().unwrap_or(0);
    let byte = |v: &Bytes, i: usize| v.get(i).copied().unwrap_or(0);
    let (first, rest) = values.split_first().map_or((&[][..], &[][..]), |(f, r)| (&f[..], r));
    let mut out = vec![0u8; len];
    out[..first.len()].copy_from_slice(first);
    match op {
        BitOp::Not => out.iter_mut().for_each(|b| *b = !*b),
        BitOp::And => {
            for v in rest {
                out.iter_mut().enumerate().for_each(|(i, b)| *b &= byte(v, i));
            }
        }
        BitOp::Or => {
            for v in rest {
                out.iter_mut().zip(v.iter()).for_each(|(b, x)| *b |= x);
            }
        }
        BitOp::Xor => {
            for v in rest {
                out.iter_mut().zip(v.iter()).for_each(|(b, x)| *b ^= x);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{TestClient, bulk, err, int};
    use crate::store::now_ms;

    #[test]
    fn setbit_and_getbit() {
        let mut c = TestClient::new();
        assert_eq!(c.run(&["SETBIT", "b", "7", "1"]), int(0));
        assert_eq!(c.run(&["SETBIT", "b", "7", "1"]), int(1));
        assert_eq!(c.run(&["GET", "b"]), Frame::bulk(b"\x01"));
        assert_eq!(c.run(&["SETBIT", "b", "16", "1"]), int(0));
        assert_eq!(c.run(&["GET", "b"]), Frame::bulk(b"\x01\x00\x80"));
        assert_eq!(c.run(&["SETBIT", "b", "7", "0"]), int(1));
        assert_eq!(c.run(&["GETBIT", "b", "7"]), int(0));
        assert_eq!(c.run(&["GETBIT", "b", "16"]), int(1));
        assert_eq!(c.run(&["GETBIT", "b", "100000"]), int(0));
        assert_eq!(c.run(&["GETBIT", "nokey", "3"]), int(0));
        assert_eq!(c.run(&["SETBIT", "z", "20", "0"]), int(0));
        assert_eq!(c.run(&["GET", "z"]), Frame::bulk(b"\0\0\0"), "clearing a bit creates the key");
        let at = now_ms() + 100_000;
        c.set_expiry("b", at);
        c.run(&["SETBIT", "b", "100", "1"]);
        assert_eq!(c.expires_at("b"), Some(at));
    }

    #[test]
    fn setbit_limits() {
        let mut c = TestClient::new();
        let offset = err("ERR bit offset is not an integer or out of range");
        let bit = err("ERR bit is not an integer or out of range");
        for bad in ["-1", "x", "01", "+1", "4294967296", "9223372036854775807"] {
            assert_eq!(c.run(&["SETBIT", "b", bad, "1"]), offset, "{bad}");
            assert_eq!(c.run(&["GETBIT", "b", bad]), offset, "{bad}");
        }
        for bad in ["2", "-1", "01", "x", ""] {
            assert_eq!(c.run(&["SETBIT", "b", "1", bad]), bit, "{bad:?}");
        }
        assert_eq!(c.run(&["SETBIT", "b", "x", "x"]), offset, "the offset is checked first");
        c.server.settings.write().proto_max_bulk_len = 10;
        assert_eq!(c.run(&["SETBIT", "b", "79", "1"]), int(0));
        assert_eq!(c.run(&["SETBIT", "b", "80", "1"]), offset);
        assert_eq!(c.run(&["STRLEN", "b"]), int(10));
    }

    #[test]
    fn bitcount_ranges() {
        let mut c = TestClient::new();
        c.put("s", "foobar", 0);
        for (range, want) in [
            (&[][..], 26),
            (&["1", "1"], 6),
            (&["5", "30", "bit"], 17),
            (&["5", "30", "BYTE"], 4),
            (&["-100", "-1"], 26),
            (&["-1", "-100"], 0),
            (&["-100", "-200"], 0),
            (&["3", "-2", "bit"], 24),
            (&["1", "0"], 0),
            (&["0", "-1", "bit"], 26),
            (&["100", "200"], 0),
        ] {
            let mut args = vec!["BITCOUNT", "s"];
            args.extend_from_slice(range);
            assert_eq!(c.run(&args), int(want), "{range:?}");
        }
        assert_eq!(c.run(&["BITCOUNT", "s", "1"]), err("ERR syntax error"));
        assert_eq!(c.run(&["BITCOUNT", "s", "1", "2", "bogus"]), err("ERR syntax error"));
        assert_eq!(
            c.run(&["BITCOUNT", "s", "x", "1", "bogus"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            c.run(&["BITCOUNT", "nokey", "1"]),
            int(0),
            "a missing key answers before the syntax check"
        );
        let long = "\u{7f}".repeat(100);
        c.put("l", &long, 0);
        assert_eq!(c.run(&["BITCOUNT", "l"]), int(700));
        assert_eq!(c.run(&["BITCOUNT", "l", "1", "-2", "BIT"]), int(699));
    }

    #[test]
    fn bitpos_finds_bits() {
        let mut c = TestClient::new();
        c.put("s", "foobar", 0);
        c.run_bytes(&[b"SET", b"ff", b"\xff\xff"]);
        for (args, want) in [
            (&["s", "1"][..], 1),
            (&["s", "0"], 0),
            (&["s", "1", "2"], 17),
            (&["s", "1", "2", "-1", "bit"], 2),
            (&["s", "0", "7", "15", "bit"], 7),
            (&["s", "1", "-100", "-200"], 1),
            (&["s", "0", "1", "-1", "BIT"], 3),
            (&["nokey", "0"], 0),
            (&["nokey", "1"], -1),
            (&["ff", "0", "0", "0"], -1),
            (&["ff", "1", "0", "-1", "bit"], 0),
        ] {
            let mut full = vec!["BITPOS"];
            full.extend_from_slice(args);
            assert_eq!(c.run(&full), int(want), "{args:?}");
        }
        c.put("e", "", 0);
        assert_eq!(c.run(&["BITPOS", "e", "0"]), int(-1));
        assert_eq!(c.run(&["BITPOS", "nokey", "2"]), err("ERR The bit argument must be 1 or 0."));
        assert_eq!(c.run(&["BITPOS", "nokey", "0", "1", "2", "bogus"]), int(0));
        assert_eq!(c.run(&["BITPOS", "s", "1", "0", "x", "bogus"]), err("ERR syntax error"));
        assert_eq!(c.run(&["BITPOS", "s", "1", "2", "3", "4", "5"]), err("ERR syntax error"));
    }

    #[test]
    fn bitpos_of_zero_past_the_end() {
        let mut c = TestClient::new();
        for i in 0..16 {
            c.run(&["SETBIT", "k", &i.to_string(), "1"]);
        }
        assert_eq!(c.run(&["BITPOS", "k", "0"]), int(16), "the padding's first bit");
        assert_eq!(c.run(&["BITPOS", "k", "0", "1"]), int(16));
        assert_eq!(c.run(&["BITPOS", "k", "0", "0", "-1"]), int(-1), "an explicit end has no padding");
        assert_eq!(c.run(&["BITPOS", "k", "0", "3", "9", "bit"]), int(-1));
    }

    #[test]
    fn bitop_combines_and_replaces() {
        let mut c = TestClient::new();
        c.put("a", "foobar", 0);
        c.put("b", "abc", 0);
        assert_eq!(c.run(&["BITOP", "AND", "d", "a", "b"]), int(6));
        assert_eq!(c.run(&["GET", "d"]), Frame::bulk(b"`bc\0\0\0"));
        assert_eq!(c.run(&["BITOP", "or", "d", "a", "b"]), int(6));
        assert_eq!(c.run(&["GET", "d"]), bulk("goobar"));
        assert_eq!(c.run(&["BITOP", "XOR", "d", "a", "a"]), int(6));
        assert_eq!(c.run(&["GET", "d"]), Frame::bulk(b"\0\0\0\0\0\0"));
        assert_eq!(c.run(&["BITOP", "NOT", "d", "b"]), int(3));
        assert_eq!(c.run(&["GET", "d"]), Frame::bulk([!b'a', !b'b', !b'c']));
        c.set_expiry("d", now_ms() + 100_000);
        assert_eq!(c.run(&["BITOP", "AND", "d", "a"]), int(6));
        assert_eq!(c.expires_at("d"), Some(0), "the destination is replaced, TTL included");
        assert_eq!(c.run(&["BITOP", "AND", "d", "nokey"]), int(0));
        assert_eq!(c.run(&["EXISTS", "d"]), int(0), "an empty result deletes the destination");
        c.run(&["HSET", "h", "f", "v"]);
        assert_eq!(c.run(&["BITOP", "AND", "h", "a"]), int(6), "any type of destination is replaced");
        c.run(&["HSET", "h2", "f", "v"]);
        let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(c.run(&["BITOP", "OR", "d", "a", "h2"]), wrongtype);
        assert_eq!(c.run(&["BITOP", "bogus", "d", "a"]), err("ERR syntax error"));
        assert_eq!(
            c.run(&["BITOP", "NOT", "d", "a", "b"]),
            err("ERR BITOP NOT must be called with a single source key.")
        );
        assert_eq!(c.run(&["BITOP", "AND", "d"]), err("ERR wrong number of arguments for 'bitop' command"));
    }

    #[test]
    fn bit_commands_refuse_hashes() {
        let mut c = TestClient::new();
        c.run(&["HSET", "h", "f", "v"]);
        let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
        for cmd in
            [&["SETBIT", "h", "1", "1"][..], &["GETBIT", "h", "1"], &["BITCOUNT", "h"], &["BITPOS", "h", "1"]]
        {
            assert_eq!(c.run(cmd), wrongtype, "{cmd:?}");
        }
    }
}
