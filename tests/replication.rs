//! Replication and ownership changes end to end, on clusters of in-process
//! nodes (fast gossip profile unless a test says otherwise): a crash, a
//! join, a graceful leave and a restart while clients write and read, with
//! every acknowledged write checked afterwards (see `common::load`), plus
//! re-replication after a failure, `async` mode, and a replica that stops
//! answering.
//!
//! "Settled" means every node is `active` with nothing moving or to pull
//! and `shoal_under_replicated_slots:0` (see `Cluster::wait_settled`). The
//! waits are generous bounds against hangs, never timing assertions.
//!
//! The tests run one at a time: each drives several nodes and client
//! threads, and two at once on a small machine could starve gossip into
//! declaring live nodes down.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, NotSettled};
use common::load::{self, Load, LoadConfig, LoadReport, Verification};
use common::{RespConn, test_config, wait_for};
use shoal::config::{ConfigDuration, GossipProfile, ReplicationMode};
use shoal::keyslot::key_slot;
use shoal::protocol::Frame;
use shoal::store::Value;

/// Bound on slot moves and re-replication settling.
const SETTLE: Duration = Duration::from_secs(90);
/// Bound on a joining node becoming active (it pulls its slots first).
const JOIN: Duration = Duration::from_secs(90);
/// Bound on the load reaching a number of acknowledged writes.
const PROGRESS: Duration = Duration::from_secs(60);

/// Serializes the tests (see the module doc).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Client addresses of nodes `indices`.
fn entries(cluster: &Cluster, indices: &[usize]) -> Vec<SocketAddr> {
    indices.iter().map(|&i| cluster.node(i).addr()).collect()
}

/// Prints what a load did and what reading it back found.
fn describe(test: &str, report: &LoadReport, check: &Verification) {
    eprintln!(
        "{test}: load ran {:?}; writers {:?}; readers {:?}; read back {} keys ({} acknowledged, {} written, \
         {} newer than acknowledged), {} lost",
        report.ran_for,
        report.writers,
        report.readers,
        check.checked,
        check.keys_acked,
        check.keys_written,
        check.newer_than_acked,
        check.lost.len()
    );
}

/// Panics unless no acknowledged write was lost.
fn assert_nothing_lost(check: &Verification) {
    assert!(
        check.lost.is_empty(),
        "{} of {} acknowledged keys lost, e.g. {:?}",
        check.lost.len(),
        check.keys_acked,
        &check.lost[..check.lost.len().min(10)]
    );
}

/// Panics if any read (by the writers or a reader) returned a value older
/// than acknowledged before it, or if any request got no reply at all.
fn assert_reads_never_stale(report: &LoadReport) {
    let groups = std::iter::once(("writers", &report.writers))
        .chain(report.readers.iter().map(|(name, c)| (name.as_str(), c)));
    for (name, counts) in groups {
        assert_eq!(
            counts.violations, 0,
            "{name}: {} reads older than an acknowledged write, e.g. {:?}",
            counts.violations, counts.violation_samples
        );
        assert_eq!(counts.timeouts, 0, "{name}: requests without a reply: {:?}", counts.error_samples);
    }
}

/// Panics unless `settled` is Ok, naming what was not.
fn assert_settled(settled: Result<(), NotSettled>, after: &str) {
    if let Err(why) = settled {
        panic!("the cluster did not settle after {after}: {why:?}");
    }
}

/// `DBSIZE` through node `i`.
fn dbsize(cluster: &Cluster, i: usize) -> i64 {
    match cluster.conn(i).call(["DBSIZE"]).expect("DBSIZE") {
        Frame::Integer(n) => n,
        other => panic!("DBSIZE answered {other:?}"),
    }
}

