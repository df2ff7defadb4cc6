//! Replies as a client shows them: every RESP2/RESP3 type, with numbers that
//! are printed back (doubles, big numbers) kept as the server wrote them,
//! since redis-cli prints the server's text, not a reformatted value.

use bytes::{Bytes, BytesMut};

use crate::protocol::reply::{ReplyError, reply_len};

/// One reply from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+text`.
    Status(Bytes),
    /// `-text` or a RESP3 blob error.
    Error(Bytes),
    /// `:n`.
    Integer(i64),
    /// `,text`: a double, as the server formatted it.
    Double(Bytes),
    /// `(digits`: a big number, as sent.
    BigNumber(Bytes),
    /// `#t` / `#f`.
    Boolean(bool),
    /// `$-1`, `*-1` or `_`.
    Nil,
    /// `$n`.
    Bulk(Bytes),
    /// `=n`: the text without its three-letter format and colon.
    Verbatim(Bytes),
    /// `*n`.
    Array(Vec<Reply>),
    /// `~n`.
    Set(Vec<Reply>),
    /// `%n`.
    Map(Vec<(Reply, Reply)>),
    /// `>n`: an out-of-band push.
    Push(Vec<Reply>),
}

impl Reply {
    /// A status reply from text (tests, synthesized replies).
    pub fn status(text: &str) -> Reply {
        Reply::Status(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// A bulk reply from bytes.
    pub fn bulk(data: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(data.as_ref()))
    }

    /// An error reply from text.
    pub fn error(text: &str) -> Reply {
        Reply::Error(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// True for error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The bytes of a string-like reply (status, error, bulk, verbatim,
    /// double, big number).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Status(b)
            | Reply::Error(b)
            | Reply::Bulk(b)
            | Reply::Verbatim(b)
            | Reply::Double(b)
            | Reply::BigNumber(b) => Some(b),
            _ => None,
        }
    }

    /// A string-like reply as text (lossy).
    pub fn as_text(&self) -> Option<String> {
        self.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// An integer, or a string-like reply holding one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Integer(n) => Some(*n),
            other => other.as_bytes().and_then(|b| std::str::from_utf8(b).ok()?.parse().ok()),
        }
    }

    /// The elements of an array, set or push.
    pub fn items(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => Some(items),
            _ => None,
        }
    }

    /// Key/value pairs of a map, or of a flat array of even length (the
    /// RESP2 shape of a map).
    pub fn pairs(&self) -> Option<Vec<(&Reply, &Reply)>> {
        match self {
            Reply::Map(pairs) => Some(pairs.iter().map(|(k, v)| (k, v)).collect()),
            Reply::Array(items) if items.len() % 2 == 0 => {
                Some(items.chunks(2).map(|pair| (&pair[0], &pair[1])).collect())
            }
            _ => None,
        }
    }

    /// The value under `key` in a map-shaped reply.
    pub fn field(&self, key: &str) -> Option<&Reply> {
        self.pairs()?.into_iter().find(|(k, _)| k.as_bytes() == Some(key.as_bytes())).map(|(_, v)| v)
    }
}

/// Takes one complete reply off the front of `buf`, or `Ok(None)` while it
/// is not all buffered. An attribute (`|`) before a reply is dropped.
pub fn parse(buf: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
    loop {
        let Some(len) = reply_len(buf)? else {
            return Ok(None);
        };
        let data = buf.split_to(len).freeze();
        if data[0] == b'|' {
            continue;
        }
        let mut at = 0;
        return Ok(Some(read(&data, &mut at)));
    }
}

