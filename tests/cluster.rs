//! Clusters of real nodes on loopback (in-process, fast gossip profile):
//! joining through a seed, forwarding, split multi-key commands, the
//! cluster commands, failure detection, restarts and merging groups.

mod common;

use common::cluster::{CONVERGE, Cluster};
use common::{bulk, wait_for};
use shoal::protocol::Frame;

#[test]
fn three_nodes_act_as_one_cache() {
    let cluster = Cluster::start(3);
    // Writes through node 1 are readable through every node, whoever owns them.
    let mut c1 = cluster.conn(0);
    for i in 0..200 {
        assert_eq!(c1.call(["SET", &format!("k{i}"), &format!("v{i}")]).unwrap(), Frame::ok());
    }
    for n in 0..3 {
        let mut c = cluster.conn(n);
        for i in (0..200).step_by(7) {
            assert_eq!(
                c.call(["GET", &format!("k{i}")]).unwrap(),
                bulk(&format!("v{i}")),
                "node {n} key k{i}"
            );
        }
    }
    // Every node holds some of the keys, and only those it owns.
    for (i, node) in cluster.running() {
        let (keys, _) = node.handle().store().counts();
        assert!(keys > 20, "node {i} holds {keys} keys");
    }
    // DBSIZE, KEYS and SCAN cover the whole cluster from any node.
    let mut c3 = cluster.conn(2);
    assert_eq!(c3.call(["DBSIZE"]).unwrap(), Frame::Integer(200));
    let Frame::Array(keys) = c3.call(["KEYS", "k1*"]).unwrap() else { panic!("KEYS reply") };
    assert_eq!(keys.len(), 1 + 10 + 100);
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Frame::Array(parts) = c3.call(["SCAN", &cursor, "COUNT", "50"]).unwrap() else { panic!("SCAN") };
        let (Frame::Bulk(next), Frame::Array(batch)) = (&parts[0], &parts[1]) else { panic!("SCAN parts") };
        for k in batch {
            let Frame::Bulk(k) = k else { panic!("key") };
            assert!(seen.insert(k.clone()), "SCAN returned {k:?} twice");
        }
        cursor = String::from_utf8(next.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 200);

    // CLIENT NO-TOUCH travels with a forwarded read: the owner leaves the
    // key's LFU counter (5 for a new key; a first read always raises it).
    let owner = cluster.index_of(&cluster.owner_id("untouched")).expect("owner");
    let mut at_owner = cluster.conn(owner);
    assert_eq!(at_owner.call(["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]).unwrap(), Frame::ok());
    assert_eq!(at_owner.call(["SET", "untouched", "v"]).unwrap(), Frame::ok());
    let mut elsewhere = cluster.conn((owner + 1) % 3);
    assert_eq!(elsewhere.call(["CLIENT", "NO-TOUCH", "ON"]).unwrap(), Frame::ok());
    assert_eq!(elsewhere.call(["GET", "untouched"]).unwrap(), bulk("v"));
    assert_eq!(at_owner.call(["OBJECT", "FREQ", "untouched"]).unwrap(), Frame::Integer(5));
    assert_eq!(elsewhere.call(["CLIENT", "NO-TOUCH", "OFF"]).unwrap(), Frame::ok());
    assert_eq!(elsewhere.call(["GET", "untouched"]).unwrap(), bulk("v"));
    assert_eq!(at_owner.call(["OBJECT", "FREQ", "untouched"]).unwrap(), Frame::Integer(6));
}

#[test]
fn multi_key_commands_split_or_refuse_across_owners() {
    let cluster = Cluster::start(3);
    let a = cluster.keys_owned_by("n1", 2);
    let b = cluster.keys_owned_by("n2", 2);
    let c = cluster.keys_owned_by("n3", 1);
    let mut conn = cluster.conn(0);
    let mset = ["MSET", &a[0], "1", &b[0], "2", &c[0], "3", &a[1], "4"];
    assert_eq!(conn.call(mset).unwrap(), Frame::ok());
    assert_eq!(
        conn.call(["MGET", &c[0], &a[0], "missing", &b[0], &a[1]]).unwrap(),
        Frame::Array(vec![bulk("3"), bulk("1"), Frame::Null, bulk("2"), bulk("4")])
    );
    assert_eq!(conn.call(["EXISTS", &a[0], &b[0], &c[0], &b[1]]).unwrap(), Frame::Integer(3));
    assert_eq!(conn.call(["DEL", &a[0], &b[0], &b[1]]).unwrap(), Frame::Integer(2));
    // Atomic multi-key commands run where their keys live, or are refused.
    let crossslot = Frame::Error("CROSSSLOT Keys in request don't hash to the same slot".into());
    assert_eq!(conn.call(["RENAME", &a[1], &c[0]]).unwrap(), crossslot);
    assert_eq!(conn.call(["MSETNX", &a[0], "x", &c[0], "y"]).unwrap(), crossslot);
    assert_eq!(conn.call(["SET", "{user1}:a", "1"]).unwrap(), Frame::ok());
    assert_eq!(conn.call(["RENAME", "{user1}:a", "{user1}:b"]).unwrap(), Frame::ok());
    assert_eq!(conn.call(["GET", "{user1}:b"]).unwrap(), bulk("1"));
    // Pipelined forwarded requests keep their order.
    let mut pipe = cluster.conn(1);
    for i in 0..100 {
        pipe.send(["INCR", &c[0]]).unwrap();
        pipe.send(["APPEND", &b[0], &i.to_string()]).unwrap();
    }
    let mut last = Frame::Null;
    for _ in 0..200 {
        last = pipe.read_reply().unwrap();
    }
    assert_eq!(conn.call(["GET", &c[0]]).unwrap(), bulk("103"));
    assert!(matches!(last, Frame::Integer(_)));
}

#[test]
fn every_node_reports_the_same_slots() {
    let cluster = Cluster::start(3);
    let slots: Vec<Frame> = (0..3).map(|i| cluster.conn(i).call(["CLUSTER", "SLOTS"]).unwrap()).collect();
    assert!(matches!(&slots[0], Frame::Array(ranges) if !ranges.is_empty()));
    assert_eq!(slots[0], slots[1]);
    assert_eq!(slots[1], slots[2]);
    let Frame::Bulk(info) = cluster.conn(1).call(["CLUSTER", "INFO"]).unwrap() else {
        panic!("CLUSTER INFO")
    };
    let info = String::from_utf8(info.to_vec()).unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");
    assert!(info.contains("cluster_known_nodes:3"), "{info}");
}

#[test]
fn a_killed_node_is_declared_down_and_its_slots_move() {
    let mut cluster = Cluster::start(5);
    let victim_keys = cluster.keys_owned_by("n4", 5);
    let mut conn = cluster.conn(0);
    for k in &victim_keys {
        assert_eq!(conn.call(["SET", k, "v"]).unwrap(), Frame::ok());
    }
    cluster.kill(3);
    cluster.wait_converged(4);
    for (i, _) in cluster.running() {
        let topology = cluster.node(i).handle().server().topology();
        assert!(topology.member("n4").is_none(), "node {i} still lists n4");
    }
    // The keys now belong to survivors, and their replica had them.
    for k in &victim_keys {
        assert_ne!(cluster.owner_id(k), "n4");
        assert_eq!(conn.call(["GET", k]).unwrap(), bulk("v"));
        assert_eq!(conn.call(["SET", k, "again"]).unwrap(), Frame::ok());
        assert_eq!(cluster.conn(4).call(["GET", k]).unwrap(), bulk("again"));
    }
    let Frame::Bulk(info) = conn.call(["CLUSTER", "INFO"]).unwrap() else { panic!("CLUSTER INFO") };
    assert!(String::from_utf8_lossy(&info).contains("cluster_known_nodes:4"));
}

#[test]
fn restarted_nodes_rejoin_under_their_id() {
    let mut cluster = Cluster::start(3);
    // A graceful stop is seen at once; a restart with the same id (new
    // ports: a different address) replaces the old entry.
    cluster.stop(2);
    cluster.wait_converged(2);
    let seed = cluster.gossip_addr(0);
    cluster.add("n3", Some(seed));
    cluster.wait_converged(3);
    // A crash, then a restart with the same id before or after detection.
    cluster.kill(1);
    cluster.add("n2", Some(seed));
    cluster.wait_converged(3);
    let mut conn = cluster.conn(4);
    for i in 0..30 {
        assert_eq!(conn.call(["SET", &format!("r{i}"), "x"]).unwrap(), Frame::ok());
    }
    assert_eq!(cluster.conn(0).call(["DBSIZE"]).unwrap(), Frame::Integer(30));
}

#[test]
fn groups_with_disjoint_seeds_merge() {
    let mut cluster = Cluster::new();
    let a1 = cluster.add("a1", None);
    cluster.add("a2", Some(cluster.gossip_addr(a1)));
    let b1 = cluster.add("b1", None);
    cluster.add("b2", Some(cluster.gossip_addr(b1)));
    let merged = wait_for(CONVERGE, || {
        (cluster.active_seen_by(0).len() == 2 && cluster.active_seen_by(2).len() == 2).then_some(())
    });
    assert!(merged.is_some(), "the two groups did not form");
    // One node of group B learns of group A: the groups merge.
    cluster.node(b1).handle().membership().add_seed(cluster.gossip_addr(a1).to_string());
    cluster.wait_converged(4);
    let mut conn = cluster.conn(0);
    assert_eq!(conn.call(["SET", "merged", "yes"]).unwrap(), Frame::ok());
    assert_eq!(cluster.conn(3).call(["GET", "merged"]).unwrap(), bulk("yes"));
}

#[test]
fn transactions_run_whole_on_the_owner_of_their_keys() {
    let cluster = Cluster::start(3);
    let remote = cluster.keys_owned_by("n2", 2);
    let local = cluster.keys_owned_by("n1", 1);
    let queued = || Frame::Simple("QUEUED".into());
    let mut conn = cluster.conn(0);

    // Keys owned by n2, sent to n1: queued on n1, run whole on n2.
    assert_eq!(conn.call(["MULTI"]).unwrap(), Frame::ok());
    assert_eq!(conn.call(["SET", &remote[0], "1"]).unwrap(), queued());
    assert_eq!(conn.call(["INCRBY", &remote[0], "41"]).unwrap(), queued());
    assert_eq!(conn.call(["SET", &remote[1], "x"]).unwrap(), queued());
    assert_eq!(conn.call(["PING"]).unwrap(), queued());
    assert_eq!(
        conn.call(["EXEC"]).unwrap(),
        Frame::Array(vec![Frame::ok(), Frame::Integer(42), Frame::ok(), Frame::Simple("PONG".into())])
    );
    assert_eq!(cluster.conn(2).call(["GET", &remote[0]]).unwrap(), bulk("42"));

    // A watched key changed through another node aborts the transaction.
    assert_eq!(conn.call(["WATCH", &remote[0]]).unwrap(), Frame::ok());
    assert_eq!(cluster.conn(2).call(["SET", &remote[0], "changed"]).unwrap(), Frame::ok());
    conn.call(["MULTI"]).unwrap();
    conn.call(["SET", &remote[0], "mine"]).unwrap();
    assert_eq!(conn.call(["EXEC"]).unwrap(), Frame::NullArray);
    assert_eq!(conn.call(["GET", &remote[0]]).unwrap(), bulk("changed"));

    // Unchanged: it runs.
    conn.call(["WATCH", &remote[0], &remote[1]]).unwrap();
    conn.call(["MULTI"]).unwrap();
    conn.call(["APPEND", &remote[1], "y"]).unwrap();
    assert_eq!(conn.call(["EXEC"]).unwrap(), Frame::Array(vec![Frame::Integer(2)]));

    // Keys owned by different nodes: refused, and the transaction is gone.
    let crossslot = Frame::Error("CROSSSLOT Keys in request don't hash to the same slot".into());
    conn.call(["MULTI"]).unwrap();
    conn.call(["SET", &remote[0], "a"]).unwrap();
    conn.call(["SET", &local[0], "b"]).unwrap();
    assert_eq!(conn.call(["EXEC"]).unwrap(), crossslot);
    assert_eq!(conn.call(["EXEC"]).unwrap(), Frame::Error("ERR EXEC without MULTI".into()));
    assert_eq!(conn.call(["EXISTS", &local[0]]).unwrap(), Frame::Integer(0));
    // A single command over several owners is refused while queueing.
    conn.call(["MULTI"]).unwrap();
    assert_eq!(conn.call(["MSET", &remote[0], "a", &local[0], "b"]).unwrap(), crossslot);
    assert_eq!(
        conn.call(["EXEC"]).unwrap(),
        Frame::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
}

#[test]
fn a_seedless_node_that_restarts_copies_its_slots_before_serving_them() {
    let mut cluster = Cluster::start(3);
    let keys = cluster.keys_owned_by("n1", 20);
    let mut conn = cluster.conn(1);
    for k in &keys {
        assert_eq!(conn.call(["SET", k, "kept"]).unwrap(), Frame::ok());
    }
    // n1 has no seeds: restarted, it is a cluster of one until the others
    // find it (here: told its new address, as their re-announcing would).
    cluster.kill(0);
    cluster.wait_converged(2);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let n1 = cluster.add("n1", None);
    cluster.node(1).handle().membership().add_seed(cluster.gossip_addr(n1).to_string());
    cluster.wait_converged(3);
    cluster.wait_settled(CONVERGE).expect("the cluster settles");
    // It joined as a newcomer would: it serves its old slots again, with
    // the values the others kept, not empty.
    let mut through_n1 = cluster.conn(n1);
    for k in &keys {
        assert_eq!(cluster.owner_id(k), "n1");
        assert_eq!(through_n1.call(["GET", k]).unwrap(), bulk("kept"), "{k}");
    }
}
