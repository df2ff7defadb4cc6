//! The metrics endpoint of real nodes: what it serves, that every name the
//! dashboards use exists, that nodes in one process keep their own counts,
//! and that `INFO` reports the same numbers.

mod common;

use std::net::SocketAddr;

use common::cluster::Cluster;
use common::metrics::{self, PROMETHEUS_MISSING};
use common::{
    DEADLINE, RespConn, TestNode, http_get, start_node, start_node_with_metrics, test_config, wait_for,
};
use shoal::protocol::Frame;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn scrape(addr: SocketAddr) -> String {
    let (status, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    body
}

fn call(conn: &mut RespConn, args: &[&str]) -> Frame {
    conn.call(args.iter().copied()).expect("reply")
}

#[test]
fn dashboards_use_only_exported_names_and_the_exposition_lints() {
    assert!(metrics::installed("promtool"), "{PROMETHEUS_MISSING}");
    let cluster = Cluster::start_with_metrics(2);
    let mut conn = cluster.conn(0);
    // Keys on both nodes (so requests are forwarded), hits, misses, TTLs,
    // an error reply and an unknown command.
    for i in 0..20 {
        call(&mut conn, &["SET", &format!("key:{i}"), "v", "EX", "100"]);
        call(&mut conn, &["GET", &format!("key:{i}")]);
        call(&mut conn, &["GET", &format!("missing:{i}")]);
    }
    assert!(matches!(call(&mut conn, &["INCR", "key:1"]), Frame::Error(_)));
    assert!(matches!(call(&mut conn, &["NOSUCHCOMMAND"]), Frame::Error(_)));

    let text = scrape(cluster.metrics_addr(0));
    metrics::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool check metrics: {e}"));
    let exported: std::collections::BTreeSet<String> =
        metrics::samples(&text).into_iter().map(|s| s.name).collect();
    let missing: Vec<_> =
        metrics::names_in_dashboards().into_iter().filter(|n| !exported.contains(n)).collect();
    assert!(missing.is_empty(), "dashboards/ uses names a node does not export: {missing:?}");
    for spec in shoal::metrics::specs() {
        assert!(text.contains(&format!("# TYPE {} ", spec.name)), "family {} is not exported", spec.name);
    }

    let errors = metrics::value(&text, "shoal_commands_total", r#"command="incr",result="error""#);
    assert_eq!(errors, Some(1.0));
    let unknown = metrics::value(&text, "shoal_commands_total", r#"command="unknown",result="error""#);
    assert_eq!(unknown, Some(1.0));
    let forwarded = metrics::sum(&text, "shoal_forwarded_requests_total");
    assert!(forwarded > 0.0, "some keys live on the other node");
    assert_eq!(metrics::value(&text, "shoal_cluster_members", r#"state="alive""#), Some(2.0));
    assert_eq!(metrics::value(&text, "shoal_cluster_members", r#"state="down""#), Some(0.0));
    assert_eq!(
        metrics::value(&text, "shoal_forwarded_requests_total", r#"peer="n2",result="timeout""#),
        Some(0.0),
        "series that matter before anything happened exist at zero"
    );
    let share = metrics::sum(&text, "shoal_ring_owned_slots_ratio");
    assert!(share > 0.0 && share < 1.0, "n1 owns part of the ring: {share}");

    for (path, status) in [("/health", 200), ("/ready", 200), ("/nope", 404)] {
        let (got, body) = http_get(cluster.metrics_addr(0), path).expect("GET");
        assert_eq!(got, status, "{path}: {body}");
    }
}

#[test]
fn nodes_in_one_process_keep_their_own_counts() {
    let rt = runtime();
    let a = rt.block_on(start_node_with_metrics(test_config()));
    let b = rt.block_on(start_node_with_metrics(test_config()));
    let mut conn = RespConn::connect(a.addr()).expect("connect");
    for i in 0..7 {
        call(&mut conn, &["SET", &format!("k{i}"), "v"]);
    }
    let set_ok = r#"command="set",result="ok""#;
    let a_text = scrape(a.handle().metrics_addr().expect("metrics"));
    let b_text = scrape(b.handle().metrics_addr().expect("metrics"));
    assert_eq!(metrics::value(&a_text, "shoal_commands_total", set_ok), Some(7.0));
    assert_eq!(metrics::value(&b_text, "shoal_commands_total", set_ok), None);
    assert_eq!(metrics::value(&a_text, "shoal_keys", ""), Some(7.0));
    assert_eq!(metrics::value(&b_text, "shoal_keys", ""), Some(0.0));
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// `field:value` lines of an INFO reply.
fn info_field(info: &str, name: &str) -> f64 {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("INFO has no {name}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("INFO {name} is not a number"))
}

fn info_text(frame: Frame) -> String {
    match frame {
        Frame::Bulk(b) | Frame::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO replied {other:?}"),
    }
}

#[test]
fn info_and_metrics_report_the_same_numbers() {
    let rt = runtime();
    let node: TestNode = rt.block_on(start_node_with_metrics(test_config()));
    let mut conn = RespConn::connect(node.addr()).expect("connect");
    for i in 0..10 {
        call(&mut conn, &["SET", &format!("k{i}"), "value", "PX", if i < 3 { "1" } else { "100000" }]);
        call(&mut conn, &["GET", &format!("k{i}")]);
        call(&mut conn, &["GET", &format!("nokey{i}")]);
    }
    // The three keys with a 1 ms TTL expire on access.
    let expired = wait_for(DEADLINE, || {
        (0..3).all(|i| call(&mut conn, &["GET", &format!("k{i}")]) == Frame::Null).then_some(())
    });
    assert!(expired.is_some(), "keys with a 1 ms TTL expire");
    call(&mut conn, &["CONFIG", "SET", "maxmemory", "100mb"]);

    // Nothing runs between INFO and the collection: same counters.
    let info = info_text(call(&mut conn, &["INFO", "everything"]));
    let text = node.handle().metrics().render();
    let m = |name: &str| metrics::value(&text, name, "").unwrap_or_else(|| panic!("no {name}"));
    for (field, metric) in [
        ("total_commands_processed", "shoal_commands_processed_total"),
        ("total_connections_received", "shoal_client_connections_received_total"),
        ("rejected_connections", "shoal_client_connections_rejected_total"),
        ("connected_clients", "shoal_client_connections"),
        ("keyspace_hits", "shoal_keyspace_hits_total"),
        ("keyspace_misses", "shoal_keyspace_misses_total"),
        ("expired_keys", "shoal_expired_keys_total"),
        ("used_memory", "shoal_memory_used_bytes"),
        ("maxmemory", "shoal_memory_max_bytes"),
    ] {
        assert_eq!(info_field(&info, field), m(metric), "INFO {field} vs {metric}");
    }
    assert_eq!(info_field(&info, "evicted_keys"), metrics::sum(&text, "shoal_evicted_keys_total"));
    assert!(info_field(&info, "keyspace_hits") >= 7.0, "the keys without a short TTL were found");
    assert_eq!(info_field(&info, "expired_keys"), 3.0);
    assert_eq!(m("shoal_memory_max_bytes"), 100.0 * 1024.0 * 1024.0);
    let keyspace = info.lines().find(|l| l.starts_with("db0:")).expect("db0 line");
    let keys = format!("db0:keys={},expires={},", m("shoal_keys"), m("shoal_keys_with_ttl"));
    assert!(keyspace.starts_with(&keys), "{keyspace} vs {keys}");
    // cmdstat_get: calls and failed calls as the per-command series.
    let calls = |result: &str| {
        metrics::value(&text, "shoal_commands_total", &format!(r#"command="get",result="{result}""#))
            .expect("get")
    };
    let cmdstat = info.lines().find(|l| l.starts_with("cmdstat_get:")).expect("cmdstat_get");
    let expected = format!("cmdstat_get:calls={},", calls("ok") + calls("error"));
    assert!(cmdstat.starts_with(&expected), "{cmdstat} vs {expected}");
    assert!(cmdstat.ends_with(&format!("failed_calls={}", calls("error"))), "{cmdstat}");
    rt.block_on(node.shutdown());
}

#[test]
fn ready_waits_for_the_node_to_join_and_metrics_can_be_off() {
    let rt = runtime();
    let mut config = test_config();
    config.cluster.bootstrap_expect = 2;
    config.cluster.bootstrap_timeout = shoal::config::ConfigDuration::from_secs(120);
    let joining = rt.block_on(start_node_with_metrics(config));
    let addr = joining.handle().metrics_addr().expect("metrics");
    let (status, body) = http_get(addr, "/ready").expect("GET /ready");
    assert_eq!((status, body.as_str()), (503, "not ready: joining the cluster\n"));
    assert_eq!(http_get(addr, "/health").expect("GET /health").0, 200);
    let text = scrape(addr);
    assert_eq!(metrics::value(&text, "shoal_node_state", r#"state="joining""#), Some(1.0));

    let off = rt.block_on(start_node(test_config()));
    assert_eq!(off.handle().metrics_addr(), None);
    rt.block_on(async {
        joining.shutdown().await;
        off.shutdown().await;
    });
}
