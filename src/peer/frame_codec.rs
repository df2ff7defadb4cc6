//! A compact binary form of [`Frame`], the reply value, for relaying replies
//! between nodes without going through RESP text.
//!
//! Each value is a tag byte followed by its payload:
//!
//! ```text
//! 0 Simple    len varint, UTF-8        6 Array   count varint, items
//! 1 Error     len varint, UTF-8        7 Map     count varint, key value ...
//! 2 Integer   zigzag varint            8 Set     count varint, items
//! 3 Bulk      len varint, bytes        9 Double  f64 bits, 8 bytes big-endian
//! 4 Null      -                       10 Boolean 0 or 1
//! 5 NullArray -                       11 Verbatim len varint, bytes
//! ```
//!
//! Decoding is bounded: every length and count is checked against the bytes
//! left in the frame before anything is allocated, and containers may nest
//! at most [`MAX_DEPTH`] levels.

use bytes::{BufMut, BytesMut};

use super::wire::{Cursor, DecodeError, bytes_len, put_bytes, put_varint, varint_len};
use crate::protocol::Frame;

/// Deepest nesting of arrays, maps and sets accepted. Redis replies nest a
/// handful of levels (`COMMAND DOCS` about six).
pub const MAX_DEPTH: usize = 64;

/// Items reserved up front when decoding a container; larger ones grow as
/// their items actually arrive.
const MAX_PREALLOCATED_ITEMS: usize = 1024;

const SIMPLE: u8 = 0;
const ERROR: u8 = 1;
const INTEGER: u8 = 2;
const BULK: u8 = 3;
const NULL: u8 = 4;
const NULL_ARRAY: u8 = 5;
const ARRAY: u8 = 6;
const MAP: u8 = 7;
const SET: u8 = 8;
const DOUBLE: u8 = 9;
const BOOLEAN: u8 = 10;
const VERBATIM: u8 = 11;

/// Bytes [`encode`] writes for `frame`.
pub fn encoded_len(frame: &Frame) -> usize {
    1 + match frame {
        Frame::Simple(s) | Frame::Error(s) => bytes_len(s.len()),
        Frame::Integer(n) => varint_len(zigzag(*n)),
        Frame::Bulk(b) | Frame::Verbatim(b) => bytes_len(b.len()),
        Frame::Null | Frame::NullArray => 0,
        Frame::Array(items) | Frame::Set(items) => {
            varint_len(items.len() as u64) + items.iter().map(encoded_len).sum::<usize>()
        }
        Frame::Map(pairs) => {
            varint_len(pairs.len() as u64)
                + pairs.iter().map(|(k, v)| encoded_len(k) + encoded_len(v)).sum::<usize>()
        }
        Frame::Double(_) => 8,
        Frame::Boolean(_) => 1,
    }
}

