//! Golden test: `shoal-cli` prints exactly what `redis-cli` prints, raw
//! (standard output is a pipe here, as in scripts) and formatted
//! (`--no-raw`, what a terminal shows), against a real redis-server.

mod common;

use std::process::{Command, Output};

use common::RedisServer;

/// The message given when the reference client is missing.
const REDIS_CLI_MISSING: &str = "redis-cli is not installed; the shoal-cli golden test compares against \
     Debian's redis-cli: install it with `apt-get install redis-tools`";

fn run(program: &str, port: u16, args: &[&str]) -> Output {
    Command::new(program).args(["-p", &port.to_string()]).args(args).output().unwrap_or_else(|e| {
        if e.kind() == std::io::ErrorKind::NotFound && program == "redis-cli" {
            panic!("{REDIS_CLI_MISSING}");
        }
        panic!("cannot run {program}: {e}")
    })
}

/// Runs `args` with both clients and returns a description of any
/// difference in standard output, standard error or exit status.
fn compare(port: u16, args: &[&str]) -> Option<String> {
    let expected = run("redis-cli", port, args);
    let actual = run(env!("CARGO_BIN_EXE_shoal-cli"), port, args);
    let same = expected.stdout == actual.stdout
        && expected.stderr == actual.stderr
        && expected.status.code() == actual.status.code();
    (!same).then(|| {
        format!(
            "{args:?}\n  redis-cli: {:?} stdout {:?} stderr {:?}\n  shoal-cli: {:?} stdout {:?} stderr {:?}",
            expected.status.code(),
            String::from_utf8_lossy(&expected.stdout),
            String::from_utf8_lossy(&expected.stderr),
            actual.status.code(),
            String::from_utf8_lossy(&actual.stdout),
            String::from_utf8_lossy(&actual.stderr),
        )
    })
}

#[test]
fn output_matches_redis_cli() {
    let redis = RedisServer::start();
    let port = redis.port();
    let setup: &[&[&str]] = &[
        &["SET", "foo", "bar"],
        &["SET", "quoted", "a\"b\\c\nd\u{1}\té"],
        &["RPUSH", "list", "a", "b", "c"],
        &["RPUSH", "big", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"],
        &["HSET", "hash", "f", "v", "g", "w"],
        &["SADD", "set", "x"],
        &["ZADD", "zset", "1.5", "m"],
    ];
    for args in setup {
        let out = run("redis-cli", port, args);
        assert!(out.status.success(), "setup {args:?} failed: {out:?}");
    }
    let cases: &[&[&str]] = &[
        &["PING"],
        &["ping", "hello world"],
        &["SET", "k", "v"],
        &["GET", "foo"],
        &["GET", "quoted"],
        &["GET", "missing"],
        &["STRLEN", "foo"],
        &["INCRBY", "counter", "0"],
        &["DEL", "missing"],
        &["GET", "a", "b"],
        &["-e", "GET", "a", "b"],
        &["-e", "GET", "foo"],
        &["NOSUCHCOMMAND", "x"],
        &["LRANGE", "list", "0", "-1"],
        &["LRANGE", "list", "5", "6"],
        &["LRANGE", "big", "0", "-1"],
        &["HGETALL", "hash"],
        &["-3", "HGETALL", "hash"],
        &["-3", "HGETALL", "missing"],
        &["-3", "SMEMBERS", "set"],
        &["-3", "SMEMBERS", "missing"],
        &["-3", "GET", "missing"],
        &["-3", "ZSCORE", "zset", "m"],
        &["-3", "CONFIG", "GET", "maxmemory"],
        &["EVAL", "return {1,{2,{3,4}},{},'x',{err='boom'}}", "0"],
        &["EVAL", "return {1,2,3,4,5,6,7,8,9,10,{1,2}}", "0"],
        &["-3", "EVAL", "return {double=3.5}", "0"],
        &["-a", "wrong", "PING"],
        &["-a", "wrong", "--no-auth-warning", "PING"],
        &["-h", "127.0.0.1", "ECHO", ""],
    ];
    let mut failures = Vec::new();
    for case in cases {
        failures.extend(compare(port, case));
        let mut formatted = vec!["--no-raw"];
        formatted.extend_from_slice(case);
        failures.extend(compare(port, &formatted));
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn connection_refused_is_a_clear_error() {
    let port = common::free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_shoal-cli"))
        .args(["-p", &port.to_string(), "PING"])
        .output()
        .expect("run shoal-cli");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr.trim_end(),
        format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused")
    );
}

#[test]
fn help_is_long_only_because_h_is_the_host() {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal-cli")).arg("--help").output().expect("run shoal-cli");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("-h, --host"), "{help}");
    assert!(help.contains("--help"), "{help}");
}
