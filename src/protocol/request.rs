//! Client requests: a byte stream to argument vectors.
//!
//! Two-phase: [`RequestDecoder::decode`] first walks the buffer to check that
//! a whole request is there (reading only headers, allocating nothing), then
//! splits it off and slices the arguments out of it without copying. Every
//! length is checked against [`RequestLimits`] before anything depends on it.
//! The error texts are Redis's, because clients and tests match on them.

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request or `*`/`$` header line Redis accepts (64 KiB).
pub const MAX_INLINE_LEN: usize = 64 * 1024;

/// Bounds on what a client may claim.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// Largest bulk string (`proto_max_bulk_len`).
    pub max_bulk_len: usize,
    /// Most arguments in one request (`max_multibulk_len`).
    pub max_multibulk_len: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits { max_bulk_len: 512 * 1024 * 1024, max_multibulk_len: 1024 * 1024 }
    }
}

/// A request that cannot be parsed. The connection answers with
/// `-ERR Protocol error: <text>` and closes; the server keeps serving others.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// A `*` header that is not a number or exceeds `max_multibulk_len`.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// A `$` header that is not a number, is negative or exceeds `proto_max_bulk_len`.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// An element of a multibulk request that is not a bulk string.
    #[error("expected '$', got '{0}'")]
    ExpectedBulk(char),
    /// A `*` header line longer than 64 KiB.
    #[error("too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$` header line longer than 64 KiB.
    #[error("too big bulk count string")]
    TooBigBulkCount,
    /// An inline request longer than 64 KiB.
    #[error("too big inline request")]
    TooBigInline,
    /// An inline request whose quotes do not close.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
}

impl ProtocolError {
    /// The full error reply text, as Redis sends it.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {self}")
    }
}

/// Splits requests off a connection's read buffer.
///
/// Keeps how far it got into an incomplete multibulk request, so a request
/// of many arguments arriving in small reads is walked once, not once per read.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    /// Arguments already checked complete, and the offset after them.
    resume: Option<Resume>,
}

#[derive(Debug, Clone, Copy)]
struct Resume {
    count: usize,
    done: usize,
    offset: usize,
}

/// Parses one request from `buf` with a fresh decoder (tests, simple callers).
pub fn parse_request(
    buf: &mut BytesMut,
    limits: &RequestLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    RequestDecoder::default().decode(buf, limits)
}

impl RequestDecoder {
    /// Takes the next complete request off `buf`.
    ///
    /// `Ok(None)`: no complete request yet (read more). Empty requests
    /// (`*0`, blank inline lines) are skipped, as Redis does.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &RequestLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if buf.is_empty() {
                return Ok(None);
            }
            let parsed = if buf[0] == b'*' { self.multibulk(buf, limits)? } else { inline(buf)? };
            match parsed {
                None => return Ok(None),
                Some(args) if args.is_empty() => continue,
                Some(args) => return Ok(Some(args)),
            }
        }
    }

    fn multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: &RequestLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let (count, mut done, mut pos) = match self.resume {
            Some(r) => (r.count, r.done, r.offset),
            None => {
                let Some((line, next)) = find_line(buf, 0) else {
                    return if buf.len() > MAX_INLINE_LEN {
                        Err(ProtocolError::TooBigMultibulkCount)
                    } else {
                        Ok(None)
                    };
                };
                let n = parse_len(&buf[1..line]).ok_or(ProtocolError::InvalidMultibulkLength)?;
                if n > limits.max_multibulk_len as i64 || n > i32::MAX as i64 {
                    return Err(ProtocolError::InvalidMultibulkLength);
                }
                if n <= 0 {
                    buf.advance(next);
                    return Ok(Some(Vec::new()));
                }
                (n as usize, 0, next)
            }
        };
        // Phase one: walk the headers until every argument is known complete.
        while done < count {
            let Some((line, next)) = find_line(buf, pos) else {
                if buf.len() - pos > MAX_INLINE_LEN {
                    return Err(ProtocolError::TooBigBulkCount);
                }
                self.resume = Some(Resume { count, done, offset: pos });
                return Ok(None);
            };
            if buf[pos] != b'$' {
                return Err(ProtocolError::ExpectedBulk(buf[pos] as char));
            }
            let len = parse_len(&buf[pos + 1..line]).ok_or(ProtocolError::InvalidBulkLength)?;
            if len < 0 || len as u64 > limits.max_bulk_len as u64 {
                return Err(ProtocolError::InvalidBulkLength);
            }
            let end = next + len as usize + 2;
            if end > buf.len() {
                self.resume = Some(Resume { count, done, offset: pos });
                return Ok(None);
            }
            pos = end;
            done += 1;
        }
        self.resume = None;
        // Phase two: split the request off and slice its arguments.
        let frame = buf.split_to(pos).freeze();
        let mut args = Vec::with_capacity(count);
        let mut at = find_line(&frame, 0).map(|(_, n)| n).unwrap_or(0);
        for _ in 0..count {
            let (line, next) = find_line(&frame, at).expect("checked in phase one");
            let len = parse_len(&frame[at + 1..line]).expect("checked in phase one") as usize;
            args.push(frame.slice(next..next + len));
            at = next + len + 2;
        }
        Ok(Some(args))
    }
}

