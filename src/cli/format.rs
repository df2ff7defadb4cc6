//! Reply formatting as redis-cli prints it.
//!
//! Two modes, chosen like redis-cli chooses them: [`tty`] when standard
//! output is a terminal (quoted strings, `(integer)`, numbered nested
//! lists), [`raw`] when it is not (values as they are, one per line).
//! A few commands whose replies are text meant for people (INFO, CLIENT
//! LIST, CLUSTER NODES, ...) print raw in both modes: see
//! [`prints_verbatim`].

use super::reply::Reply;

/// How replies are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Terminal formatting or raw.
    pub tty: bool,
    /// Raw mode: between the elements of an aggregate (`-d`).
    pub bulk_delim: Vec<u8>,
    /// Raw mode: after each reply (`-D`).
    pub reply_delim: Vec<u8>,
}

impl Format {
    /// Terminal formatting.
    pub fn tty() -> Format {
        Format { tty: true, bulk_delim: b"\n".to_vec(), reply_delim: b"\n".to_vec() }
    }

    /// Raw output with newline delimiters.
    pub fn raw() -> Format {
        Format { tty: false, ..Format::tty() }
    }

    /// The bytes printed for `reply` to a command; `verbatim` for the
    /// commands redis-cli always prints raw ([`prints_verbatim`]).
    pub fn render(&self, reply: &Reply, verbatim: bool) -> Vec<u8> {
        if verbatim {
            raw(reply, &self.bulk_delim)
        } else if self.tty {
            tty(reply)
        } else {
            let mut out = raw(reply, &self.bulk_delim);
            out.extend_from_slice(&self.reply_delim);
            out
        }
    }
}

/// True for the commands whose replies redis-cli prints raw even on a
/// terminal: human-readable text (INFO, CLUSTER INFO/NODES, CLIENT
/// LIST/INFO, MEMORY DOCTOR, LATENCY DOCTOR/GRAPH, LOLWUT, ...).
pub fn prints_verbatim<A: AsRef<[u8]>>(args: &[A]) -> bool {
    let arg = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a.as_ref()).to_ascii_lowercase());
    let (Some(cmd), sub) = (arg(0), arg(1)) else { return false };
    let sub = sub.as_deref().unwrap_or("");
    let argc = args.len();
    match cmd.as_str() {
        "info" | "lolwut" => true,
        "debug" => matches!(sub, "htstats" | "htstats-key" | "client-eviction"),
        "memory" => matches!(sub, "malloc-stats" | "doctor"),
        "cluster" => argc == 2 && matches!(sub, "nodes" | "info"),
        "client" => matches!(sub, "list" | "info"),
        "latency" => (argc == 3 && sub == "graph") || (argc == 2 && sub == "doctor"),
        "proxy" => sub == "info",
        _ => false,
    }
}

/// Formats a reply for a terminal, ending with a newline, exactly as
/// redis-cli's standard output mode does.
pub fn tty(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    tty_into(reply, b"", false, &mut out);
    out
}

