//! `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
//!
//! # Cursor
//!
//! The cursor is the index of the next hash slot to visit: 0 starts a scan
//! and, when returned, ends it. One call visits whole slots in ascending
//! order until it has looked at COUNT keys (default 10; keys filtered out by
//! MATCH or TYPE count too, as in Redis, so a page may come back short or
//! empty) or reached the last slot, and returns the next slot to visit, or 0
//! after slot 16383.
//!
//! This keeps Redis's guarantees: a key present for the whole scan is
//! returned (it sits in one slot, and every slot is visited), and never
//! twice (each slot is visited once, and a key never changes slot). Keys
//! added or removed during the scan may or may not be returned. A slot is
//! visited whole, so one call returns more than COUNT keys when a slot holds
//! many (e.g. keys sharing a hash tag).
//!
//! Cursors are unsigned 64-bit numbers, parsed as Redis parses them (C's
//! `strtoul`: a sign is accepted, `-1` wraps around). Only bits 0..14 are
//! used for now: they hold the slot (< 16384). The bits above are reserved
//! for a cluster-wide scan (which node the scan is on) and are zero in every
//! cursor Shoal returns. A cursor past the last slot ends the scan (reply
//! cursor 0, no keys), as Redis answers a cursor past its table.
//!
//! Expired keys not yet removed are skipped, not deleted.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::args::{int, is};
use super::{CmdError, CommandSpec, Ctx};
use crate::keyslot::SLOTS;
use crate::protocol::Frame;
use crate::store::now_ms;
use crate::util::glob::glob_match;

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "scan",
    arity: -2,
    flags: &["readonly"],
    acl: &["@keyspace", "@read", "@slow"],
    tips: &["nondeterministic_output", "request_policy:special"],
    handler: scan,
    ..CommandSpec::BASE
}];

/// Keys looked at per call when COUNT is not given.
const DEFAULT_COUNT: i64 = 10;

/// Parses a cursor as Redis does with `strtoul`: no leading space, an
/// optional sign (a minus negates modulo 2^64), decimal digits, nothing
/// after them, no overflow. The empty string is cursor 0.
pub fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (negative, digits) = match arg.first() {
        None => return Some(0),
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        Some(_) => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value =
        digits.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))?;
    Some(if negative { value.wrapping_neg() } else { value })
}

/// The options after the cursor (shared with HSCAN, which takes no TYPE).
pub(crate) struct ScanOptions<'a> {
    /// COUNT: elements to look at per call (at least 1).
    pub(crate) count: i64,
    /// `None` when every key matches (no MATCH, or MATCH `*`).
    pub(crate) pattern: Option<&'a [u8]>,
    type_name: Option<&'a [u8]>,
}

