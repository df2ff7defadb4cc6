//! Differential tests: scripts of commands run against a real `redis-server`
//! and against Shoal, and every reply must be identical, errors included.
//!
//! The scripts are data files, `tests/scripts/*.txt` (see the README
//! there for their syntax). Each script runs on a fresh pair of servers.
//! Each script also runs against two redis-servers, which checks that the
//! script itself is deterministic (a line whose reply varies between runs
//! needs a `~` or another directive).
//!
//! Environment knobs for writing scripts:
//! - `SHOAL_DIFF_SHOW=1` prints every line with both replies.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use common::{BlockingNode, RedisServer, RespConn};
use shoal::protocol::request::split_args;
use shoal::protocol::{Frame, Protocol};

/// How a line's two replies are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Compare {
    /// Equal frames.
    Exact,
    /// Same reply type only (`~` prefix).
    Type,
    /// Equal after sorting the elements of array replies (`!sort`).
    Sorted,
}

/// One step of a script.
#[derive(Debug)]
enum Step {
    /// Send a command to both servers and compare the replies.
    Command(Compare, Vec<Bytes>),
    /// Wait (`!sleep MS`), e.g. for keys to expire.
    Sleep(Duration),
    /// `HELLO 3` on both connections (`!resp3`); the replies are compared
    /// without the fields that differ by design (version, id, mode).
    Resp3,
    /// A full `SCAN` with these options on each side (`!scanall ...`); the
    /// sorted sets of keys are compared, not the cursors.
    ScanAll(Vec<Bytes>),
    /// A full `HSCAN` of a key with these options on each side (`!hscanall
    /// key ...`); the sorted sets of (field, value) pairs are compared.
    HScanAll(Vec<Bytes>),
}

/// A reply as read, or as computed from several replies (`wire` is then
/// `None`).
#[derive(Debug)]
struct Reply {
    frame: Frame,
    wire: Option<Bytes>,
}

/// A step with where it came from.
#[derive(Debug)]
struct Line {
    number: usize,
    text: String,
    step: Step,
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("scripts")
}

fn words(path: &Path, number: usize, text: &str) -> Vec<Bytes> {
    let args = split_args(text.as_bytes())
        .unwrap_or_else(|e| panic!("{}:{number}: cannot split {text:?}: {e}", path.display()));
    if args.is_empty() {
        panic!("{}:{number}: directive without a command: {text:?}", path.display());
    }
    args
}