/// Finds the `\r\n` that ends the line starting at `from`: returns the index
/// of `\r` and the index just after `\n`.
fn find_line(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let rest = buf.get(from..)?;
    let cr = memchr_cr(rest)?;
    let at = from + cr;
    if at + 1 < buf.len() { Some((at, at + 2)) } else { None }
}

fn memchr_cr(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\r')
}

/// A decimal length as Redis's `string2ll` reads it: optional `-`, digits,
/// no spaces or `+`.
fn parse_len(digits: &[u8]) -> Option<i64> {
    let (neg, body) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        _ => (false, digits),
    };
    if body.is_empty() || body.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in body {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (d - b'0') as i64;
    }
    Some(if neg { -n } else { n })
}

/// One inline request (a line of space-separated words, as typed into
/// `telnet`), or `None` when its newline has not arrived.
fn inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_INLINE_LEN { Err(ProtocolError::TooBigInline) } else { Ok(None) };
    };
    if nl > MAX_INLINE_LEN {
        return Err(ProtocolError::TooBigInline);
    }
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    if let Some(stripped) = text.strip_suffix(b"\r") {
        text = stripped;
    }
    split_args(text).map(Some)
}

/// Splits an inline line the way Redis's `sdssplitargs` does: words
/// separated by blanks; `"..."` with `\n \r \t \b \a \\ \" \xHH` escapes;
/// `'...'` with `\'`. A closing quote must be followed by a blank or the end.
pub fn split_args(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Ok(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                let c = *line.get(i).ok_or(ProtocolError::UnbalancedQuotes)?;
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex(line[i + 2])
                    && is_hex(line[i + 3])
                {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    check_closing_quote(line, i)?;
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                let c = *line.get(i).ok_or(ProtocolError::UnbalancedQuotes)?;
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    check_closing_quote(line, i)?;
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(cur));
    }
}

/// A quote closing a word (at `i`) must be followed by a blank or the end
/// of the line.
fn check_closing_quote(line: &[u8], i: usize) -> Result<(), ProtocolError> {
    match line.get(i + 1) {
        Some(next) if !next.is_ascii_whitespace() => Err(ProtocolError::UnbalancedQuotes),
        _ => Ok(()),
    }
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    fn one(input: &[u8]) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        parse_request(&mut buf, &RequestLimits::default())
    }

    #[test]
    fn parses_multibulk_and_pipelines() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"[..]);
        let mut dec = RequestDecoder::default();
        let limits = RequestLimits::default();
        assert_eq!(dec.decode(&mut buf, &limits).unwrap(), Some(args(&["GET", "k"])));
        assert_eq!(dec.decode(&mut buf, &limits).unwrap(), Some(args(&["PING"])));
        assert_eq!(dec.decode(&mut buf, &limits).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn incomplete_is_not_an_error_at_any_split() {
        let whole = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        for cut in 0..whole.len() {
            let mut dec = RequestDecoder::default();
            let limits = RequestLimits::default();
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(dec.decode(&mut buf, &limits).unwrap(), None, "cut at {cut}");
            buf.extend_from_slice(&whole[cut..]);
            assert_eq!(dec.decode(&mut buf, &limits).unwrap(), Some(args(&["SET", "k", "hello"])));
        }
    }

    #[test]
    fn rejects_bad_headers_with_redis_texts() {
        assert_eq!(one(b"*x\r\n"), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(one(b"*1\r\n$-1\r\n"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(one(b"*1\r\n$abc\r\n"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(one(b"*1\r\nx3\r\n"), Err(ProtocolError::ExpectedBulk('x')));
        assert_eq!(
            ProtocolError::ExpectedBulk('x').reply_text(),
            "ERR Protocol error: expected '$', got 'x'"
        );
    }

    #[test]
    fn bounds_lengths_before_allocating() {
        let limits = RequestLimits { max_bulk_len: 10, max_multibulk_len: 4 };
        let mut buf = BytesMut::from(&b"*5\r\n"[..]);
        assert_eq!(parse_request(&mut buf, &limits), Err(ProtocolError::InvalidMultibulkLength));
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        assert_eq!(parse_request(&mut buf, &limits), Err(ProtocolError::InvalidBulkLength));
        let mut buf = BytesMut::from(&b"*2147483648\r\n"[..]);
        assert_eq!(
            parse_request(&mut buf, &RequestLimits { max_bulk_len: 10, max_multibulk_len: usize::MAX }),
            Err(ProtocolError::InvalidMultibulkLength)
        );
    }

    #[test]
    fn skips_empty_requests() {
        assert_eq!(one(b"*0\r\n*1\r\n$4\r\nPING\r\n").unwrap(), Some(args(&["PING"])));
        assert_eq!(one(b"\r\n\r\nPING\r\n").unwrap(), Some(args(&["PING"])));
        assert_eq!(one(b"*-1\r\n").unwrap(), None);
    }

    #[test]
    fn splits_inline_like_redis() {
        assert_eq!(one(b"SET k \"a b\\n\"\r\n").unwrap(), Some(args(&["SET", "k", "a b\n"])));
        assert_eq!(one(b"set 'it\\'s' \"\\x41\"\n").unwrap(), Some(args(&["set", "it's", "A"])));
        assert_eq!(one(b"GET \"k\r\n"), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(one(b"GET \"k\"x\r\n"), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(one(b"PING").unwrap(), None);
        let long = vec![b'a'; MAX_INLINE_LEN + 1];
        assert_eq!(one(&long), Err(ProtocolError::TooBigInline));
    }
}
