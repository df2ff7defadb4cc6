//! Golden tests: `shoal-cli` prints exactly what `redis-cli` prints, raw
//! (standard output is a pipe here, as in scripts) and formatted
//! (`--no-raw`, what a terminal shows), for one-shot commands, commands
//! read from standard input, `-x`, `-r`, `--scan`, `--bigkeys` and
//! `--pipe`; against a real redis-server and against a Shoal node.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{BlockingNode, RedisServer};

/// The message given when the reference client is missing.
const REDIS_CLI_MISSING: &str = "redis-cli is not installed; the shoal-cli golden test compares against \
     Debian's redis-cli: install it with `apt-get install redis-tools`";

const SHOAL_CLI: &str = env!("CARGO_BIN_EXE_shoal-cli");

/// Runs `program -p port args...` with `input` on standard input.
fn run(program: &str, port: u16, args: &[&str], input: &[u8]) -> Output {
    let spawned = Command::new(program)
        .args(["-p", &port.to_string()])
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = spawned.unwrap_or_else(|e| {
        if e.kind() == std::io::ErrorKind::NotFound && program == "redis-cli" {
            panic!("{REDIS_CLI_MISSING}");
        }
        panic!("cannot run {program}: {e}")
    });
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    // A separate thread, so a client that does not read its input cannot
    // block the test.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for the client");
    writer.join().expect("stdin writer");
    out
}

/// How two outputs are compared.
#[derive(Clone, Copy, PartialEq)]
enum Compare {
    /// Byte for byte.
    Exact,
    /// `--bigkeys`: redis-cli lists the summary's types in a random order,
    /// so everything after the summary header is compared as sorted lines.
    SummarySorted,
}

fn normalize(stdout: &[u8], how: Compare) -> Vec<u8> {
    let text = String::from_utf8_lossy(stdout);
    match how {
        Compare::Exact => stdout.to_vec(),
        Compare::SummarySorted => {
            let (head, summary) = text.split_once("-------- summary -------").unwrap_or((&text, ""));
            let mut lines: Vec<&str> = summary.lines().collect();
            lines.sort_unstable();
            format!("{head}{}", lines.join("\n")).into_bytes()
        }
    }
}

/// Runs `args` with both clients and returns a description of any
/// difference in standard output, standard error or exit status.
fn compare_with(port: u16, args: &[&str], input: &[u8], how: Compare) -> Option<String> {
    let expected = run("redis-cli", port, args, input);
    let actual = run(SHOAL_CLI, port, args, input);
    let same = normalize(&expected.stdout, how) == normalize(&actual.stdout, how)
        && expected.stderr == actual.stderr
        && expected.status.code() == actual.status.code();
    (!same).then(|| {
        format!(
            "{args:?} input {:?}\n  redis-cli: {:?} stdout {:?} stderr {:?}\n  shoal-cli: {:?} stdout {:?} stderr {:?}",
            String::from_utf8_lossy(input),
            expected.status.code(),
            String::from_utf8_lossy(&expected.stdout),
            String::from_utf8_lossy(&expected.stderr),
            actual.status.code(),
            String::from_utf8_lossy(&actual.stdout),
            String::from_utf8_lossy(&actual.stderr),
        )
    })
}

/// Compares `case` raw and with `--no-raw`.
fn compare_both_ways(port: u16, case: &[&str], input: &[u8], failures: &mut Vec<String>) {
    failures.extend(compare_with(port, case, input, Compare::Exact));
    let mut formatted = vec!["--no-raw"];
    formatted.extend_from_slice(case);
    failures.extend(compare_with(port, &formatted, input, Compare::Exact));
}

fn setup(port: u16, commands: &[&[&str]]) {
    for args in commands {
        let out = run("redis-cli", port, args, b"");
        assert!(out.status.success(), "setup {args:?} failed: {out:?}");
    }
}

