//! A cluster-aware client (redis-rs `cluster-async`) against a three-node
//! in-process cluster: given one node's address, it learns every node from
//! `CLUSTER SLOTS` and sends each key straight to its owner, so no request
//! needs forwarding between nodes.

mod common;

use std::collections::BTreeMap;

use common::cluster::Cluster;
use redis::AsyncCommands;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use shoal::cmd::cluster::cluster_node_id;

const NODES: usize = 3;
const KEYS: usize = 300;

/// Requests each node has sent to its peers so far (forwarded requests,
/// parts of split commands, fan-outs).
fn peer_requests(cluster: &Cluster) -> Vec<u64> {
    let forwarded = |node: &common::TestNode| node.handle().forwards().latency().buckets.iter().sum::<u64>();
    cluster.running().map(|(_, node)| forwarded(node)).collect()
}

/// Keys each node holds in its own store.
fn local_keys(cluster: &Cluster) -> Vec<usize> {
    cluster.running().map(|(_, node)| node.handle().store().counts().0).collect()
}

/// Opens a cluster connection given only node 0's address.
async fn connect_through_first_node(cluster: &Cluster) -> ClusterConnection {
    let seed = format!("redis://{}", cluster.node(0).addr());
    let client = ClusterClient::new(vec![seed]).expect("cluster client");
    client.get_async_connection().await.expect("cluster connection")
}

/// The primaries the client itself knows (from its slot map), as client
/// address -> `CLUSTER MYID` of the node answering there.
async fn primaries_known_by_client(conn: &mut ClusterConnection) -> BTreeMap<String, String> {
    let all_primaries = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let reply = conn.route_command(&redis::cmd("CLUSTER").arg("MYID").clone(), all_primaries).await;
    let redis::Value::Map(pairs) = reply.expect("CLUSTER MYID on every primary") else {
        panic!("a reply per primary expected")
    };
    pairs
        .into_iter()
        .map(|(addr, id)| {
            let addr: String = redis::from_redis_value(&addr).expect("address");
            let id: String = redis::from_redis_value(&id).expect("id");
            (addr, id)
        })
        .collect()
}

#[test]
fn cluster_client_discovers_every_node_and_routes_to_owners() {
    let cluster = Cluster::start(NODES);
    let expected: BTreeMap<String, String> = cluster
        .running()
        .map(|(_, node)| (node.addr().to_string(), cluster_node_id(node.handle().node_id())))
        .collect();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("client:{i}")).collect();
    let tagged: Vec<String> = (0..10).map(|i| format!("{{user42}}:field{i}")).collect();
    let peer_requests_before = peer_requests(&cluster);

    cluster.block_on(async {
        let mut conn = connect_through_first_node(&cluster).await;
        assert_eq!(primaries_known_by_client(&mut conn).await, expected);
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(&mut conn).await.unwrap();
        assert_eq!(nodes.lines().count(), NODES, "CLUSTER NODES:\n{nodes}");

        for (i, key) in keys.iter().enumerate() {
            let () = conn.set(key, format!("value:{i}")).await.unwrap();
        }
        for (i, key) in keys.iter().enumerate() {
            let value: Option<String> = conn.get(key).await.unwrap();
            assert_eq!(value, Some(format!("value:{i}")), "{key}");
        }

        // Hash-tagged keys share a slot: one MGET on their owner.
        for (i, key) in tagged.iter().enumerate() {
            let () = conn.set(key, i).await.unwrap();
        }
        let mut wanted = tagged.clone();
        wanted.insert(3, "{user42}:missing".to_string());
        let values: Vec<Option<u32>> = conn.mget(&wanted).await.unwrap();
        let mut expected_values: Vec<Option<u32>> = (0..10).map(Some).collect();
        expected_values.insert(3, None);
        assert_eq!(values, expected_values);

        // Keys of many slots: the client splits the MGET by slot itself.
        let spread: Vec<&String> = keys.iter().step_by(29).collect();
        let values: Vec<Option<String>> = conn.mget(&spread).await.unwrap();
        let expected_values: Vec<_> = (0..KEYS).step_by(29).map(|i| Some(format!("value:{i}"))).collect();
        assert_eq!(values, expected_values);
    });

    // Every request went straight to its owner: no node forwarded anything,
    // and each node holds exactly the keys it owns.
    assert_eq!(peer_requests(&cluster), peer_requests_before, "requests were forwarded");
    let mut owned = vec![0; NODES];
    for key in keys.iter().chain(&tagged) {
        let owner = cluster.owner_id(key);
        let index = cluster.running().position(|(_, n)| n.handle().node_id() == owner).expect("owner runs");
        owned[index] += 1;
    }
    assert!(owned.iter().all(|&n| n > 0), "every node owns some keys: {owned:?}");
    assert_eq!(local_keys(&cluster), owned);
}