impl<'a> ScanOptions<'a> {
    /// Parses COUNT, MATCH and (when `with_type`) TYPE, as Redis does: the
    /// last of each wins, anything else is a syntax error.
    pub(crate) fn parse(args: &'a [Bytes], with_type: bool) -> Result<ScanOptions<'a>, CmdError> {
        let mut options = ScanOptions { count: DEFAULT_COUNT, pattern: None, type_name: None };
        let mut pairs = args.chunks(2);
        for pair in &mut pairs {
            let [option, value] = pair else {
                return Err(CmdError::Syntax);
            };
            if is(option, "COUNT") {
                options.count = int(value)?;
                if options.count < 1 {
                    return Err(CmdError::Syntax);
                }
            } else if is(option, "MATCH") {
                options.pattern = (&value[..] != b"*").then_some(&value[..]);
            } else if with_type && is(option, "TYPE") {
                options.type_name = Some(&value[..]);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(options)
    }

    /// True if `name` matches the MATCH pattern.
    pub(crate) fn matches(&self, name: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, name, false))
    }

    fn wants(&self, key: &[u8], type_name: &str) -> bool {
        self.matches(key) && self.type_name.is_none_or(|t| t.eq_ignore_ascii_case(type_name.as_bytes()))
    }
}

fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    let cursor = parse_cursor(&args[1]).ok_or_else(invalid)?;
    let options = ScanOptions::parse(&args[2..], true)?;
    let Some(start) = usize::try_from(cursor).ok().filter(|&c| c < SLOTS) else {
        return Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(vec![])]));
    };
    let now = now_ms();
    let mut keys = Vec::new();
    let mut looked_at = 0i64;
    let next = ctx.store.walk_slots(start, |_, table| {
        for (key, entry) in table.iter() {
            looked_at += 1;
            if !entry.is_expired(now) && options.wants(key, entry.value.type_name()) {
                keys.push(Frame::bulk(key));
            }
        }
        if looked_at >= options.count { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    let next = if next >= SLOTS { 0 } else { next };
    Ok(Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(keys)]))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestClient, err};
    use super::*;
    use crate::keyslot::key_slot;

    /// Runs one SCAN call: (next cursor, keys).
    fn scan_once(c: &mut TestClient, cursor: &str, options: &[&str]) -> (String, Vec<String>) {
        let mut args = vec!["scan", cursor];
        args.extend_from_slice(options);
        let Frame::Array(reply) = c.run(&args) else { panic!("not an array") };
        let [Frame::Bulk(next), Frame::Array(keys)] = &reply[..] else { panic!("bad reply {reply:?}") };
        let keys = keys
            .iter()
            .map(|k| match k {
                Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        (String::from_utf8_lossy(next).into_owned(), keys)
    }

    /// A whole scan: every key returned, and the number of calls.
    fn scan_all(c: &mut TestClient, options: &[&str]) -> (Vec<String>, usize) {
        let (mut cursor, mut all, mut calls) = ("0".to_string(), Vec::new(), 0);
        loop {
            let (next, keys) = scan_once(c, &cursor, options);
            calls += 1;
            all.extend(keys);
            if next == "0" {
                break;
            }
            assert!(next.parse::<usize>().unwrap() < SLOTS);
            cursor = next;
        }
        all.sort();
        (all, calls)
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("key:{i}")).collect()
    }

    #[test]
    fn returns_every_key_once() {
        let keys = names(1000);
        let mut c = TestClient::with_keys(&keys);
        let (mut found, calls) = scan_all(&mut c, &[]);
        let mut want = keys.clone();
        want.sort();
        assert_eq!(found, want);
        assert!(calls >= 100, "{calls}");
        (found, _) = scan_all(&mut c, &["COUNT", "100000"]);
        assert_eq!(found, want);
    }

    #[test]
    fn empty_store_ends_at_once() {
        let mut c = TestClient::new();
        assert_eq!(scan_once(&mut c, "0", &[]), ("0".to_string(), vec![]));
        assert_eq!(scan_once(&mut c, "16383", &["count", "1"]), ("0".to_string(), vec![]));
    }

    #[test]
    fn cursor_is_the_next_slot() {
        let keys = names(50);
        let mut c = TestClient::with_keys(&keys);
        let (next, found) = scan_once(&mut c, "0", &["COUNT", "1"]);
        let first_slot = keys.iter().map(|k| key_slot(k.as_bytes())).min().unwrap();
        assert_eq!(next, (first_slot + 1).to_string());
        assert!(found.iter().all(|k| key_slot(k.as_bytes()) == first_slot));
    }

    #[test]
    fn a_slot_is_returned_whole() {
        let keys: Vec<String> = (0..30).map(|i| format!("{{tag}}:{i}")).collect();
        let mut c = TestClient::with_keys(&keys);
        let (next, found) = scan_once(&mut c, "0", &["count", "1"]);
        assert_eq!(found.len(), 30);
        assert_eq!(next, (key_slot(b"tag") + 1).to_string());
    }

    #[test]
    fn match_and_type_filter() {
        let mut keys = names(100);
        keys.push("other".into());
        let mut c = TestClient::with_keys(&keys);
        let (found, _) = scan_all(&mut c, &["MATCH", "key:1?"]);
        assert_eq!(found, (10..20).map(|i| format!("key:{i}")).collect::<Vec<_>>());
        let (found, _) = scan_all(&mut c, &["match", "*", "type", "STRING", "count", "7"]);
        assert_eq!(found.len(), 101);
        let (found, _) = scan_all(&mut c, &["type", "hash"]);
        assert!(found.is_empty());
        let (found, _) = scan_all(&mut c, &["type", "nosuchtype"]);
        assert!(found.is_empty());
        // The last MATCH wins.
        let (found, _) = scan_all(&mut c, &["match", "key:*", "match", "oth*"]);
        assert_eq!(found, ["other"]);
    }

    #[test]
    fn skips_expired_keys() {
        let mut c = TestClient::with_keys(&["a", "b"]);
        c.set_expiry("a", now_ms() - 1);
        let (found, _) = scan_all(&mut c, &[]);
        assert_eq!(found, ["b"]);
    }

    #[test]
    fn option_errors() {
        let mut c = TestClient::new();
        for (options, want) in [
            (&["count", "0"][..], "ERR syntax error"),
            (&["count", "-1"], "ERR syntax error"),
            (&["count", "x"], "ERR value is not an integer or out of range"),
            (&["match"], "ERR syntax error"),
            (&["type"], "ERR syntax error"),
            (&["count"], "ERR syntax error"),
            (&["foo", "bar"], "ERR syntax error"),
            (&["count", "0", "match", "x", "count", "5"], "ERR syntax error"),
            (&["count", "5", "bogus"], "ERR syntax error"),
        ] {
            let mut args = vec!["scan", "0"];
            args.extend_from_slice(options);
            assert_eq!(c.run(&args), err(want), "{options:?}");
        }
        assert_eq!(c.run(&["scan", "x", "count", "0"]), err("ERR invalid cursor"));
        assert_eq!(c.run(&["scan"]), err("ERR wrong number of arguments for 'scan' command"));
    }

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"00"), Some(0));
        assert_eq!(parse_cursor(b"+0"), Some(0));
        assert_eq!(parse_cursor(b"-0"), Some(0));
        assert_eq!(parse_cursor(b"123"), Some(123));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b" 0"[..], b"0 ", b"18446744073709551616", b"abc", b"1.5", b"0x10", b"+", b"-", b"--1"] {
            assert_eq!(parse_cursor(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn cursors_beyond_the_slots_end_the_scan() {
        let mut c = TestClient::new();
        for cursor in ["16384", "-1"] {
            assert_eq!(scan_once(&mut c, cursor, &[]), ("0".to_string(), vec![]), "{cursor}");
        }
        for cursor in ["abc", " 0"] {
            assert_eq!(c.run(&["scan", cursor]), err("ERR invalid cursor"), "{cursor}");
        }
        assert_eq!(scan_once(&mut c, "", &[]), ("0".to_string(), vec![]));
        assert_eq!(scan_once(&mut c, "+5", &[]), ("0".to_string(), vec![]));
    }
}
