//! Partial reads and writes: APPEND STRLEN GETRANGE SETRANGE.

use bytes::Bytes;

use super::{owned, read_string, string_mut, string_of};
use crate::cmd::args::int;
use crate::cmd::{CmdError, Ctx};
use crate::protocol::Frame;
use crate::store::Value;

/// Strings grow like Redis's sds: below this size the buffer doubles,
/// above it it gains this much, so repeated APPENDs stay linear.
const MAX_PREALLOC: usize = 1024 * 1024;

pub(super) fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (key, tail) = (&args[1], &args[2]);
    let max = ctx.server.settings.read().proto_max_bulk_len;
    let mut db = ctx.store.lock(key);
    let Some(entry) = db.get(key) else {
        db.set(key, owned(tail), 0);
        return Ok(Frame::Integer(tail.len() as i64));
    };
    let len = string_of(entry)?.len();
    check_length(len, tail.len(), max)?;
    db.update(key, |entry| string_mut(entry).map(|s| write_at(s, len, tail)));
    Ok(Frame::Integer((len + tail.len()) as i64))
}

pub(super) fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(&args[1]);
    let len = read_string(&mut db, &args[1])?.map_or(0, |s| s.len());
    Ok(Frame::Integer(len as i64))
}

pub(super) fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let start = int(&args[2])?;
    let end = int(&args[3])?;
    let mut db = ctx.store.lock(&args[1]);
    let value = read_string(&mut db, &args[1])?.unwrap_or_default();
    Ok(Frame::Bulk(substring(&value, start, end)))
}

/// The bytes from `start` to `end` inclusive, with Redis's index rules:
/// negative indexes count from the end, both are clamped into the string,
/// and an empty range (or two negative indexes out of order) gives "".
fn substring(value: &Bytes, start: i64, end: i64) -> Bytes {
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return Bytes::new();
    }
    value.slice(start as usize..=end as usize)
}

/// SETRANGE: writes `value` at `offset`, padding with zero bytes.
pub(super) fn setrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (key, value) = (&args[1], &args[3]);
    let offset = int(&args[2])?;
    let offset = usize::try_from(offset).map_err(|_| CmdError::err("offset is out of range"))?;
    let max = ctx.server.settings.read().proto_max_bulk_len;
    let mut db = ctx.store.lock(key);
    let Some(entry) = db.get(key) else {
        if value.is_empty() {
            return Ok(Frame::Integer(0));
        }
        check_length(offset, value.len(), max)?;
        let mut buf = vec![0; offset + value.len()];
        buf[offset..].copy_from_slice(value);
        db.set(key, Value::Str(Bytes::from(buf)), 0);
        return Ok(Frame::Integer((offset + value.len()) as i64));
    };
    let len = string_of(entry)?.len();
    if value.is_empty() {
        return Ok(Frame::Integer(len as i64));
    }
    check_length(offset, value.len(), max)?;
    db.update(key, |entry| string_mut(entry).map(|s| write_at(s, offset, value)));
    Ok(Frame::Integer(len.max(offset + value.len()) as i64))
}

/// Refuses strings longer than `proto-max-bulk-len`, as Redis does.
fn check_length(len: usize, extra: usize, max: u64) -> Result<(), CmdError> {
    match len.checked_add(extra) {
        Some(total) if total as u64 <= max => Ok(()),
        _ => Err(CmdError::err("string exceeds maximum allowed size (proto-max-bulk-len)")),
    }
}

