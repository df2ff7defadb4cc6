//! Replies read back into [`Frame`]s: the client side of RESP, for
//! `shoal-cli` and tests. Two-phase like requests: [`parse_reply`] returns
//! `Ok(None)` until a whole reply is buffered, and bounds every length.

use bytes::{Buf, Bytes, BytesMut};

use super::Frame;

/// Largest bulk or aggregate length a reply may claim.
pub const MAX_REPLY_LEN: i64 = 512 * 1024 * 1024;

/// Deepest nesting of aggregates accepted.
const MAX_DEPTH: usize = 64;

/// A reply that is not valid RESP.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplyError {
    /// Unknown type byte.
    #[error("unknown reply type byte {0:#04x}")]
    UnknownType(u8),
    /// A length or number that does not parse or is out of range.
    #[error("invalid length or number in reply")]
    InvalidNumber,
    /// Aggregates nested deeper than the limit.
    #[error("reply nested too deeply")]
    TooDeep,
    /// A bulk string not followed by CRLF.
    #[error("bulk string not terminated by CRLF")]
    BadTerminator,
}

/// Takes one complete reply off the front of `buf`, or `Ok(None)`.
pub fn parse_reply(buf: &mut BytesMut) -> Result<Option<Frame>, ReplyError> {
    let Some(len) = check(buf, 0, 0)? else {
        return Ok(None);
    };
    let data = buf.split_to(len).freeze();
    let mut at = 0;
    Ok(Some(read(&data, &mut at)))
}

/// The length of the complete reply at the front of `buf`, or `Ok(None)`
/// while it is not all buffered. Every length is bounded; nothing is
/// allocated. For clients that build their own reply values.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, ReplyError> {
    check(buf, 0, 0)
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let pos = rest.windows(2).position(|w| w == b"\r\n")?;
    Some(from + pos)
}

fn number(text: &[u8]) -> Result<i64, ReplyError> {
    std::str::from_utf8(text).ok().and_then(|s| s.parse::<i64>().ok()).ok_or(ReplyError::InvalidNumber)
}

/// Phase one: the length of the complete reply starting at `at`, if buffered.
fn check(buf: &[u8], at: usize, depth: usize) -> Result<Option<usize>, ReplyError> {
    if depth > MAX_DEPTH {
        return Err(ReplyError::TooDeep);
    }
    let Some(&tag) = buf.get(at) else {
        return Ok(None);
    };
    let Some(eol) = line_end(buf, at + 1) else {
        return Ok(None);
    };
    let header = &buf[at + 1..eol];
    let next = eol + 2;
    match tag {
        b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => Ok(Some(next - at)),
        b'$' | b'=' | b'!' => {
            let n = number(header)?;
            if n < 0 {
                return Ok(Some(next - at));
            }
            if n > MAX_REPLY_LEN {
                return Err(ReplyError::InvalidNumber);
            }
            let end = next + n as usize;
            if end + 2 > buf.len() {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ReplyError::BadTerminator);
            }
            Ok(Some(end + 2 - at))
        }
        b'*' | b'~' | b'%' | b'>' | b'|' => {
            let n = number(header)?;
            if n < 0 {
                return Ok(Some(next - at));
            }
            if n > MAX_REPLY_LEN {
                return Err(ReplyError::InvalidNumber);
            }
            let items = if tag == b'%' || tag == b'|' { n as usize * 2 } else { n as usize };
            let mut pos = next;
            for _ in 0..items {
                match check(buf, pos, depth + 1)? {
                    Some(len) => pos += len,
                    None => return Ok(None),
                }
            }
            Ok(Some(pos - at))
        }
        other => Err(ReplyError::UnknownType(other)),
    }
}

/// Phase two: builds the frame from a buffer known to hold it whole.
/// Attribute replies (`|`) are read and dropped; pushes (`>`) become arrays.
fn read(buf: &Bytes, at: &mut usize) -> Frame {
    let tag = buf[*at];
    let eol = line_end(buf, *at + 1).expect("checked");
    let header = buf.slice(*at + 1..eol);
    *at = eol + 2;
    let text = || String::from_utf8_lossy(&header).into_owned();
    match tag {
        b'+' => Frame::Simple(text()),
        b'-' => Frame::Error(text()),
        b':' => Frame::Integer(number(&header).unwrap_or(0)),
        b'(' => Frame::Bulk(header.clone()),
        b',' => Frame::Double(parse_double(&text())),
        b'#' => Frame::Boolean(&header[..] == b"t"),
        b'_' => Frame::Null,
        b'$' | b'=' | b'!' => {
            let n = number(&header).unwrap_or(-1);
            if n < 0 {
                return Frame::Null;
            }
            let data = buf.slice(*at..*at + n as usize);
            *at += n as usize + 2;
            match tag {
                b'=' => Frame::Verbatim(if data.len() >= 4 { data.slice(4..) } else { data }),
                b'!' => Frame::Error(String::from_utf8_lossy(&data).into_owned()),
                _ => Frame::Bulk(data),
            }
        }
        b'*' | b'~' | b'>' => {
            let n = number(&header).unwrap_or(-1);
            if n < 0 {
                return Frame::NullArray;
            }
            let items = (0..n).map(|_| read(buf, at)).collect();
            if tag == b'~' { Frame::Set(items) } else { Frame::Array(items) }
        }
        b'%' | b'|' => {
            let n = number(&header).unwrap_or(0);
            let pairs: Vec<(Frame, Frame)> = (0..n).map(|_| (read(buf, at), read(buf, at))).collect();
            if tag == b'|' {
                // An attribute precedes the real reply.
                return read(buf, at);
            }
            Frame::Map(pairs)
        }
        _ => unreachable!("checked"),
    }
}

fn parse_double(text: &str) -> f64 {
    match text {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" => f64::NAN,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

/// Skips exactly `n` bytes (used by callers that peeked a reply's length).
pub fn skip(buf: &mut BytesMut, n: usize) {
    buf.advance(n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn round_trips_every_type() {
        let frames = vec![
            Frame::ok(),
            Frame::error("ERR nope"),
            Frame::Integer(-3),
            Frame::bulk("a\r\nb"),
            Frame::Null,
            Frame::Array(vec![Frame::Integer(1), Frame::Array(vec![Frame::bulk("x")])]),
            Frame::Map(vec![(Frame::bulk("k"), Frame::Double(2.5))]),
            Frame::Set(vec![Frame::Boolean(true)]),
            Frame::Verbatim(Bytes::from_static(b"hello")),
        ];
        for f in frames {
            let mut buf = BytesMut::from(&f.to_bytes(Protocol::Resp3)[..]);
            let whole = buf.len();
            for cut in 0..whole {
                let mut part = BytesMut::from(&buf[..cut]);
                assert_eq!(parse_reply(&mut part).unwrap(), None);
            }
            assert_eq!(parse_reply(&mut buf).unwrap(), Some(f));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn rejects_garbage() {
        let mut buf = BytesMut::from(&b"?x\r\n"[..]);
        assert_eq!(parse_reply(&mut buf), Err(ReplyError::UnknownType(b'?')));
        let mut buf = BytesMut::from(&b"$3\r\nabcd\r\n"[..]);
        assert_eq!(parse_reply(&mut buf), Err(ReplyError::BadTerminator));
    }
}
