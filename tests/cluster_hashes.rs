//! Hashes, bit commands and LCS across a three-node cluster: written
//! through one node, read through others, with the reply shapes of both
//! protocols surviving the peer protocol (maps, nested arrays, RESP2's
//! flat HRANDFIELD pairs), and BITOP refused across owners.

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::cluster::Cluster;
use common::{RespConn, bulk, error};
use shoal::protocol::Frame;

/// A hash tag (`{tagN}`) whose keys node `id` owns.
fn tag_owned_by(cluster: &Cluster, id: &str) -> String {
    (0..).map(|i| format!("{{tag{i}}}")).find(|t| cluster.owner_id(t) == id).expect("a tag")
}

/// Index of a node that does not own `key`.
fn non_owner(cluster: &Cluster, key: &str) -> usize {
    let owner = cluster.owner_id(key);
    (0..3).find(|&i| format!("n{}", i + 1) != owner).expect("three nodes")
}

fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

/// A connection that switched to RESP3.
fn resp3(cluster: &Cluster, i: usize) -> RespConn {
    let mut conn = cluster.conn(i);
    assert!(matches!(conn.call(["HELLO", "3"]).unwrap(), Frame::Map(_)));
    conn
}

/// Every (field, value) of a full HSCAN through `conn`.
fn hscan_all(conn: &mut RespConn, key: &str) -> BTreeMap<Bytes, Bytes> {
    let mut seen = BTreeMap::new();
    let mut cursor = "0".to_string();
    for _ in 0..10_000 {
        let Frame::Array(parts) = conn.call(["HSCAN", key, &cursor, "COUNT", "17"]).unwrap() else {
            panic!("HSCAN reply")
        };
        let [Frame::Bulk(next), Frame::Array(items)] = &parts[..] else { panic!("HSCAN parts {parts:?}") };
        for pair in items.chunks(2) {
            let (Frame::Bulk(f), Frame::Bulk(v)) = (&pair[0], &pair[1]) else { panic!("pair {pair:?}") };
            seen.insert(f.clone(), v.clone());
        }
        cursor = String::from_utf8(next.to_vec()).unwrap();
        if cursor == "0" {
            return seen;
        }
    }
    panic!("HSCAN did not finish");
}

#[test]
fn hashes_cross_the_cluster() {
    let cluster = Cluster::start(3);
    let keys =
        [cluster.keys_owned_by("n1", 1), cluster.keys_owned_by("n2", 1), cluster.keys_owned_by("n3", 1)];
    let keys: Vec<String> = keys.into_iter().flatten().collect();
    // Written through node 1, read through the other two, for every owner.
    let mut writer = cluster.conn(0);
    for key in &keys {
        assert_eq!(writer.call(["HSET", key, "a", "1", "b", "2"]).unwrap(), int(2));
        assert_eq!(writer.call(["HINCRBY", key, "a", "41"]).unwrap(), int(42));
        assert_eq!(writer.call(["HINCRBYFLOAT", key, "f", "0.1"]).unwrap(), bulk("0.1"));
    }
    for reader in 1..3 {
        let mut conn = cluster.conn(reader);
        for key in &keys {
            let a = (41 + reader).to_string();
            let want = Frame::Array(["a", &a, "b", "2", "f", "0.1"].iter().map(|s| bulk(s)).collect());
            assert_eq!(conn.call(["HGETALL", key]).unwrap(), want, "node {reader}, {key}");
            assert_eq!(conn.call(["HINCRBY", key, "a", "1"]).unwrap(), int(42 + reader as i64));
            assert_eq!(conn.call(["TYPE", key]).unwrap(), Frame::Simple("hash".into()));
            assert_eq!(
                conn.call(["GET", key]).unwrap(),
                error("WRONGTYPE Operation against a key holding the wrong kind of value")
            );
        }
    }
    // HGETALL through a non-owner: a flat array in RESP2, a map in RESP3.
    let key = &keys[2];
    let far = non_owner(&cluster, key);
    let (_, wire) = cluster.conn(far).call_wire(["HGETALL", key]).unwrap();
    assert!(wire.starts_with(b"*6\r\n$1\r\na\r\n"), "{wire:?}");
    let (_, wire) = resp3(&cluster, far).call_wire(["HGETALL", key]).unwrap();
    assert!(wire.starts_with(b"%3\r\n$1\r\na\r\n"), "{wire:?}");
    // The cluster-wide SCAN sees the hashes by type.
    let Frame::Array(page) = cluster.conn(1).call(["SCAN", "0", "TYPE", "hash", "COUNT", "100000"]).unwrap()
    else {
        panic!("SCAN")
    };
    assert!(matches!(&page[0], Frame::Bulk(_)));
}