/// `lead`: the first element of an aggregate gets the prefix too (a map's
/// value starts on its own line).
fn tty_into(reply: &Reply, prefix: &[u8], lead: bool, out: &mut Vec<u8>) {
    match reply {
        Reply::Error(text) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Status(text) | Reply::Verbatim(text) => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Integer(n) => out.extend_from_slice(format!("(integer) {n}\n").as_bytes()),
        Reply::Double(text) => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::BigNumber(text) => {
            out.extend_from_slice(b"(big number) ");
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Bulk(data) => {
            quote_into(data, out);
            out.push(b'\n');
        }
        Reply::Nil => out.extend_from_slice(b"(nil)\n"),
        Reply::Boolean(b) => out.extend_from_slice(if *b { b"(true)\n" } else { b"(false)\n" }),
        Reply::Array(items) => {
            tty_list(items.iter().map(|i| (i, None)), items.len(), b')', prefix, lead, out)
        }
        Reply::Push(items) if items.is_empty() => out.extend_from_slice(b"(empty push)\n"),
        Reply::Push(items) => tty_list(items.iter().map(|i| (i, None)), items.len(), b')', prefix, lead, out),
        Reply::Set(items) => tty_list(items.iter().map(|i| (i, None)), items.len(), b'~', prefix, lead, out),
        Reply::Map(pairs) => {
            tty_list(pairs.iter().map(|(k, v)| (k, Some(v))), pairs.len(), b'#', prefix, lead, out)
        }
    }
}

/// A numbered aggregate: `1) ...`, `1~ ...` for sets, `1# key => value` for
/// maps. Numbers are right-aligned to the widest index; nested aggregates
/// are indented by that width plus two, and their first line continues the
/// parent's line, except under a map's key: there a value that takes
/// several lines starts on the next one.
fn tty_list<'a>(
    entries: impl Iterator<Item = (&'a Reply, Option<&'a Reply>)>,
    len: usize,
    mark: u8,
    prefix: &[u8],
    lead: bool,
    out: &mut Vec<u8>,
) {
    if len == 0 {
        out.extend_from_slice(match mark {
            b'#' => b"(empty hash)\n".as_slice(),
            b'~' => b"(empty set)\n",
            _ => b"(empty array)\n",
        });
        return;
    }
    let width = len.to_string().len();
    let mut nested = prefix.to_vec();
    nested.resize(prefix.len() + width + 2, b' ');
    for (i, (item, value)) in entries.enumerate() {
        if i > 0 || lead {
            out.extend_from_slice(prefix);
        }
        out.extend_from_slice(format!("{:>width$}{} ", i + 1, mark as char).as_bytes());
        tty_into(item, &nested, false, out);
        if let Some(value) = value {
            out.pop();
            out.extend_from_slice(b" => ");
            let mut inline = Vec::new();
            tty_into(value, &nested, false, &mut inline);
            if inline.iter().filter(|&&b| b == b'\n').count() > 1 {
                out.push(b'\n');
                tty_into(value, &nested, true, out);
            } else {
                out.extend_from_slice(&inline);
            }
        }
    }
}