/// Writes `data` at `offset` in `value`, growing it (zero-padded) as needed.
/// Reuses the buffer when nothing else shares it, with spare room so that
/// repeated appends are amortized.
pub(super) fn write_at(value: &mut Bytes, offset: usize, data: &[u8]) {
    let end = offset + data.len();
    let mut buf = Vec::from(std::mem::take(value));
    if end > buf.capacity() {
        let room = if end < MAX_PREALLOC { end * 2 } else { end + MAX_PREALLOC };
        buf.reserve_exact(room - buf.len());
    }
    if end > buf.len() {
        buf.resize(end, 0);
    }
    buf[offset..end].copy_from_slice(data);
    *value = Bytes::from(buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{TestClient, bulk, err};
    use crate::store::now_ms;

    #[test]
    fn append_and_strlen() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["STRLEN", "k"]), Frame::Integer(0));
        assert_eq!(h.run(&["APPEND", "k", ""]), Frame::Integer(0));
        assert_eq!(h.expires_at("k"), Some(0), "APPEND of \"\" creates the key");
        assert_eq!(h.run(&["APPEND", "k", "Hello"]), Frame::Integer(5));
        assert_eq!(h.run(&["APPEND", "k", " World"]), Frame::Integer(11));
        assert_eq!(h.run(&["GET", "k"]), bulk("Hello World"));
        assert_eq!(h.run(&["STRLEN", "k"]), Frame::Integer(11));
        let at = now_ms() + 100_000;
        h.put("t", "a", at);
        assert_eq!(h.run(&["APPEND", "t", "b"]), Frame::Integer(2));
        assert_eq!(h.expires_at("t"), Some(at), "APPEND keeps the TTL");
    }

    #[test]
    fn appends_reuse_the_buffer() {
        let mut value = Bytes::copy_from_slice(b"ab");
        for _ in 0..1000 {
            let len = value.len();
            write_at(&mut value, len, b"xyz");
        }
        assert_eq!(value.len(), 3002);
        assert_eq!(&value[..5], b"abxyz");
        let shared = value.clone();
        write_at(&mut value, 0, b"Q");
        assert_eq!((&shared[..1], &value[..1]), (&b"a"[..], &b"Q"[..]), "a shared value is copied");
    }

    #[test]
    fn getrange_indexes() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["GETRANGE", "k", "0", "-1"]), bulk(""));
        h.put("k", "This is a string", 0);
        let cases = [
            ("0", "3", "This"),
            ("-3", "-1", "ing"),
            ("0", "-1", "This is a string"),
            ("10", "100", "string"),
            ("5", "3", ""),
            ("-1", "-5", ""),
            ("0", "-100", "T"),
            ("-100", "2", "Thi"),
            ("100", "200", ""),
            ("-9223372036854775808", "9223372036854775807", "This is a string"),
        ];
        for (start, end, want) in cases {
            assert_eq!(h.run(&["GETRANGE", "k", start, end]), bulk(want), "{start} {end}");
        }
        assert_eq!(h.run(&["GETRANGE", "k", "a", "1"]), err("ERR value is not an integer or out of range"));
        h.put("e", "", 0);
        assert_eq!(h.run(&["GETRANGE", "e", "0", "-1"]), bulk(""));
    }

    #[test]
    fn setrange_pads_and_keeps_ttl() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["SETRANGE", "k", "5", ""]), Frame::Integer(0));
        assert_eq!(h.expires_at("k"), None, "an empty write creates nothing");
        assert_eq!(h.run(&["SETRANGE", "k", "3", "ab"]), Frame::Integer(5));
        assert_eq!(h.run(&["GET", "k"]), Frame::bulk(b"\0\0\0ab"));
        assert_eq!(h.run(&["SETRANGE", "k", "1", "XYZW"]), Frame::Integer(5));
        assert_eq!(h.run(&["GET", "k"]), Frame::bulk(b"\0XYZW"));
        assert_eq!(h.run(&["SETRANGE", "k", "7", "!"]), Frame::Integer(8));
        assert_eq!(h.run(&["GET", "k"]), Frame::bulk(b"\0XYZW\0\0!"));
        assert_eq!(h.run(&["SETRANGE", "k", "100", ""]), Frame::Integer(8));
        let at = now_ms() + 100_000;
        h.put("t", "hello", at);
        assert_eq!(h.run(&["SETRANGE", "t", "0", "J"]), Frame::Integer(5));
        assert_eq!(h.run(&["GET", "t"]), bulk("Jello"));
        assert_eq!(h.expires_at("t"), Some(at), "SETRANGE keeps the TTL");
    }

    #[test]
    fn setrange_limits() {
        let mut h = TestClient::new();
        let too_big = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        assert_eq!(h.run(&["SETRANGE", "k", "-1", "a"]), err("ERR offset is out of range"));
        assert_eq!(h.run(&["SETRANGE", "k", "x", "a"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["SETRANGE", "k", "536870912", "a"]), too_big);
        assert_eq!(h.run(&["SETRANGE", "k", "9223372036854775807", "a"]), too_big);
        assert_eq!(h.run(&["SETRANGE", "k", "536870912", ""]), Frame::Integer(0));
        h.put("k", "v", 0);
        assert_eq!(h.run(&["SETRANGE", "k", "536870912", "a"]), too_big);
        h.server.settings.write().proto_max_bulk_len = 10;
        assert_eq!(h.run(&["SETRANGE", "k", "9", "a"]), Frame::Integer(10));
        assert_eq!(h.run(&["SETRANGE", "k", "10", "a"]), too_big);
        assert_eq!(h.run(&["APPEND", "k", "a"]), too_big);
        assert_eq!(h.run(&["APPEND", "k", ""]), Frame::Integer(10));
        assert_eq!(h.run(&["APPEND", "new", "01234567890"]), Frame::Integer(11), "a new key is not checked");
    }
}