/// Panics unless `DBSIZE` (owned keys only, replica copies not counted)
/// lies between the keys certainly there and the keys possibly there.
fn assert_dbsize(cluster: &Cluster, i: usize, extra: usize, check: &Verification) {
    let size = dbsize(cluster, i) as usize;
    let (low, high) = (extra + check.keys_acked, extra + check.keys_written);
    assert!(
        (low..=high).contains(&size),
        "DBSIZE {size}: expected {low}..={high} (owned keys only, replica copies not counted)"
    );
}

/// The string value node `i` holds for `key` in its store, owned or a
/// replica copy.
fn stored(cluster: &Cluster, i: usize, key: &str) -> Option<Vec<u8>> {
    let store = cluster.node(i).handle().store();
    let mut locked = store.lock(key.as_bytes());
    locked.get(key.as_bytes()).map(|entry| match &entry.value {
        Value::Str(bytes) => bytes.to_vec(),
        other => panic!("{key} holds a {}", other.type_name()),
    })
}

/// The nodes that should hold `key` as node `viewer` sees the serving
/// ring: the owner and the first replica (ids).
fn copy_holders(cluster: &Cluster, viewer: usize, key: &str) -> (String, Option<String>) {
    let topology = cluster.node(viewer).handle().server().topology();
    let slot = key_slot(key.as_bytes());
    let owner = topology.serving.owner(slot).expect("an owner").to_string();
    let replica = topology.serving.replicas(slot).next().map(str::to_string);
    (owner, replica)
}

/// For each `(key, value)`: problems with its two copies (the owner and
/// the first replica, both running, each holding `value`), as `viewer`
/// sees the ring.
fn missing_copies(cluster: &Cluster, viewer: usize, keys: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in keys {
        let (owner, replica) = copy_holders(cluster, viewer, key);
        let Some(replica) = replica else {
            problems.push(format!("{key}: no replica in the ring"));
            continue;
        };
        for (role, id) in [("owner", &owner), ("replica", &replica)] {
            let Some(i) = cluster.index_of(id) else {
                problems.push(format!("{key}: {role} {id} is not running"));
                continue;
            };
            let held = stored(cluster, i, key);
            if held.as_deref() != Some(value.as_bytes()) {
                let held = held.map(|v| String::from_utf8_lossy(&v).into_owned());
                problems.push(format!("{key}: {role} {id} holds {held:?}"));
            }
        }
    }
    problems
}

/// Sends `SET key value` for every pair in one pipeline through `conn`;
/// panics unless each is acknowledged.
fn set_all(conn: &mut RespConn, pairs: &[(String, String)]) {
    for chunk in pairs.chunks(200) {
        for (key, value) in chunk {
            conn.send(["SET", key, value]).expect("send SET");
        }
        for (key, _) in chunk {
            assert_eq!(conn.read_reply().expect("SET reply"), Frame::ok(), "SET {key}");
        }
    }
}

// ---------------------------------------------------------------------------
// 1. A crash under load
// ---------------------------------------------------------------------------

#[test]
fn a_killed_node_loses_no_acknowledged_write() {
    let _serial = one_at_a_time();
    let mut cluster = Cluster::start(5);
    let victim = 3;
    let load = Load::start(LoadConfig::new(4, 200, entries(&cluster, &[0, 1, 2, 4])));
    // Every key has a value before the crash.
    load.wait_every_key_acked(PROGRESS);
    load.wait_more_acks(400, PROGRESS);

    cluster.kill(victim);
    cluster.wait_converged(4);
    // Writes go on after the survivors took over.
    load.wait_more_acks(400, PROGRESS);
    let settled = cluster.wait_settled(SETTLE);
    let report = load.stop();

    let check = report.verify(&mut cluster.conn(0));
    describe("kill", &report, &check);
    assert_nothing_lost(&check);
    assert_reads_never_stale(&report);
    assert_settled(settled, "a crash");
    assert_dbsize(&cluster, 1, 0, &check);
}

// ---------------------------------------------------------------------------
// 2. A join under load
// ---------------------------------------------------------------------------