/// Reads a script: one command per line, `#` comments, blank lines, and
/// the directives `~`, `!sort`, `!sleep`, `!resp3`, `!scanall`,
/// `!hscanall`.
fn parse_script(path: &Path) -> Vec<Line> {
    let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = Vec::new();
    for (index, raw) in source.lines().enumerate() {
        let number = index + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let step = if let Some(rest) = text.strip_prefix('~') {
            Step::Command(Compare::Type, words(path, number, rest))
        } else if let Some(rest) = text.strip_prefix('!') {
            let (directive, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            match directive {
                "sort" => Step::Command(Compare::Sorted, words(path, number, rest)),
                "sleep" => {
                    let ms = rest.trim().parse().unwrap_or_else(|_| {
                        panic!("{}:{number}: !sleep needs milliseconds: {text:?}", path.display())
                    });
                    Step::Sleep(Duration::from_millis(ms))
                }
                "resp3" => Step::Resp3,
                "scanall" => Step::ScanAll(split_args(rest.as_bytes()).expect("scanall options")),
                "hscanall" => Step::HScanAll(words(path, number, rest)),
                other => panic!("{}:{number}: unknown directive !{other}", path.display()),
            }
        } else {
            Step::Command(Compare::Exact, words(path, number, text))
        };
        lines.push(Line { number, text: text.to_string(), step });
    }
    lines
}

/// One server under test and the script's connection to it.
struct Side {
    name: &'static str,
    conn: RespConn,
}

impl Side {
    fn connect(name: &'static str, addr: SocketAddr) -> Side {
        let conn = RespConn::connect(addr).unwrap_or_else(|e| panic!("connect to {name} at {addr}: {e}"));
        Side { name, conn }
    }

    fn call(&mut self, args: &[Bytes]) -> Result<Frame, String> {
        self.conn.call(args).map_err(|e| format!("<no reply: {e}>"))
    }

    fn run(&mut self, step: &Step) -> Result<Reply, String> {
        let computed = |frame| Reply { frame, wire: None };
        match step {
            Step::Command(Compare::Sorted, args) => self.call(args).map(sorted).map(computed),
            Step::Command(_, args) => self
                .conn
                .call_wire(args)
                .map(|(frame, wire)| Reply { frame, wire: Some(wire) })
                .map_err(|e| format!("<no reply: {e}>")),
            Step::Resp3 => {
                self.call(&[Bytes::from("HELLO"), Bytes::from("3")]).map(without_version).map(computed)
            }
            Step::ScanAll(options) => self.scan_all(options).map(computed),
            Step::HScanAll(args) => self.hscan_all(args).map(computed),
            Step::Sleep(_) => unreachable!("not sent"),
        }
    }

    /// Follows SCAN's cursor to 0 and returns the sorted keys seen; an error
    /// reply is returned as it is.
    fn scan_all(&mut self, options: &[Bytes]) -> Result<Frame, String> {
        let seen = self.follow_cursor(&[Bytes::from("SCAN")], options, 1)?;
        Ok(seen.map_or_else(
            |reply| reply,
            |keys| Frame::Array(keys.into_iter().flatten().map(Frame::Bulk).collect()),
        ))
    }

    /// Follows HSCAN's cursor to 0 and returns the sorted (field, value)
    /// pairs seen, each an array; an error reply is returned as it is.
    fn hscan_all(&mut self, args: &[Bytes]) -> Result<Frame, String> {
        let command = [Bytes::from("HSCAN"), args[0].clone()];
        let seen = self.follow_cursor(&command, &args[1..], 2)?;
        let pair = |p: Vec<Bytes>| Frame::Array(p.into_iter().map(Frame::Bulk).collect());
        Ok(seen.map_or_else(|reply| reply, |pairs| Frame::Array(pairs.into_iter().map(pair).collect())))
    }

    /// Sends `command cursor options...` from cursor 0 until the cursor
    /// comes back to 0; returns the distinct groups of `group` elements
    /// seen (keys, or field-value pairs), sorted, or `Err(reply)` when the
    /// reply is not a scan page (an error).
    fn follow_cursor(
        &mut self,
        command: &[Bytes],
        options: &[Bytes],
        group: usize,
    ) -> Result<Result<BTreeSet<Vec<Bytes>>, Frame>, String> {
        let mut cursor = Bytes::from("0");
        let mut seen = BTreeSet::new();
        for _ in 0..100_000 {
            let mut args = command.to_vec();
            args.push(cursor.clone());
            args.extend(options.iter().cloned());
            let reply = self.call(&args)?;
            let Frame::Array(parts) = &reply else {
                return Ok(Err(reply));
            };
            let [Frame::Bulk(next), Frame::Array(batch)] = &parts[..] else {
                return Err(format!("<unexpected scan reply {reply:?}>"));
            };
            let items: Vec<Bytes> = batch
                .iter()
                .filter_map(|f| if let Frame::Bulk(b) = f { Some(b.clone()) } else { None })
                .collect();
            if items.len() != batch.len() || !items.len().is_multiple_of(group) {
                return Err(format!("<unexpected elements in scan reply {reply:?}>"));
            }
            seen.extend(items.chunks(group).map(<[Bytes]>::to_vec));
            if &next[..] == b"0" {
                return Ok(Ok(seen));
            }
            cursor = next.clone();
        }
        Err("<the scan did not come back to cursor 0>".into())
    }
}

/// Sorts the elements of an array or set reply, or the pairs of a map, by
/// their encoding.
fn sorted(frame: Frame) -> Frame {
    let sort = |mut items: Vec<Frame>| {
        items.sort_by_key(|f| f.to_bytes(Protocol::Resp3));
        items
    };
    match frame {
        Frame::Array(items) => Frame::Array(sort(items)),
        Frame::Set(items) => Frame::Set(sort(items)),
        Frame::Map(mut pairs) => {
            pairs.sort_by_key(|(k, v)| (k.to_bytes(Protocol::Resp3), v.to_bytes(Protocol::Resp3)));
            Frame::Map(pairs)
        }
        other => other,
    }
}

/// HELLO's reply without the fields that differ by design.
fn without_version(frame: Frame) -> Frame {
    // `mode`: Shoal is always a cluster node; the reference runs standalone.
    let differs =
        |key: &Frame| matches!(key, Frame::Bulk(k) if [&b"version"[..], b"id", b"mode"].contains(&&k[..]));
    match frame {
        Frame::Map(pairs) => Frame::Map(pairs.into_iter().filter(|(k, _)| !differs(k)).collect()),
        other => other,
    }
}

/// The reply's type, for `~` lines.
fn kind(frame: &Frame) -> &'static str {
    match frame {
        Frame::Simple(_) => "simple string",
        Frame::Error(_) => "error",
        Frame::Integer(_) => "integer",
        Frame::Bulk(_) => "bulk string",
        Frame::Null => "null",
        Frame::NullArray => "null array",
        Frame::Array(_) => "array",
        Frame::Map(_) => "map",
        Frame::Set(_) => "set",
        Frame::Double(_) => "double",
        Frame::Boolean(_) => "boolean",
        Frame::Verbatim(_) => "verbatim string",
    }
}

/// Exact lines compare the replies' bytes, so that e.g. a RESP2 null
/// (`$-1`) sent on a RESP3 connection (`_`) is a mismatch.
fn same(compare: Compare, a: &Result<Reply, String>, b: &Result<Reply, String>) -> bool {
    let (Ok(a), Ok(b)) = (a, b) else {
        return false;
    };
    match compare {
        Compare::Type => kind(&a.frame) == kind(&b.frame),
        _ => match (&a.wire, &b.wire) {
            (Some(x), Some(y)) => x == y,
            _ => a.frame == b.frame,
        },
    }
}