/// Data both servers hold the same way.
const COMMON_SETUP: &[&[&str]] = &[
    &["SET", "foo", "bar"],
    &["SET", "quoted", "a\"b\\c\nd\u{1}\té"],
    &["SET", "empty", ""],
    &["HSET", "hash", "f", "v", "g", "w"],
    &["HSET", "wide", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f"],
];

/// One-shot commands whose replies Shoal and Redis give alike.
const COMMON_CASES: &[&[&str]] = &[
    &["PING"],
    &["ping", "hello world"],
    &["SET", "k", "v"],
    &["GET", "foo"],
    &["GET", "quoted"],
    &["GET", "empty"],
    &["GET", "missing"],
    &["STRLEN", "foo"],
    &["INCRBY", "counter", "0"],
    &["INCRBYFLOAT", "float", "0"],
    &["DEL", "missing"],
    &["MGET", "foo", "missing", "quoted"],
    &["GET", "a", "b"],
    &["-e", "GET", "a", "b"],
    &["-e", "GET", "foo"],
    &["NOSUCHCOMMAND", "x"],
    &["HGETALL", "hash"],
    &["HGETALL", "wide"],
    &["-3", "HGETALL", "hash"],
    &["-3", "HGETALL", "wide"],
    &["-3", "HGETALL", "missing"],
    &["-3", "GET", "missing"],
    &["-3", "HRANDFIELD", "missing", "1"],
    &["-3", "CONFIG", "GET", "maxmemory"],
    &["-2", "CONFIG", "GET", "maxmemory"],
    &["SCAN", "0", "MATCH", "f*", "COUNT", "1000"],
    &["-a", "wrong", "PING"],
    &["-a", "wrong", "--no-auth-warning", "PING"],
    &["-h", "127.0.0.1", "ECHO", ""],
    &["-r", "3", "GET", "foo"],
    &["-r", "2", "-i", "0.01", "HGETALL", "hash"],
    &["-d", ",", "HGETALL", "hash"],
    &["-D", "|", "GET", "foo"],
    &["-d", ":", "-D", "%", "-3", "HGETALL", "hash"],
    &["INFO", "keyspace"],
    &["TYPE", "hash"],
    &["EXISTS", "foo", "hash", "nothing"],
];

/// Lines of commands on standard input: quoting, escapes, repeats,
/// errors, a line that does not parse, blank lines, `quit`.
const STDIN_SCRIPT: &str = "set \"a b\" 'c d'\n\
    get \"a b\"\n\
    set esc \"\\x41\\n\\t\\\"q\\\"\"\n\
    get esc\n\
    \n\
    \x20 \n\
    hgetall hash\n\
    \"unbalanced\n\
    'bad'quote\n\
    3 ping\n\
    0 ping\n\
    -1 ping\n\
    +2 ping\n\
    - ping\n\
    3x ping\n\
    99999999999999999999 ping\n\
    2 get foo\n\
    nosuch command\n\
    get a b\n\
    quit\n\
    get foo\n";

#[test]
fn output_matches_redis_cli() {
    let redis = RedisServer::start();
    let port = redis.port();
    setup(port, COMMON_SETUP);
    setup(
        port,
        &[
            &["RPUSH", "list", "a", "b", "c"],
            &["RPUSH", "big", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"],
            &["SADD", "set", "x"],
            &["ZADD", "zset", "1.5", "m", "0.1", "n", "1e300", "o", "inf", "p"],
        ],
    );
    let redis_only: &[&[&str]] = &[
        &["LRANGE", "list", "0", "-1"],
        &["LRANGE", "list", "5", "6"],
        &["LRANGE", "big", "0", "-1"],
        &["-3", "SMEMBERS", "set"],
        &["-3", "SMEMBERS", "missing"],
        &["-3", "ZSCORE", "zset", "m"],
        &["-3", "ZSCORE", "zset", "n"],
        &["-3", "ZRANGE", "zset", "0", "-1", "WITHSCORES"],
        &["EVAL", "return {1,{2,{3,4}},{},'x',{err='boom'}}", "0"],
        &["EVAL", "return {1,2,3,4,5,6,7,8,9,10,{1,2}}", "0"],
        &["-3", "EVAL", "return {double=3.5}", "0"],
        &["-3", "EVAL", "return true", "0"],
        &["-3", "EVAL", "return false", "0"],
        &["-3", "EVAL", "return {map={a=1}}", "0"],
        &["-3", "EVAL", "return {map={a={1,{map={b=2}}}}}", "0"],
        &["-3", "EVAL", "return {set={x=true}}", "0"],
        &["-3", "EVAL", "return {1,{set={}},{map={}}}", "0"],
        &["-n", "1", "SET", "in-db-1", "v"],
        &["-n", "1", "DBSIZE"],
        &["CLUSTER", "INFO"],
        &["-3", "-d", "+", "EVAL", "return {1,{set={x=true}},{map={a=1}}}", "0"],
    ];
    let mut failures = Vec::new();
    for case in COMMON_CASES.iter().chain(redis_only) {
        compare_both_ways(port, case, b"", &mut failures);
    }
    compare_both_ways(port, &[], STDIN_SCRIPT.as_bytes(), &mut failures);
    compare_both_ways(port, &["-3"], STDIN_SCRIPT.as_bytes(), &mut failures);
    compare_both_ways(port, &["-x", "SET", "from-stdin"], b"line one\nline two\n", &mut failures);
    compare_both_ways(port, &["GET", "from-stdin"], b"", &mut failures);
    compare_both_ways(port, &["-x", "ECHO"], b"", &mut failures);
    compare_both_ways(port, &["-x", "ECHO"], b"\x00\xff binary\r\n", &mut failures);
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn tools_match_redis_cli() {
    let redis = RedisServer::start();
    let port = redis.port();
    setup(port, COMMON_SETUP);
    let keys: Vec<String> = (0..150).map(|i| format!("key:{i}")).collect();
    let mut mset = vec!["MSET"];
    for key in &keys {
        mset.extend_from_slice(&[key, key]);
    }
    setup(
        port,
        &[&mset, &["RPUSH", "list", "a", "b", "c"], &["SADD", "set", "x", "y"], &["ZADD", "z", "1", "m"]],
    );
    let mut failures = Vec::new();
    for case in [&["--scan"][..], &["--scan", "--pattern", "key:1*"], &["--scan", "--pattern", "nothing*"]] {
        compare_both_ways(port, case, b"", &mut failures);
    }
    for case in [&["--bigkeys"][..], &["--bigkeys", "--pattern", "*o*"]] {
        failures.extend(compare_with(port, case, b"", Compare::SummarySorted));
    }
    let mut pipe_input = Vec::new();
    for i in 0..1000 {
        pipe_input.extend_from_slice(&shoal::cli::encode_command(&["SET", &format!("piped:{i}"), "v"]));
    }
    pipe_input.extend_from_slice(&shoal::cli::encode_command(&["NOSUCH", "x"]));
    pipe_input.extend_from_slice(b"GET piped:1\r\nPING\r\n");
    failures.extend(compare_with(port, &["--pipe"], &pipe_input, Compare::Exact));
    failures.extend(compare_with(port, &["--pipe"], b"", Compare::Exact));
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}

/// Both clients against a Shoal node: the formatting of Shoal's own
/// replies (nested arrays, RESP3 maps from CLUSTER SHARDS and SHOAL RING).
#[test]
fn output_matches_redis_cli_against_shoal() {
    let node = BlockingNode::start_default();
    let port = node.addr().port();
    setup(port, COMMON_SETUP);
    let shoal_cases: &[&[&str]] = &[
        &["CLUSTER", "SLOTS"],
        &["-3", "CLUSTER", "SHARDS"],
        &["CLUSTER", "KEYSLOT", "foo"],
        &["COMMAND", "INFO", "get", "hset"],
        &["-3", "COMMAND", "INFO", "get"],
        &["SHOAL", "RING"],
        &["-3", "SHOAL", "RING"],
        &["-3", "SHOAL", "HELP"],
        &["SELECT", "1"],
        &["-n", "1", "PING"],
    ];
    let mut failures = Vec::new();
    for case in COMMON_CASES.iter().chain(shoal_cases) {
        compare_both_ways(port, case, b"", &mut failures);
    }
    compare_both_ways(port, &[], STDIN_SCRIPT.as_bytes(), &mut failures);
    compare_both_ways(port, &["-3"], STDIN_SCRIPT.as_bytes(), &mut failures);
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn connection_refused_is_a_clear_error() {
    let port = common::free_port();
    for args in [&["PING"][..], &[]] {
        let expected = run("redis-cli", port, args, b"");
        let actual = run(SHOAL_CLI, port, args, b"");
        assert_eq!(
            String::from_utf8_lossy(&actual.stderr),
            String::from_utf8_lossy(&expected.stderr),
            "{args:?}"
        );
        assert_eq!(actual.status.code(), expected.status.code(), "{args:?}");
    }
    let out = run(SHOAL_CLI, port, &["PING"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n")
    );
}

#[test]
fn help_is_long_only_because_h_is_the_host() {
    let out = Command::new(SHOAL_CLI).arg("--help").output().expect("run shoal-cli");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["-h, --host", "--help", "--pipe", "--cluster-status", "--cluster-watch", "--latency-history"]
    {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn bad_flags_exit_1_without_a_panic() {
    for args in
        [&["--nosuchflag"][..], &["-p", "notaport"], &["-i", "x", "PING"], &["--pipe", "--stat"], &["-p"]]
    {
        let out = Command::new(SHOAL_CLI).args(args).stdin(Stdio::null()).output().expect("run shoal-cli");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