/// Builds a reply from a buffer known to hold it whole (checked by
/// [`reply_len`], so lengths and terminators are valid).
fn read(buf: &Bytes, at: &mut usize) -> Reply {
    let tag = buf[*at];
    let eol = *at + 1 + buf[*at + 1..].windows(2).position(|w| w == b"\r\n").expect("checked");
    let header = buf.slice(*at + 1..eol);
    *at = eol + 2;
    let number = || std::str::from_utf8(&header).ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or(-1);
    match tag {
        b'+' => Reply::Status(header),
        b'-' => Reply::Error(header),
        b':' => Reply::Integer(number()),
        b',' => Reply::Double(header),
        b'(' => Reply::BigNumber(header),
        b'#' => Reply::Boolean(&header[..] == b"t"),
        b'_' => Reply::Nil,
        b'$' | b'=' | b'!' => {
            let n = number();
            if n < 0 {
                return Reply::Nil;
            }
            let data = buf.slice(*at..*at + n as usize);
            *at += n as usize + 2;
            match tag {
                b'=' if data.len() >= 4 && data[3] == b':' => Reply::Verbatim(data.slice(4..)),
                b'=' => Reply::Verbatim(data),
                b'!' => Reply::Error(data),
                _ => Reply::Bulk(data),
            }
        }
        b'*' | b'~' | b'>' => {
            let n = number();
            if n < 0 {
                return Reply::Nil;
            }
            let items = (0..n).map(|_| read(buf, at)).collect();
            match tag {
                b'~' => Reply::Set(items),
                b'>' => Reply::Push(items),
                _ => Reply::Array(items),
            }
        }
        // An attribute nested in an aggregate counts as an element there;
        // it is shown as the map it is.
        b'%' | b'|' => {
            let n = number().max(0);
            Reply::Map((0..n).map(|_| (read(buf, at), read(buf, at))).collect())
        }
        _ => unreachable!("reply_len accepts only known type bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(wire: &str) -> Reply {
        let mut buf = BytesMut::from(wire.as_bytes());
        let reply = parse(&mut buf).expect("valid").expect("whole");
        assert!(buf.is_empty(), "left over: {buf:?}");
        reply
    }

    #[test]
    fn scalars_keep_the_servers_text() {
        assert_eq!(one("+OK\r\n"), Reply::status("OK"));
        assert_eq!(one("-ERR x\r\n"), Reply::error("ERR x"));
        assert_eq!(one(":-5\r\n"), Reply::Integer(-5));
        assert_eq!(
            one(",0.10000000000000001\r\n"),
            Reply::Double(Bytes::from_static(b"0.10000000000000001"))
        );
        assert_eq!(
            one("(123456789012345678901\r\n"),
            Reply::BigNumber(Bytes::from_static(b"123456789012345678901"))
        );
        assert_eq!(one("#f\r\n"), Reply::Boolean(false));
        assert_eq!(one("_\r\n"), Reply::Nil);
        assert_eq!(one("$-1\r\n"), Reply::Nil);
        assert_eq!(one("*-1\r\n"), Reply::Nil);
        assert_eq!(one("$0\r\n\r\n"), Reply::bulk(""));
        assert_eq!(one("=9\r\ntxt:hello\r\n"), Reply::Verbatim(Bytes::from_static(b"hello")));
        assert_eq!(one("!5\r\nERR y\r\n"), Reply::error("ERR y"));
    }

    #[test]
    fn aggregates() {
        assert_eq!(
            one("*2\r\n:1\r\n*1\r\n$1\r\na\r\n"),
            Reply::Array(vec![Reply::Integer(1), Reply::Array(vec![Reply::bulk("a")])])
        );
        assert_eq!(one("~1\r\n:1\r\n"), Reply::Set(vec![Reply::Integer(1)]));
        assert_eq!(one(">1\r\n:1\r\n"), Reply::Push(vec![Reply::Integer(1)]));
        let map = one("%1\r\n+k\r\n:2\r\n");
        assert_eq!(map, Reply::Map(vec![(Reply::status("k"), Reply::Integer(2))]));
        assert_eq!(map.field("k"), Some(&Reply::Integer(2)));
        // An attribute is dropped; the reply after it is what counts.
        let mut buf = BytesMut::from(&b"|1\r\n+a\r\n:1\r\n:7\r\n"[..]);
        assert_eq!(parse(&mut buf), Ok(Some(Reply::Integer(7))));
    }

    #[test]
    fn flat_arrays_read_as_maps() {
        let flat =
            Reply::Array(vec![Reply::bulk("a"), Reply::Integer(1), Reply::bulk("b"), Reply::Integer(2)]);
        assert_eq!(flat.field("b").and_then(Reply::as_int), Some(2));
        assert_eq!(Reply::Array(vec![Reply::Nil]).pairs(), None);
    }

    #[test]
    fn partial_and_invalid_input() {
        let mut buf = BytesMut::from(&b"*2\r\n:1\r\n"[..]);
        assert_eq!(parse(&mut buf), Ok(None));
        assert_eq!(buf.len(), 8, "nothing consumed until whole");
        let mut bad = BytesMut::from(&b"?x\r\n"[..]);
        assert!(parse(&mut bad).is_err());
    }
}