/// Appends `data` in double quotes with redis-cli's escapes (`\n`, `\"`,
/// `\xHH` for unprintable bytes, ...).
pub fn quote_into(data: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in data {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            b' '..=b'~' => out.push(b),
            other => out.extend_from_slice(format!("\\x{other:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// `data` quoted as [`quote_into`] does, as a string.
pub fn quoted(data: &[u8]) -> String {
    let mut out = Vec::new();
    quote_into(data, &mut out);
    String::from_utf8(out).expect("quoting leaves only ASCII")
}

/// Formats a reply as redis-cli does when standard output is not a
/// terminal, without the delimiter that follows a reply: strings as they
/// are, integers as numbers, nil as nothing, aggregates one element per
/// `bulk_delim` (a map's key and value separated by a space), errors as
/// their text followed by a newline.
pub fn raw(reply: &Reply, bulk_delim: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    raw_into(reply, bulk_delim, &mut out);
    out
}

fn raw_into(reply: &Reply, delim: &[u8], out: &mut Vec<u8>) {
    match reply {
        Reply::Nil => {}
        Reply::Error(text) => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Status(text)
        | Reply::Bulk(text)
        | Reply::Verbatim(text)
        | Reply::Double(text)
        | Reply::BigNumber(text) => out.extend_from_slice(text),
        Reply::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Reply::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(delim);
                }
                raw_into(item, delim, out);
            }
        }
        Reply::Map(pairs) => {
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(delim);
                }
                raw_into(key, delim, out);
                out.push(b' ');
                raw_into(value, delim, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn int(n: i64) -> Reply {
        Reply::Integer(n)
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn tty_scalars() {
        assert_eq!(text(tty(&Reply::status("OK"))), "OK\n");
        assert_eq!(text(tty(&int(1))), "(integer) 1\n");
        assert_eq!(text(tty(&Reply::Nil)), "(nil)\n");
        assert_eq!(text(tty(&Reply::error("ERR x"))), "(error) ERR x\n");
        assert_eq!(text(tty(&Reply::bulk("a\"b\\c\nd\x01 é"))), "\"a\\\"b\\\\c\\nd\\x01 \\xc3\\xa9\"\n");
        assert_eq!(
            text(tty(&Reply::Double(Bytes::from_static(b"0.10000000000000001")))),
            "(double) 0.10000000000000001\n"
        );
        assert_eq!(text(tty(&Reply::Boolean(false))), "(false)\n");
        assert_eq!(text(tty(&Reply::Verbatim(Bytes::from_static(b"# Server\r\n")))), "# Server\r\n\n");
    }

    #[test]
    fn tty_nested_lists_indent_like_redis_cli() {
        let reply = Reply::Array(vec![
            int(1),
            Reply::Array(vec![int(2), Reply::Array(vec![int(3), int(4)])]),
            Reply::Array(vec![]),
            Reply::bulk("x"),
        ]);
        let expected = "1) (integer) 1\n\
                        2) 1) (integer) 2\n   \
                           2) 1) (integer) 3\n      \
                              2) (integer) 4\n\
                        3) (empty array)\n\
                        4) \"x\"\n";
        assert_eq!(text(tty(&reply)), expected);
        let wide = text(tty(&Reply::Array((1..=10).map(int).collect())));
        assert!(wide.starts_with(" 1) (integer) 1\n 2)"));
        assert!(wide.ends_with("\n10) (integer) 10\n"));
    }

    #[test]
    fn tty_maps_and_sets() {
        let map = Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("redis")),
            (Reply::bulk("modules"), Reply::Array(vec![])),
        ]);
        assert_eq!(text(tty(&map)), "1# \"server\" => \"redis\"\n2# \"modules\" => (empty array)\n");
        assert_eq!(text(tty(&Reply::Map(vec![]))), "(empty hash)\n");
        assert_eq!(text(tty(&Reply::Set(vec![]))), "(empty set)\n");
        assert_eq!(text(tty(&Reply::Set(vec![int(1)]))), "1~ (integer) 1\n");
        let nested = Reply::Map(vec![(
            Reply::bulk("a"),
            Reply::Array(vec![int(1), Reply::Map(vec![(Reply::bulk("b"), Reply::Set(vec![int(2)]))])]),
        )]);
        assert_eq!(text(tty(&nested)), "1# \"a\" => \n   1) (integer) 1\n   2) 1# \"b\" => 1~ (integer) 2\n");
    }

    #[test]
    fn raw_mode() {
        let render = |r: &Reply| text(Format::raw().render(r, false));
        assert_eq!(render(&Reply::bulk("b")), "b\n");
        assert_eq!(render(&Reply::Nil), "\n");
        assert_eq!(render(&int(-3)), "-3\n");
        assert_eq!(render(&Reply::error("ERR x")), "ERR x\n\n");
        let nested = Reply::Array(vec![int(1), Reply::Array(vec![int(2), int(3)]), Reply::Array(vec![])]);
        assert_eq!(render(&nested), "1\n2\n3\n\n");
        let map =
            Reply::Map(vec![(Reply::bulk("f"), Reply::bulk("v")), (Reply::bulk("m"), Reply::Array(vec![]))]);
        assert_eq!(render(&map), "f v\nm \n");
        assert_eq!(render(&Reply::Array(vec![])), "\n");
        let custom = Format { bulk_delim: b",".to_vec(), reply_delim: b";".to_vec(), ..Format::raw() };
        assert_eq!(text(custom.render(&Reply::Array(vec![int(1), int(2)]), false)), "1,2;");
    }

    #[test]
    fn verbatim_commands_print_raw_without_a_delimiter() {
        assert!(prints_verbatim(&["INFO"]));
        assert!(prints_verbatim(&["info", "keyspace"]));
        assert!(prints_verbatim(&["CLUSTER", "info"]));
        assert!(!prints_verbatim(&["CLUSTER", "info", "x"]));
        assert!(prints_verbatim(&["client", "LIST", "TYPE", "normal"]));
        assert!(!prints_verbatim(&["GET", "info"]));
        let info = Reply::Verbatim(Bytes::from_static(b"# Keyspace\r\n"));
        assert_eq!(text(Format::tty().render(&info, true)), "# Keyspace\r\n");
    }
}