#[test]
fn hscan_and_hrandfield_through_a_non_owner() {
    let cluster = Cluster::start(3);
    let key = cluster.keys_owned_by("n3", 1).remove(0);
    let far = non_owner(&cluster, &key);
    let mut conn = cluster.conn(far);
    let mut hset = vec!["HSET".to_string(), key.clone()];
    for i in 0..300 {
        hset.extend([format!("field:{i}"), format!("{i}")]);
    }
    assert_eq!(conn.call(&hset).unwrap(), int(300));
    let seen = hscan_all(&mut conn, &key);
    assert_eq!(seen.len(), 300);
    assert_eq!(seen[&Bytes::from("field:123")], Bytes::from("123"));
    // HRANDFIELD WITHVALUES keeps each protocol's shape through forwarding.
    let Frame::Array(flat) = conn.call(["HRANDFIELD", &key, "-5", "WITHVALUES"]).unwrap() else {
        panic!("RESP2 HRANDFIELD")
    };
    assert_eq!(flat.len(), 10, "RESP2: field, value, field, value, ...");
    assert!(flat.iter().all(|f| matches!(f, Frame::Bulk(_))));
    let Frame::Array(pairs) = resp3(&cluster, far).call(["HRANDFIELD", &key, "5", "WITHVALUES"]).unwrap()
    else {
        panic!("RESP3 HRANDFIELD")
    };
    assert_eq!(pairs.len(), 5);
    for pair in pairs {
        let Frame::Array(pair) = pair else { panic!("RESP3: [field, value] pairs") };
        let [Frame::Bulk(field), Frame::Bulk(value)] = &pair[..] else { panic!("pair {pair:?}") };
        assert_eq!(format!("field:{}", String::from_utf8_lossy(value)).as_bytes(), &field[..]);
    }
}

#[test]
fn bits_and_lcs_run_where_their_keys_live() {
    let cluster = Cluster::start(3);
    let tag = tag_owned_by(&cluster, "n2");
    let (a, b, dest) = (format!("{tag}a"), format!("{tag}b"), format!("{tag}dest"));
    let far = non_owner(&cluster, &a);
    let mut conn = cluster.conn(far);
    assert_eq!(conn.call(["SET", &a, "foobar"]).unwrap(), Frame::ok());
    assert_eq!(conn.call(["SET", &b, "abcdef"]).unwrap(), Frame::ok());
    assert_eq!(conn.call(["SETBIT", &a, "7", "1"]).unwrap(), int(0));
    assert_eq!(conn.call(["GETBIT", &a, "7"]).unwrap(), int(1));
    assert_eq!(conn.call(["BITCOUNT", &a, "0", "-1", "BIT"]).unwrap(), int(27));
    assert_eq!(conn.call(["BITPOS", &a, "0", "1"]).unwrap(), int(8));
    assert_eq!(conn.call(["BITOP", "AND", &dest, &a, &b]).unwrap(), int(6));
    assert_eq!(cluster.conn(1).call(["GET", &dest]).unwrap(), bulk("abc`ab"));
    assert_eq!(conn.call(["LCS", &a, &b]).unwrap(), bulk("a"), "as redis-server answers");
    let (_, wire) = resp3(&cluster, far).call_wire(["LCS", &a, &b, "IDX", "WITHMATCHLEN"]).unwrap();
    assert!(wire.starts_with(b"%2\r\n$7\r\nmatches\r\n*"), "{wire:?}");
    let Frame::Map(idx) = resp3(&cluster, far).call(["LCS", &a, &b, "IDX"]).unwrap() else {
        panic!("LCS IDX")
    };
    assert_eq!(idx[1], (bulk("len"), int(1)));
    // Keys of different owners in one atomic command are refused.
    let other = tag_owned_by(&cluster, "n3");
    let crossslot = error("CROSSSLOT Keys in request don't hash to the same slot");
    assert_eq!(conn.call(["BITOP", "OR", &dest, &a, &format!("{other}x")]).unwrap(), crossslot);
    assert_eq!(conn.call(["BITOP", "OR", &format!("{other}x"), &a]).unwrap(), crossslot);
    assert_eq!(conn.call(["LCS", &a, &format!("{other}x")]).unwrap(), crossslot);
}