fn show(reply: &Result<Reply, String>, other: &Result<Reply, String>) -> String {
    match (reply, other) {
        (Ok(r), Ok(o)) if r.frame == o.frame && r.wire != o.wire => {
            format!("{:?}", r.wire.clone().unwrap_or_default())
        }
        (Ok(r), _) => format!("{:?}", r.frame),
        (Err(e), _) => e.clone(),
    }
}

/// Runs a script against two servers; returns one report per mismatch.
fn run_script(path: &Path, a: (&'static str, SocketAddr), b: (&'static str, SocketAddr)) -> Vec<String> {
    let lines = parse_script(path);
    let verbose = std::env::var_os("SHOAL_DIFF_SHOW").is_some();
    let mut sides = [Side::connect(a.0, a.1), Side::connect(b.0, b.1)];
    let mut failures = Vec::new();
    for line in &lines {
        if let Step::Sleep(duration) = line.step {
            std::thread::sleep(duration);
            continue;
        }
        let replies = [sides[0].run(&line.step), sides[1].run(&line.step)];
        let compare = match line.step {
            Step::Command(compare, _) => compare,
            _ => Compare::Exact,
        };
        let shown = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path);
        let place = format!("{}:{}", shown.display(), line.number);
        if verbose {
            eprintln!("{place}: {}\n    {}", line.text, show(&replies[0], &replies[1]));
        }
        if !same(compare, &replies[0], &replies[1]) {
            let report = format!(
                "{place}: {}\n    {:>6}: {}\n    {:>6}: {}",
                line.text,
                sides[0].name,
                show(&replies[0], &replies[1]),
                sides[1].name,
                show(&replies[1], &replies[0])
            );
            eprintln!("MISMATCH {report}");
            failures.push(report);
            if replies.iter().any(|r| r.is_err()) {
                failures.push(format!("{place}: a connection failed; the rest of the script was skipped"));
                break;
            }
        }
    }
    failures
}

fn script_path(name: &str) -> PathBuf {
    scripts_dir().join(format!("{name}.txt"))
}

fn fail_on(name: &str, failures: Vec<String>) {
    if !failures.is_empty() {
        panic!("{} mismatches in {name}.txt:\n{}", failures.len(), failures.join("\n"));
    }
}

/// Runs a script against redis-server and an in-process Shoal node.
fn matches_redis(name: &str) {
    let redis = RedisServer::start();
    let node = BlockingNode::start_default();
    let failures = run_script(&script_path(name), ("redis", redis.addr()), ("shoal", node.addr()));
    node.shutdown();
    fail_on(name, failures);
}

/// Runs a script against two redis-servers: every line must be
/// deterministic under its directive.
fn deterministic_on_redis(name: &str) {
    let first = RedisServer::start();
    let second = RedisServer::start();
    let failures = run_script(&script_path(name), ("redis", first.addr()), ("redis2", second.addr()));
    fail_on(name, failures);
}

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];
        $(
            mod $name {
                #[test]
                fn matches_redis() {
                    super::matches_redis(stringify!($name));
                }

                #[test]
                fn deterministic_on_redis() {
                    super::deterministic_on_redis(stringify!($name));
                }
            }
        )*
    };
}

scripts!(strings, keys, connection, resp3, transactions, hashes, bits, lcs, memory);

#[test]
fn every_script_is_run() {
    let mut found: Vec<String> = std::fs::read_dir(scripts_dir())
        .expect("tests/scripts")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".txt")).map(str::to_string))
        .collect();
    found.sort();
    let mut listed: Vec<String> = SCRIPTS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "add new scripts to the scripts! list in tests/differential.rs");
}

#[test]
fn parses_directives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.txt");
    std::fs::write(
        &path,
        "# c\n\nSET k \"a b\"\n~ TIME\n!sort KEYS *\n!sleep 5\n!resp3\n!scanall MATCH x*\n!hscanall h COUNT 5\n",
    )
    .expect("write");
    let lines = parse_script(&path);
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0].number, 3);
    assert!(matches!(&lines[0].step, Step::Command(Compare::Exact, a) if a.len() == 3 && a[2] == "a b"));
    assert!(matches!(&lines[1].step, Step::Command(Compare::Type, a) if a[0] == "TIME"));
    assert!(matches!(&lines[2].step, Step::Command(Compare::Sorted, a) if a[0] == "KEYS"));
    assert!(matches!(lines[3].step, Step::Sleep(d) if d == Duration::from_millis(5)));
    assert!(matches!(lines[4].step, Step::Resp3));
    assert!(matches!(&lines[5].step, Step::ScanAll(o) if o.len() == 2));
    assert!(matches!(&lines[6].step, Step::HScanAll(a) if a.len() == 3 && a[0] == "h"));
}