#[test]
fn a_joining_node_takes_a_quarter_of_the_slots_under_load() {
    let _serial = one_at_a_time();
    const PRELOAD: usize = 100_000;
    let mut cluster = Cluster::start(3);
    let loading = Instant::now();
    load::preload(&mut cluster.conn(0), PRELOAD);
    eprintln!("join: {PRELOAD} keys loaded in {:?}", loading.elapsed());

    let mut config = LoadConfig::new(3, 200, entries(&cluster, &[0, 1, 2]));
    config.preload = PRELOAD;
    let load = Load::start(config);
    load.wait_every_key_acked(PROGRESS);

    let joined = Instant::now();
    let joiner = cluster.add("n4", Some(cluster.gossip_addr(0)));
    cluster.wait_converged_within(4, JOIN);
    eprintln!("join: n4 active after {:?}", joined.elapsed());
    let settled = cluster.wait_settled(SETTLE);
    load.wait_more_acks(300, PROGRESS);
    let report = load.stop();

    let check = report.verify(&mut cluster.conn(joiner));
    describe("join", &report, &check);
    assert_reads_never_stale(&report);
    let others = report.writers.non_tryagain_failures();
    assert_eq!(others, 0, "errors other than -TRYAGAIN: {:?}", report.writers.error_samples);
    assert_nothing_lost(&check);
    let wrong = load::verify_preload(&mut cluster.conn(joiner), PRELOAD);
    assert!(
        wrong.is_empty(),
        "{} preloaded keys wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );

    for (i, _) in cluster.running() {
        let topology = cluster.node(i).handle().server().topology();
        let counts = topology.serving.slot_counts();
        let share = counts.iter().find(|(id, _)| *id == "n4").map_or(0, |c| c.1) as f64 / 16384.0;
        assert!((0.15..=0.35).contains(&share), "node {i}: n4 owns {share:.3} of the slots: {counts:?}");
    }
    assert_settled(settled, "a join");
    assert_dbsize(&cluster, 0, PRELOAD, &check);
    let status = cluster.rebalance(joiner).expect("SHOAL REBALANCE");
    eprintln!("join: n4 reports {status:?}");
    assert!(status.keys_pulled > 0, "the joiner pulled no keys: {status:?}");
}

/// A node that owns slots the joiner is pulling dies in the middle of the
/// pull: the joiner pulls them again from their new owner, and nothing
/// acknowledged is lost.
#[test]
fn an_owner_that_fails_while_a_node_joins_loses_nothing() {
    let _serial = one_at_a_time();
    const PRELOAD: usize = 30_000;
    // Slow pulls, so that the failure falls in the middle of the move.
    let mut base = test_config();
    base.rebalance.max_bytes_per_sec = shoal::config::ByteSize::b(400 * 1024);
    let mut cluster = Cluster::start_with_config(3, base);
    load::preload(&mut cluster.conn(0), PRELOAD);
    let mut config = LoadConfig::new(2, 200, entries(&cluster, &[0, 2]));
    config.preload = PRELOAD;
    let load = Load::start(config);
    load.wait_every_key_acked(PROGRESS);

    let joiner = cluster.add("n4", Some(cluster.gossip_addr(0)));
    let pulling = wait_for(JOIN, || {
        let status = cluster.rebalance(joiner).ok()?;
        (status.keys_pulled > 0 && status.slots_to_pull > 0).then_some(())
    });
    assert!(pulling.is_some(), "the joiner never was in the middle of its pull");
    cluster.kill(1);
    cluster.wait_converged_within(3, JOIN);
    let settled = cluster.wait_settled(SETTLE);
    load.wait_more_acks(200, PROGRESS);
    let report = load.stop();

    let check = report.verify(&mut cluster.conn(joiner));
    describe("failure during a join", &report, &check);
    assert_reads_never_stale(&report);
    assert_nothing_lost(&check);
    let wrong = load::verify_preload(&mut cluster.conn(0), PRELOAD);
    assert!(
        wrong.is_empty(),
        "{} preloaded keys wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert_settled(settled, "a failure during a join");
}

// ---------------------------------------------------------------------------
// 3. A graceful leave under load
// ---------------------------------------------------------------------------

#[test]
fn a_leaving_node_hands_its_slots_over_under_load() {
    let _serial = one_at_a_time();
    let drain = Duration::from_secs(20);
    let mut config = test_config();
    config.shutdown.drain_timeout = ConfigDuration::from_secs(drain.as_secs());
    let mut cluster = Cluster::start_with_config(4, config);
    let leaver = 3;
    let load = Load::start(LoadConfig::new(3, 200, entries(&cluster, &[0, 1, 2])));
    load.wait_every_key_acked(PROGRESS);
    load.wait_more_acks(400, PROGRESS);

    // The stop itself may take the whole drain timeout, not more (a margin
    // for a slow machine).
    let took = cluster.stop_within(leaver, drain + Duration::from_secs(10));
    eprintln!("leave: stop took {took:?}");
    cluster.wait_converged(3);
    load.wait_more_acks(300, PROGRESS);
    let settled = cluster.wait_settled(SETTLE);
    let report = load.stop();

    let check = report.verify(&mut cluster.conn(0));
    describe("leave", &report, &check);
    assert_nothing_lost(&check);
    assert_reads_never_stale(&report);
    assert!(took.is_some(), "the leaving node had not stopped within its drain timeout plus 10 s");
    assert_settled(settled, "a graceful leave");
    assert_dbsize(&cluster, 0, 0, &check);
}

// ---------------------------------------------------------------------------
// 4. A restart with the same id
// ---------------------------------------------------------------------------

#[test]
fn a_restarted_node_resynchronises_and_never_serves_an_old_value() {
    let _serial = one_at_a_time();
    const WRITERS: usize = 3;
    const KEYS: usize = 200;
    let mut cluster = Cluster::start(4);
    let victim = 3;
    let victim_id = "n4";
    // With the same members the ring is the same: these are the keys the
    // restarted node owns again once it is active.
    let owned: Vec<(usize, usize)> = (0..WRITERS)
        .flat_map(|w| (0..KEYS).map(move |i| (w, i)))
        .filter(|&(w, i)| cluster.owner_id(&load::writer_key(w, i)) == victim_id)
        .collect();
    assert!(!owned.is_empty(), "{victim_id} owns none of the keys");

    let mut load = Load::start(LoadConfig::new(WRITERS, KEYS, entries(&cluster, &[0, 1, 2])));
    load.wait_every_key_acked(PROGRESS);
    load.wait_more_acks(400, PROGRESS);
    cluster.kill(victim);
    cluster.wait_converged(3);
    let recovered = cluster.wait_settled(SETTLE);
    load.wait_more_acks(300, PROGRESS);

    let restarted = cluster.add(victim_id, Some(cluster.gossip_addr(0)));
    let addr = cluster.node(restarted).addr();
    // Through the restarted node from its first moment: forwarded while it
    // joins, answered by itself for its own keys once active.
    load.add_reader("restarted: any key", vec![addr], None);
    load.add_reader("restarted: its own keys", vec![addr], Some(owned.clone()));
    cluster.wait_converged_within(4, JOIN);
    for (i, _) in cluster.running() {
        let topology = cluster.node(i).handle().server().topology();
        let state = topology.member(victim_id).map(|m| m.state);
        assert_eq!(state, Some(shoal::ring::MemberState::Active), "node {i} sees {victim_id} as {state:?}");
    }
    let settled = cluster.wait_settled(SETTLE);
    load.wait_more_acks(300, PROGRESS);
    let report = load.stop();

    let check = report.verify(&mut cluster.conn(restarted));
    describe("restart", &report, &check);
    assert_reads_never_stale(&report);
    for (name, counts) in &report.readers {
        assert!(counts.reads_ok > 0, "reader {name} got no answer: {counts:?}");
    }
    assert_nothing_lost(&check);
    // Resynchronised: it holds every key it owns or replicates.
    let mut missing = Vec::new();
    for (w, i, _) in report.acked_keys() {
        let key = load::writer_key(w, i);
        let (owner, replica) = copy_holders(&cluster, 0, &key);
        let holds_a_copy = owner == victim_id || replica.as_deref() == Some(victim_id);
        if !holds_a_copy {
            continue;
        }
        if let Err(why) = report.judge(w, i, stored(&cluster, restarted, &key).as_deref()) {
            missing.push(why);
        }
    }
    assert!(
        missing.is_empty(),
        "the restarted node lacks {} of its keys, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_settled(recovered, "the crash");
    assert_settled(settled, "the restart");
}

// ---------------------------------------------------------------------------
// 5. Re-replication after a failure
// ---------------------------------------------------------------------------

#[test]
fn every_slot_has_two_live_copies_again_after_a_failure() {
    let _serial = one_at_a_time();
    let mut cluster = Cluster::start(4);
    let victim = 2;
    let victim_id = "n3";
    // Keys the victim owns, keys it replicates, and others.
    let (mut owned, mut replicated, mut unrelated) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0.. {
        let key = format!("r:{i}");
        let (owner, replica) = copy_holders(&cluster, 0, &key);
        let pair = (key, format!("value-{i}"));
        if owner == victim_id {
            owned.push(pair);
        } else if replica.as_deref() == Some(victim_id) {
            replicated.push(pair);
        } else {
            unrelated.push(pair);
        }
        if owned.len() >= 300 && replicated.len() >= 300 && unrelated.len() >= 300 {
            break;
        }
    }
    let keys: Vec<(String, String)> =
        [owned, replicated, unrelated].into_iter().flat_map(|k| k[..300].to_vec()).collect();
    set_all(&mut cluster.conn(0), &keys);
    // Sync replication: acknowledged means on the owner and its replica.
    let problems = missing_copies(&cluster, 0, &keys);
    assert!(
        problems.is_empty(),
        "{} copies missing after acknowledged writes, e.g. {:?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );

    cluster.kill(victim);
    cluster.wait_converged(3);
    let settled = cluster.wait_settled(SETTLE);
    let problems = missing_copies(&cluster, 0, &keys);
    assert!(
        problems.is_empty(),
        "{} copies missing after re-replication, e.g. {:?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
    for (i, node) in cluster.running() {
        let under = cluster.info_cluster_number(i, "shoal_under_replicated_slots");
        assert_eq!(
            under,
            Ok(Some(0)),
            "{} INFO cluster shoal_under_replicated_slots",
            node.handle().node_id()
        );
    }
    assert_settled(settled, "a crash");
}

// ---------------------------------------------------------------------------
// Async mode, and a replica that stops answering
// ---------------------------------------------------------------------------

#[test]
fn async_replication_acknowledges_writes_that_read_back() {
    let _serial = one_at_a_time();
    let mut config = test_config();
    config.replication.mode = ReplicationMode::Async;
    let cluster = Cluster::start_with_config(3, config);
    let keys: Vec<(String, String)> = (0..2000).map(|i| (format!("a:{i}"), format!("async-{i}"))).collect();
    set_all(&mut cluster.conn(1), &keys);

    let mut conn = cluster.conn(2);
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    for (chunk, expected) in names.chunks(100).zip(keys.chunks(100)) {
        for (value, (key, want)) in load::mget(&mut conn, chunk).into_iter().zip(expected) {
            assert_eq!(value.as_deref(), Some(want.as_bytes()), "{key}");
        }
    }
    // The replicas catch up without being waited for.
    let copied =
        wait_for(Duration::from_secs(30), || missing_copies(&cluster, 0, &keys).is_empty().then_some(()));
    let problems = missing_copies(&cluster, 0, &keys);
    assert!(
        copied.is_some(),
        "{} copies still missing after 30 s, e.g. {:?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
}

/// Takes `addr` and accepts TCP connections there without ever answering
/// (the kernel completes the handshakes): a peer that hangs.
fn black_hole(addr: SocketAddr) -> TcpListener {
    wait_for(Duration::from_secs(5), || TcpListener::bind(addr).ok()).expect("bind the dead node's peer port")
}

#[test]
fn a_write_whose_replica_hangs_gets_an_answer_in_bounded_time() {
    let _serial = one_at_a_time();
    let mut config = test_config();
    // LAN timings: the replica stays "alive" for several seconds after it
    // stops answering, far longer than the replication timeout.
    config.gossip.profile = GossipProfile::Lan;
    config.replication.timeout = ConfigDuration::from_millis(500);
    let mut cluster = Cluster::start_with_config(3, config);
    let (owner, victim) = (0, 2);
    let (owner_id, victim_id) = ("n1", "n3");
    let keys: Vec<String> = (0..)
        .map(|i| format!("h:{i}"))
        .filter(|k| copy_holders(&cluster, owner, k) == (owner_id.to_string(), Some(victim_id.to_string())))
        .take(20)
        .collect();
    let mut conn = cluster.conn(owner);
    for key in &keys {
        assert_eq!(conn.call(["SET", key, "0"]).expect("SET"), Frame::ok(), "{key}");
    }

    let peer_addr = cluster.node(victim).handle().peer_addr();
    cluster.kill(victim);
    let _hang = black_hole(peer_addr);
    let victim_listed =
        |cluster: &Cluster| cluster.node(owner).handle().server().topology().member(victim_id).is_some();

    // Until the owner declares the replica down (and a few writes after).
    let bound = Duration::from_secs(5);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut in_window, mut after_down, mut tryagain) = (0, 0, 0);
    let mut acked = std::collections::HashMap::new();
    for (n, key) in keys.iter().cycle().enumerate() {
        let value = (n + 1).to_string();
        let sent = Instant::now();
        conn.send(["SET", key, &value]).expect("send SET");
        let reply = conn
            .read_reply_within(bound)
            .unwrap_or_else(|e| panic!("SET {key} with a hung replica got no reply within {bound:?}: {e}"));
        let listed = victim_listed(&cluster);
        match reply {
            reply if reply == Frame::ok() => {
                // Acknowledged while the replica was still a live member of
                // the owner's view: it was not applied there.
                assert!(
                    !listed,
                    "SET {key} acknowledged after {:?} though replica {victim_id} neither applied it nor was declared down",
                    sent.elapsed()
                );
                acked.insert(key.clone(), value);
            }
            Frame::Error(e) if e.starts_with("TRYAGAIN") => tryagain += 1,
            other => panic!("SET {key} with a hung replica answered {other:?}"),
        }
        if listed {
            in_window += 1;
        } else {
            after_down += 1;
        }
        if after_down >= keys.len() || Instant::now() > deadline {
            break;
        }
    }
    eprintln!(
        "hung replica: {in_window} writes before it was declared down ({tryagain} -TRYAGAIN), {after_down} after"
    );
    assert!(in_window > 0, "the replica was declared down before any write reached it");
    assert!(after_down > 0, "{victim_id} was not declared down within 60 s");

    // Declared down: writes are acknowledged again (the other survivor is
    // the new replica) and every acknowledged value reads back.
    cluster.wait_converged(2);
    for key in &keys {
        let ok = wait_for(Duration::from_secs(10), || {
            (conn.call(["SET", key, "final"]).expect("SET") == Frame::ok()).then_some(())
        });
        assert!(ok.is_some(), "SET {key} not acknowledged 10 s after {victim_id} was declared down");
        acked.insert(key.clone(), "final".to_string());
    }
    let mut other = cluster.conn(1);
    for (key, value) in &acked {
        assert_eq!(other.call(["GET", key]).expect("GET"), common::bulk(value), "{key}");
    }
}
