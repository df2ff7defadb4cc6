//! Reply formatting as redis-cli prints it.
//!
//! Two modes, chosen like redis-cli chooses them: [`tty`] when standard
//! output is a terminal (quoted strings, `(integer)`, numbered nested
//! lists), [`raw`] when it is not (values as they are, one per line).

use crate::protocol::Frame;
use crate::protocol::frame::format_double;

/// Formats a reply for a terminal, ending with a newline, exactly as
/// redis-cli's standard output mode does.
pub fn tty(frame: &Frame) -> String {
    let mut out = String::new();
    tty_into(frame, "", &mut out);
    out
}

fn tty_into(frame: &Frame, prefix: &str, out: &mut String) {
    match frame {
        Frame::Error(text) => {
            out.push_str("(error) ");
            out.push_str(text);
            out.push('\n');
        }
        Frame::Simple(text) => {
            out.push_str(text);
            out.push('\n');
        }
        Frame::Integer(n) => out.push_str(&format!("(integer) {n}\n")),
        Frame::Double(d) => out.push_str(&format!("(double) {}\n", format_double(*d))),
        Frame::Bulk(data) => {
            quote_into(data, out);
            out.push('\n');
        }
        Frame::Verbatim(data) => {
            out.push_str(&String::from_utf8_lossy(data));
            out.push('\n');
        }
        Frame::Null | Frame::NullArray => out.push_str("(nil)\n"),
        Frame::Boolean(b) => out.push_str(if *b { "(true)\n" } else { "(false)\n" }),
        Frame::Array(items) => tty_list(items.iter().map(|i| (i, None)), items.len(), ')', prefix, out),
        Frame::Set(items) => tty_list(items.iter().map(|i| (i, None)), items.len(), '~', prefix, out),
        Frame::Map(pairs) => tty_list(pairs.iter().map(|(k, v)| (k, Some(v))), pairs.len(), '#', prefix, out),
    }
}

/// A numbered aggregate: `1) ...`, `1~ ...` for sets, `1# key => value` for
/// maps. Numbers are right-aligned to the widest index; nested aggregates
/// are indented by that width plus two, and their first line continues the
/// parent's line.
fn tty_list<'a>(
    entries: impl Iterator<Item = (&'a Frame, Option<&'a Frame>)>,
    len: usize,
    mark: char,
    prefix: &str,
    out: &mut String,
) {
    if len == 0 {
        out.push_str(match mark {
            '#' => "(empty hash)\n",
            '~' => "(empty set)\n",
            _ => "(empty array)\n",
        });
        return;
    }
    let width = len.to_string().len();
    let nested = format!("{prefix}{}", " ".repeat(width + 2));
    for (i, (item, value)) in entries.enumerate() {
        if i > 0 {
            out.push_str(prefix);
        }
        out.push_str(&format!("{:>width$}{mark} ", i + 1));
        tty_into(item, &nested, out);
        if let Some(value) = value {
            out.pop();
            out.push_str(" => ");
            tty_into(value, &nested, out);
        }
    }
}

/// Appends `data` in double quotes with redis-cli's escapes (`\n`, `\"`,
/// `\xHH` for unprintable bytes, ...).
pub fn quote_into(data: &[u8], out: &mut String) {
    out.push('"');
    for &b in data {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            b' '..=b'~' => out.push(b as char),
            other => out.push_str(&format!("\\x{other:02x}")),
        }
    }
    out.push('"');
}

/// Formats a reply as redis-cli does when standard output is not a
/// terminal: strings as they are, integers as numbers, nil as an empty
/// line, aggregates one element per line (a map's key and value on one
/// line, separated by a space), errors as their text. Ends with a newline.
pub fn raw(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    raw_into(frame, &mut out);
    out.push(b'\n');
    out
}

fn raw_into(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Null | Frame::NullArray => {}
        // redis-cli adds a newline after an error's text in this mode, so an
        // error reply ends with an empty line.
        Frame::Error(text) => {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
        Frame::Simple(text) => out.extend_from_slice(text.as_bytes()),
        Frame::Bulk(data) | Frame::Verbatim(data) => out.extend_from_slice(data),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Double(d) => out.extend_from_slice(format_double(*d).as_bytes()),
        Frame::Array(items) | Frame::Set(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                raw_into(item, out);
            }
        }
        Frame::Map(pairs) => {
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                raw_into(key, out);
                out.push(b' ');
                raw_into(value, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(n: i64) -> Frame {
        Frame::Integer(n)
    }

    #[test]
    fn tty_scalars() {
        assert_eq!(tty(&Frame::ok()), "OK\n");
        assert_eq!(tty(&int(1)), "(integer) 1\n");
        assert_eq!(tty(&Frame::Null), "(nil)\n");
        assert_eq!(tty(&Frame::error("ERR x")), "(error) ERR x\n");
        assert_eq!(tty(&Frame::bulk("a\"b\\c\nd\x01 é")), "\"a\\\"b\\\\c\\nd\\x01 \\xc3\\xa9\"\n");
        assert_eq!(tty(&Frame::Double(3.5)), "(double) 3.5\n");
        assert_eq!(tty(&Frame::Boolean(false)), "(false)\n");
    }

    #[test]
    fn tty_nested_lists_indent_like_redis_cli() {
        let reply = Frame::Array(vec![
            int(1),
            Frame::Array(vec![int(2), Frame::Array(vec![int(3), int(4)])]),
            Frame::Array(vec![]),
            Frame::bulk("x"),
        ]);
        let expected = "1) (integer) 1\n\
                        2) 1) (integer) 2\n   \
                           2) 1) (integer) 3\n      \
                              2) (integer) 4\n\
                        3) (empty array)\n\
                        4) \"x\"\n";
        assert_eq!(tty(&reply), expected);
        let wide = Frame::Array((1..=10).map(int).collect());
        assert!(tty(&wide).starts_with(" 1) (integer) 1\n 2)"));
        assert!(tty(&wide).ends_with("\n10) (integer) 10\n"));
    }

    #[test]
    fn tty_maps_and_sets() {
        let map = Frame::Map(vec![
            (Frame::bulk("server"), Frame::bulk("redis")),
            (Frame::bulk("modules"), Frame::Array(vec![])),
        ]);
        assert_eq!(tty(&map), "1# \"server\" => \"redis\"\n2# \"modules\" => (empty array)\n");
        assert_eq!(tty(&Frame::Map(vec![])), "(empty hash)\n");
        assert_eq!(tty(&Frame::Set(vec![])), "(empty set)\n");
        assert_eq!(tty(&Frame::Set(vec![int(1)])), "1~ (integer) 1\n");
    }

    #[test]
    fn raw_mode() {
        assert_eq!(raw(&Frame::bulk("b")), b"b\n");
        assert_eq!(raw(&Frame::Null), b"\n");
        assert_eq!(raw(&int(-3)), b"-3\n");
        assert_eq!(raw(&Frame::error("ERR x")), b"ERR x\n\n");
        let nested = Frame::Array(vec![int(1), Frame::Array(vec![int(2), int(3)]), Frame::Array(vec![])]);
        assert_eq!(raw(&nested), b"1\n2\n3\n\n");
        let map =
            Frame::Map(vec![(Frame::bulk("f"), Frame::bulk("v")), (Frame::bulk("m"), Frame::Array(vec![]))]);
        assert_eq!(raw(&map), b"f v\nm \n");
        assert_eq!(raw(&Frame::Array(vec![])), b"\n");
    }
}
