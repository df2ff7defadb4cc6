//! `shoal-cli`'s tools and cluster features against real servers:
//! `--pipe` mass insertion, `--cluster-status` and `--cluster-watch` on a
//! three-node Shoal cluster, `-c` following MOVED in a Redis Cluster,
//! `--stat`, `--latency`, and the errors people meet (authentication,
//! timeouts).

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::cluster::Cluster;
use common::{BlockingNode, RedisServer, RespConn, test_config, wait_for};
use shoal::keyslot::key_slot;
use shoal::protocol::Frame;

const SHOAL_CLI: &str = env!("CARGO_BIN_EXE_shoal-cli");

/// Runs `program args...` with `input` on standard input.
fn run_with_input(program: &str, args: &[&str], input: Vec<u8>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    out
}

fn cli(args: &[&str]) -> Output {
    run_with_input(SHOAL_CLI, args, Vec::new())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn pipe_inserts_100k_keys() {
    let node = BlockingNode::start_default();
    let port = node.addr().port().to_string();
    let mut input = Vec::with_capacity(4 << 20);
    for i in 0..100_000 {
        input.extend_from_slice(&shoal::cli::encode_command(&[
            "SET",
            &format!("key:{i}"),
            &format!("value:{i}"),
        ]));
    }
    let out = run_with_input(SHOAL_CLI, &["-p", &port, "--pipe"], input);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).ends_with("errors: 0, replies: 100000\n"), "{}", stdout(&out));
    let mut conn = RespConn::connect(node.addr()).expect("connect");
    assert_eq!(conn.call(["DBSIZE"]).expect("dbsize"), Frame::Integer(100_000));
    assert_eq!(conn.call(["GET", "key:99999"]).expect("get"), Frame::bulk("value:99999"));
}

#[test]
fn pipe_counts_errors_and_exits_1() {
    let node = BlockingNode::start_default();
    let port = node.addr().port().to_string();
    let input = b"SET a 1\r\nINCR a\r\nNOSUCH\r\n*2\r\n$4\r\nINCR\r\n$1\r\nb\r\nSET a b c\r\n".to_vec();
    let out = run_with_input(SHOAL_CLI, &["-p", &port, "--pipe"], input);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).ends_with("errors: 2, replies: 5\n"), "{}", stdout(&out));
    assert_eq!(stderr(&out).lines().count(), 2, "{}", stderr(&out));
}