/// Appends the binary form of `frame` to `out`.
pub fn encode(frame: &Frame, out: &mut BytesMut) {
    match frame {
        Frame::Simple(s) => tagged_bytes(out, SIMPLE, s.as_bytes()),
        Frame::Error(s) => tagged_bytes(out, ERROR, s.as_bytes()),
        Frame::Integer(n) => {
            out.put_u8(INTEGER);
            put_varint(out, zigzag(*n));
        }
        Frame::Bulk(b) => tagged_bytes(out, BULK, b),
        Frame::Null => out.put_u8(NULL),
        Frame::NullArray => out.put_u8(NULL_ARRAY),
        Frame::Array(items) => tagged_items(out, ARRAY, items),
        Frame::Set(items) => tagged_items(out, SET, items),
        Frame::Map(pairs) => {
            out.put_u8(MAP);
            put_varint(out, pairs.len() as u64);
            for (key, value) in pairs {
                encode(key, out);
                encode(value, out);
            }
        }
        Frame::Double(d) => {
            out.put_u8(DOUBLE);
            out.put_u64(d.to_bits());
        }
        Frame::Boolean(b) => {
            out.put_u8(BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Frame::Verbatim(b) => tagged_bytes(out, VERBATIM, b),
    }
}

/// Reads one value. Bulk payloads share the frame's buffer.
pub(crate) fn decode(cursor: &mut Cursor) -> Result<Frame, DecodeError> {
    decode_at(cursor, 0)
}

fn decode_at(cursor: &mut Cursor, depth: usize) -> Result<Frame, DecodeError> {
    let tag = cursor.u8()?;
    Ok(match tag {
        SIMPLE => Frame::Simple(cursor.string()?),
        ERROR => Frame::Error(cursor.string()?),
        INTEGER => Frame::Integer(unzigzag(cursor.varint()?)),
        BULK => Frame::Bulk(cursor.bytes()?),
        NULL => Frame::Null,
        NULL_ARRAY => Frame::NullArray,
        ARRAY => Frame::Array(decode_items(cursor, depth)?),
        SET => Frame::Set(decode_items(cursor, depth)?),
        MAP => {
            let depth = nested(depth)?;
            let count = cursor.count(2)?;
            let mut pairs = Vec::with_capacity(count.min(MAX_PREALLOCATED_ITEMS));
            for _ in 0..count {
                let key = decode_at(cursor, depth)?;
                pairs.push((key, decode_at(cursor, depth)?));
            }
            Frame::Map(pairs)
        }
        DOUBLE => Frame::Double(f64::from_bits(cursor.u64()?)),
        BOOLEAN => match cursor.u8()? {
            0 => Frame::Boolean(false),
            1 => Frame::Boolean(true),
            _ => return Err(DecodeError::Malformed("boolean not 0 or 1")),
        },
        VERBATIM => Frame::Verbatim(cursor.bytes()?),
        _ => return Err(DecodeError::Malformed("unknown reply tag")),
    })
}

fn decode_items(cursor: &mut Cursor, depth: usize) -> Result<Vec<Frame>, DecodeError> {
    let depth = nested(depth)?;
    let count = cursor.count(1)?;
    let mut items = Vec::with_capacity(count.min(MAX_PREALLOCATED_ITEMS));
    for _ in 0..count {
        items.push(decode_at(cursor, depth)?);
    }
    Ok(items)
}

fn nested(depth: usize) -> Result<usize, DecodeError> {
    if depth >= MAX_DEPTH { Err(DecodeError::TooDeep) } else { Ok(depth + 1) }
}

fn tagged_bytes(out: &mut BytesMut, tag: u8, bytes: &[u8]) {
    out.put_u8(tag);
    put_bytes(out, bytes);
}

fn tagged_items(out: &mut BytesMut, tag: u8, items: &[Frame]) {
    out.put_u8(tag);
    put_varint(out, items.len() as u64);
    for item in items {
        encode(item, out);
    }
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;

    /// One of every variant, nested inside each container.
    pub(crate) fn every_variant() -> Frame {
        let scalars = vec![
            Frame::ok(),
            Frame::error("ERR boom"),
            Frame::Integer(0),
            Frame::Integer(-1),
            Frame::Integer(i64::MIN),
            Frame::Integer(i64::MAX),
            Frame::bulk(""),
            Frame::bulk(b"bin\x00\xff\r\n"),
            Frame::Null,
            Frame::NullArray,
            Frame::Double(-0.5),
            Frame::Double(f64::INFINITY),
            Frame::Boolean(true),
            Frame::Boolean(false),
            Frame::Verbatim(Bytes::from_static(b"some text")),
            Frame::Array(vec![]),
        ];
        Frame::Array(vec![
            Frame::Array(scalars.clone()),
            Frame::Set(scalars.clone()),
            Frame::Map(vec![
                (Frame::bulk("k"), Frame::Array(scalars.clone())),
                (Frame::Integer(1), Frame::Map(vec![(Frame::Null, Frame::Set(vec![Frame::Boolean(true)]))])),
            ]),
            Frame::Map(vec![]),
            Frame::Set(vec![]),
        ])
    }

    fn round_trip(frame: &Frame) -> Frame {
        let mut out = BytesMut::new();
        encode(frame, &mut out);
        assert_eq!(out.len(), encoded_len(frame));
        let mut cursor = Cursor::new(out.freeze());
        let decoded = decode(&mut cursor).unwrap();
        cursor.finish().unwrap();
        decoded
    }

    #[test]
    fn every_variant_round_trips_nested() {
        let frame = every_variant();
        assert_eq!(round_trip(&frame), frame);
    }

    #[test]
    fn hash_and_lcs_reply_shapes_round_trip() {
        let ints = |a, b| Frame::Array(vec![Frame::Integer(a), Frame::Integer(b)]);
        let pair = |f: &str, v: &[u8]| Frame::Array(vec![Frame::bulk(f), Frame::bulk(v)]);
        let shapes = [
            // HGETALL (binary values, an empty field), and of a missing key.
            Frame::Map(vec![
                (Frame::bulk("f"), Frame::bulk("v")),
                (Frame::bulk(""), Frame::bulk(b"\x00\xff")),
            ]),
            Frame::Map(vec![]),
            // HRANDFIELD WITHVALUES in RESP3: [field, value] pairs.
            Frame::Array(vec![pair("a", b"1"), pair("b", b"")]),
            // HSCAN: the cursor, then flat pairs.
            Frame::Array(vec![Frame::bulk("42"), Frame::Array(vec![Frame::bulk("f"), Frame::bulk("v")])]),
            // HMGET with a missing field.
            Frame::Array(vec![Frame::Null, Frame::bulk("1")]),
            // LCS IDX WITHMATCHLEN.
            Frame::Map(vec![
                (
                    Frame::bulk("matches"),
                    Frame::Array(vec![Frame::Array(vec![ints(4, 7), ints(5, 8), Frame::Integer(4)])]),
                ),
                (Frame::bulk("len"), Frame::Integer(6)),
            ]),
        ];
        for frame in shapes {
            assert_eq!(round_trip(&frame), frame);
        }
    }

    #[test]
    fn nan_round_trips_bit_for_bit() {
        let Frame::Double(d) = round_trip(&Frame::Double(f64::NAN)) else { panic!("not a double") };
        assert_eq!(d.to_bits(), f64::NAN.to_bits());
    }

    #[test]
    fn zigzag_is_a_bijection_at_the_edges() {
        for n in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(n)), n);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = Frame::Null;
        for _ in 0..MAX_DEPTH {
            deep = Frame::Array(vec![deep]);
        }
        assert_eq!(round_trip(&deep), deep);
        let deeper = Frame::Array(vec![deep]);
        let mut out = BytesMut::new();
        encode(&deeper, &mut out);
        assert_eq!(decode(&mut Cursor::new(out.freeze())), Err(DecodeError::TooDeep));
    }

    #[test]
    fn huge_counts_fail_before_allocating() {
        let mut out = BytesMut::new();
        out.put_u8(ARRAY);
        put_varint(&mut out, u64::MAX / 2);
        assert_eq!(decode(&mut Cursor::new(out.freeze())), Err(DecodeError::Truncated));
        let mut out = BytesMut::new();
        out.put_u8(BULK);
        put_varint(&mut out, 1 << 40);
        assert_eq!(decode(&mut Cursor::new(out.freeze())), Err(DecodeError::Truncated));
    }

    #[test]
    fn bad_tags_and_text_are_malformed() {
        let bad = |bytes: &'static [u8]| decode(&mut Cursor::new(Bytes::from_static(bytes)));
        assert!(matches!(bad(&[99]), Err(DecodeError::Malformed(_))));
        assert!(matches!(bad(&[BOOLEAN, 2]), Err(DecodeError::Malformed(_))));
        assert!(matches!(bad(&[SIMPLE, 1, 0xff]), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut out = BytesMut::new();
        encode(&every_variant(), &mut out);
        let full = out.freeze();
        for len in 0..full.len() {
            assert!(decode(&mut Cursor::new(full.slice(..len))).is_err(), "prefix of {len} bytes");
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&mut Cursor::new(Bytes::from(bytes)));
        }
    }
}
