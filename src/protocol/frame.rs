//! The reply value and its RESP2/RESP3 encoding.

use bytes::{BufMut, Bytes, BytesMut};

/// Which RESP version a connection speaks (`HELLO 2|3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default of every new connection.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// A reply. Commands build one and return it; the connection encodes it.
///
/// RESP3-only types are downgraded when the connection speaks RESP2, exactly
/// as Redis does: a map becomes a flat array, a set an array, a double a bulk
/// string, a boolean an integer, a null a null bulk string.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: the text after the `-`, prefix included.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Bytes),
    /// `$-1` in RESP2, `_` in RESP3.
    Null,
    /// `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// `*N`
    Array(Vec<Frame>),
    /// `%N` in RESP3, a flat array of pairs in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// `~N` in RESP3, an array in RESP2.
    Set(Vec<Frame>),
    /// `,1.5` in RESP3, a bulk string in RESP2.
    Double(f64),
    /// `#t` in RESP3, `:1` in RESP2.
    Boolean(bool),
    /// `=N\r\ntxt:...` in RESP3, a bulk string in RESP2.
    Verbatim(Bytes),
}

impl Frame {
    /// `+OK`
    pub fn ok() -> Frame {
        Frame::Simple("OK".to_string())
    }

    /// A bulk string copied from a slice.
    pub fn bulk(data: impl AsRef<[u8]>) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(data.as_ref()))
    }

    /// A bulk string of a number's decimal text (Redis replies this way for
    /// `INCRBYFLOAT`, `CONFIG GET`, ...).
    pub fn bulk_from_str(text: &str) -> Frame {
        Frame::bulk(text.as_bytes())
    }

    /// An error reply; `msg` starts with its prefix (`ERR`, `WRONGTYPE`, ...).
    pub fn error(msg: impl Into<String>) -> Frame {
        Frame::Error(msg.into())
    }

    /// True for error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Appends the encoding of this frame to `out`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use shoal::protocol::{Frame, Protocol};
    /// let reply = Frame::Map(vec![(Frame::bulk("proto"), Frame::Integer(3))]);
    /// let mut out = BytesMut::new();
    /// reply.encode(Protocol::Resp2, &mut out);
    /// assert_eq!(&out[..], b"*2\r\n$5\r\nproto\r\n:3\r\n"); // a flat array in RESP2
    /// out.clear();
    /// reply.encode(Protocol::Resp3, &mut out);
    /// assert_eq!(&out[..], b"%1\r\n$5\r\nproto\r\n:3\r\n"); // a map in RESP3
    /// ```
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        match self {
            Frame::Simple(s) => line(out, b'+', s.as_bytes()),
            Frame::Error(s) => line(out, b'-', s.as_bytes()),
            Frame::Integer(n) => {
                out.put_u8(b':');
                put_int(out, *n);
                out.put_slice(b"\r\n");
            }
            Frame::Bulk(b) => bulk(out, b),
            Frame::Null => match proto {
                Protocol::Resp2 => out.put_slice(b"$-1\r\n"),
                Protocol::Resp3 => out.put_slice(b"_\r\n"),
            },
            Frame::NullArray => match proto {
                Protocol::Resp2 => out.put_slice(b"*-1\r\n"),
                Protocol::Resp3 => out.put_slice(b"_\r\n"),
            },
            Frame::Array(items) => {
                header(out, b'*', items.len());
                for item in items {
                    item.encode(proto, out);
                }
            }
            Frame::Map(pairs) => {
                match proto {
                    Protocol::Resp2 => header(out, b'*', pairs.len() * 2),
                    Protocol::Resp3 => header(out, b'%', pairs.len()),
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Frame::Set(items) => {
                match proto {
                    Protocol::Resp2 => header(out, b'*', items.len()),
                    Protocol::Resp3 => header(out, b'~', items.len()),
                }
                for item in items {
                    item.encode(proto, out);
                }
            }
            Frame::Double(d) => {
                let text = format_double(*d);
                match proto {
                    Protocol::Resp2 => bulk(out, text.as_bytes()),
                    Protocol::Resp3 => line(out, b',', text.as_bytes()),
                }
            }
            Frame::Boolean(b) => match proto {
                Protocol::Resp2 => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
                Protocol::Resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            },
            Frame::Verbatim(text) => match proto {
                Protocol::Resp2 => bulk(out, text),
                Protocol::Resp3 => {
                    header(out, b'=', text.len() + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(text);
                    out.put_slice(b"\r\n");
                }
            },
        }
    }

    /// The encoding as a fresh buffer (tests, one-off replies).
    pub fn to_bytes(&self, proto: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(proto, &mut out);
        out.freeze()
    }
}

/// Formats a double the way Redis's RESP3 `,` type does: `inf`, `-inf`,
/// `nan`, and otherwise the shortest text that reads back the same value.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".to_string()
    } else if d.is_infinite() {
        if d > 0.0 { "inf".to_string() } else { "-inf".to_string() }
    } else {
        let mut s = format!("{d}");
        if s == "-0" {
            s = "0".to_string();
        }
        s
    }
}

fn line(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.put_u8(tag);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn header(out: &mut BytesMut, tag: u8, len: usize) {
    out.put_u8(tag);
    let mut buf = itoa::Buffer::new();
    out.put_slice(buf.format(len).as_bytes());
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 16);
    header(out, b'$', data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn put_int(out: &mut BytesMut, n: i64) {
    let mut buf = itoa::Buffer::new();
    out.put_slice(buf.format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: &Frame, p: Protocol) -> Vec<u8> {
        f.to_bytes(p).to_vec()
    }

    #[test]
    fn downgrades_resp3_types_for_resp2() {
        let map = Frame::Map(vec![(Frame::bulk("a"), Frame::Integer(1))]);
        assert_eq!(enc(&map, Protocol::Resp2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, Protocol::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Frame::Null, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(enc(&Frame::NullArray, Protocol::Resp2), b"*-1\r\n");
        assert_eq!(enc(&Frame::Null, Protocol::Resp3), b"_\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Protocol::Resp2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Protocol::Resp3), b",1.5\r\n");
        assert_eq!(enc(&Frame::Boolean(true), Protocol::Resp3), b"#t\r\n");
        assert_eq!(enc(&Frame::Boolean(false), Protocol::Resp2), b":0\r\n");
        let set = Frame::Set(vec![Frame::Integer(1)]);
        assert_eq!(enc(&set, Protocol::Resp3), b"~1\r\n:1\r\n");
        assert_eq!(enc(&set, Protocol::Resp2), b"*1\r\n:1\r\n");
    }

    #[test]
    fn encodes_scalars() {
        assert_eq!(enc(&Frame::ok(), Protocol::Resp2), b"+OK\r\n");
        assert_eq!(enc(&Frame::error("ERR x"), Protocol::Resp2), b"-ERR x\r\n");
        assert_eq!(enc(&Frame::Integer(-7), Protocol::Resp2), b":-7\r\n");
        assert_eq!(enc(&Frame::bulk(""), Protocol::Resp2), b"$0\r\n\r\n");
        assert_eq!(enc(&Frame::Double(f64::INFINITY), Protocol::Resp3), b",inf\r\n");
    }
}