#[test]
fn cluster_status_lists_three_alive_members_owning_every_slot() {
    let cluster = Cluster::start(3);
    let mut conn = cluster.conn(0);
    for i in 0..300 {
        assert_eq!(conn.call(["SET", &format!("k{i}"), "v"]).expect("set"), Frame::ok());
    }
    let port = cluster.node(0).addr().port().to_string();
    let out = cli(&["-p", &port, "--cluster-status"]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{table}{}", stderr(&out));
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| l.starts_with('n'))
        .map(|l| l.split_whitespace().filter(|w| *w != "*").collect())
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    let (mut slots, mut keys) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], format!("n{}", i + 1), "{table}");
        assert_eq!(&row[1..3], ["active", "alive"], "{table}");
        assert_eq!(row[3], cluster.node(i).addr().to_string(), "{table}");
        // NODE STATE LIVENESS ADDRESS BUMP DATE TIME SLOTS SHARE KEYS MEMORY VIEW
        slots += row[7].parse::<u32>().expect("slots");
        keys += row[9].parse::<u32>().expect("keys");
        assert_eq!(row[11], "same", "{table}");
    }
    assert_eq!(slots, 16384, "{table}");
    assert_eq!(keys, 300, "{table}");
    let total = table.lines().find(|l| l.starts_with("total")).expect("total line");
    assert!(total.contains("16384") && total.contains("100.00%") && total.contains("300"), "{table}");
    let under = table
        .lines()
        .find_map(|l| l.strip_prefix("under-replicated slots: "))
        .expect("under-replicated line");
    assert!(under.parse::<u32>().is_ok(), "the members report their figures: {table}");
    assert!(table.contains("moves in progress: none"), "{table}");

    // --cluster-watch refreshes: two tables, then it stops (-r 2).
    let out = cli(&["-p", &port, "--cluster-watch", "-r", "2", "-i", "0.1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).matches("Shoal cluster as seen from n1").count(), 2, "{}", stdout(&out));
}

#[test]
fn cluster_status_needs_a_shoal_node() {
    let redis = RedisServer::start();
    let out = cli(&["-p", &redis.port().to_string(), "--cluster-status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--cluster-status needs a Shoal node: ERR unknown command 'SHOAL'"),
        "{}",
        stderr(&out)
    );
}

/// Two Redis Cluster nodes, each owning half the slots.
fn redis_cluster() -> (RedisServer, RedisServer) {
    let start = |bus: &str| RedisServer::start_with(&["--cluster-enabled", "yes", "--cluster-port", bus]);
    let bus_b = common::free_port().to_string();
    let (a, b) = (start(&common::free_port().to_string()), start(&bus_b));
    let mut conn_a = RespConn::connect(a.addr()).expect("connect");
    let mut conn_b = RespConn::connect(b.addr()).expect("connect");
    assert_eq!(conn_a.call(["CLUSTER", "ADDSLOTSRANGE", "0", "8191"]).expect("addslots"), Frame::ok());
    assert_eq!(conn_b.call(["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"]).expect("addslots"), Frame::ok());
    let meet = conn_a.call(["CLUSTER", "MEET", "127.0.0.1", &b.port().to_string(), &bus_b]).expect("meet");
    assert_eq!(meet, Frame::ok());
    let ok = wait_for(Duration::from_secs(30), || {
        [&mut conn_a, &mut conn_b]
            .into_iter()
            .all(|conn| match conn.call(["CLUSTER", "INFO"]) {
                Ok(Frame::Bulk(info)) => String::from_utf8_lossy(&info).contains("cluster_state:ok"),
                _ => false,
            })
            .then_some(())
    });
    assert!(ok.is_some(), "the two-node Redis Cluster did not form");
    (a, b)
}

#[test]
fn c_follows_moved_like_redis_cli() {
    let (a, b) = redis_cluster();
    let key = (0..).map(|i| format!("key{i}")).find(|k| key_slot(k.as_bytes()) >= 8192).expect("a key on b");
    let port_a = a.port().to_string();
    for args in [
        vec!["-c", "-p", &port_a, "SET", &key, "moved"],
        vec!["-c", "-p", &port_a, "GET", &key],
        vec!["-c", "--no-raw", "-p", &port_a, "GET", &key],
        vec!["-p", &port_a, "GET", &key],
    ] {
        let expected = run_with_input("redis-cli", &args, Vec::new());
        let actual = cli(&args);
        assert_eq!(stdout(&actual), stdout(&expected), "{args:?}");
        assert_eq!(actual.status.code(), expected.status.code(), "{args:?}");
    }
    // Commands on standard input report each redirection, as redis-cli.
    let script = format!("set {key} again\nget {key}\nget {{other}}x\n").into_bytes();
    for args in [vec!["-c", "-p", &port_a], vec!["-c", "--no-raw", "-p", &port_a]] {
        let expected = run_with_input("redis-cli", &args, script.clone());
        let actual = run_with_input(SHOAL_CLI, &args, script.clone());
        assert_eq!(stdout(&actual), stdout(&expected), "{args:?}");
        assert!(stdout(&actual).contains("-> Redirected to slot"), "{}", stdout(&actual));
    }
    let out = cli(&["-c", "-p", &port_a, "GET", &key]);
    assert_eq!(stdout(&out), "again\n");
    let out = cli(&["-p", &port_a, "GET", &key]);
    assert!(stdout(&out).starts_with("MOVED "), "{}", stdout(&out));

    // ASK: a slot of a's migrating to b; a key a does not hold is asked
    // for on b, after ASKING.
    let id = |server: &RedisServer| match RespConn::connect(server.addr())
        .expect("connect")
        .call(["CLUSTER", "MYID"])
    {
        Ok(Frame::Bulk(id)) => String::from_utf8_lossy(&id).into_owned(),
        other => panic!("CLUSTER MYID: {other:?}"),
    };
    let (id_a, id_b) = (id(&a), id(&b));
    let asked =
        (0..).map(|i| format!("asked{i}")).find(|k| key_slot(k.as_bytes()) < 8192).expect("a key on a");
    let slot = key_slot(asked.as_bytes()).to_string();
    let setslot = |server: &RedisServer, how: &str, node: &str| {
        let reply =
            RespConn::connect(server.addr()).expect("connect").call(["CLUSTER", "SETSLOT", &slot, how, node]);
        assert_eq!(reply.expect("setslot"), Frame::ok());
    };
    setslot(&b, "IMPORTING", &id_a);
    setslot(&a, "MIGRATING", &id_b);
    let out = cli(&["-p", &port_a, "GET", &asked]);
    assert!(stdout(&out).starts_with("ASK "), "{}", stdout(&out));
    let script = format!("set {asked} on-b\nget {asked}\n").into_bytes();
    let args = ["-c", "-p", &port_a];
    let expected = run_with_input("redis-cli", &args, script.clone());
    let actual = run_with_input(SHOAL_CLI, &args, script);
    assert_eq!(stdout(&actual), stdout(&expected));
    assert!(stdout(&actual).contains("on-b"), "{}", stdout(&actual));
}

#[test]
fn authentication_errors_are_clear() {
    let mut config = test_config();
    config.server.requirepass = "sesame".to_string();
    let node = BlockingNode::start(config);
    let port = node.addr().port().to_string();
    let out = cli(&["-p", &port, "--no-raw", "PING"]);
    assert_eq!(stdout(&out), "(error) NOAUTH Authentication required.\n");
    let out = cli(&["-p", &port, "-e", "PING"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "NOAUTH Authentication required.\n");
    let out = cli(&["-p", &port, "-a", "sesame", "--no-auth-warning", "PING"]);
    assert_eq!((stdout(&out).as_str(), out.status.code()), ("PONG\n", Some(0)));
    let out = cli(&["-p", &port, "-a", "wrong", "PING"]);
    assert!(stderr(&out).contains("AUTH failed: WRONGPASS"), "{}", stderr(&out));
    // The password from the environment, as redis-cli's REDISCLI_AUTH.
    let out = Command::new(SHOAL_CLI)
        .args(["-p", &port, "PING"])
        .env("REDISCLI_AUTH", "sesame")
        .output()
        .expect("run");
    assert_eq!(stdout(&out), "PONG\n");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn a_server_that_never_answers_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let out = cli(&["-p", &port, "-t", "0.5", "PING"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "Error: Timed out waiting for a reply from the server\n");
    drop(listener);
}

#[test]
fn stat_and_latency_print_their_lines() {
    let node = BlockingNode::start_default();
    let port = node.addr().port().to_string();
    let mut conn = RespConn::connect(node.addr()).expect("connect");
    conn.call(["SET", "a", "1"]).expect("set");
    conn.call(["GET", "a"]).expect("hit");
    conn.call(["GET", "b"]).expect("miss");

    let out = cli(&["-p", &port, "--stat", "-r", "3", "-i", "0.05"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[1].starts_with("keys") && lines[1].contains("hits") && lines[1].contains("misses"),
        "{text}"
    );
    let first: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(first[0], "1", "one key: {text}");
    assert!(lines[2].contains("1 (+0)"), "one hit, one miss: {text}");

    // Not a terminal: one window, then `min max avg samples`.
    let out = cli(&["-p", &port, "--latency", "-i", "0.2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fields: Vec<f64> = stdout(&out).split_whitespace().map(|f| f.parse().expect("number")).collect();
    assert_eq!(fields.len(), 4, "{}", stdout(&out));
    assert!(fields[0] <= fields[2] && fields[2] <= fields[1] && fields[3] >= 1.0, "{fields:?}");

    let out = cli(&["-p", &port, "--latency-history", "-i", "0.1", "-r", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
}

#[test]
fn tools_report_a_refused_connection() {
    let port = common::free_port().to_string();
    for mode in ["--pipe", "--stat", "--latency", "--scan", "--bigkeys", "--cluster-status"] {
        let out = cli(&["-p", &port, mode, "-r", "1"]);
        assert_eq!(out.status.code(), Some(1), "{mode}");
        assert_eq!(
            stderr(&out),
            format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n"),
            "{mode}"
        );
    }
}
