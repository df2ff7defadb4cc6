//! Membership scenarios on loopback with the fast profile: joins, crashes,
//! leaves, restarts, merges, state changes, authentication and bad input.
//!
//! Every node binds 127.0.0.1:0. Waits poll a condition until a generous
//! deadline (they return as soon as it holds); detection times are printed,
//! not asserted.

use std::net::SocketAddr;
use std::time::Duration;

use shoal::membership::{
    GossipProfile, Liveness, MemberView, Membership, MembershipConfig, MembershipHandle, StatsSnapshot,
};
use shoal::ring::MemberState;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Upper bound for any wait; far above the expected seconds.
const DEADLINE: Duration = Duration::from_secs(20);

struct Node {
    id: String,
    addr: SocketAddr,
    handle: MembershipHandle,
    shutdown: CancellationToken,
}

impl Node {
    fn view(&self) -> MemberView {
        self.handle.members().borrow().clone()
    }

    fn ids(&self) -> Vec<String> {
        self.view().members.iter().map(|m| m.identity.node_id.clone()).collect()
    }

    fn stats(&self) -> StatsSnapshot {
        self.handle.stats()
    }

    /// Stops without leaving: a crash as the cluster sees it.
    async fn crash(&self) {
        self.shutdown.cancel();
        self.handle.stopped().await;
    }
}

fn init_tracing() {
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn config(id: &str, seeds: &[SocketAddr]) -> MembershipConfig {
    let mut config = MembershipConfig::new(id);
    config.profile = GossipProfile::Fast;
    config.seeds = seeds.iter().map(ToString::to_string).collect();
    config.rng_seed = Some(id.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    config
}

async fn start(config: MembershipConfig) -> Node {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    start_on(config, socket)
}

fn start_on(config: MembershipConfig, socket: UdpSocket) -> Node {
    let id = config.node_id.clone();
    let addr = socket.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let handle = Membership::start(config, socket, shutdown.clone()).unwrap();
    Node { id, addr, handle, shutdown }
}

/// `n` nodes `<prefix>1..n`; all but the first use the first as their seed.
async fn cluster(prefix: &str, n: usize) -> Vec<Node> {
    let first = start(config(&format!("{prefix}1"), &[])).await;
    let seed = first.addr;
    let mut nodes = vec![first];
    for i in 2..=n {
        nodes.push(start(config(&format!("{prefix}{i}"), &[seed])).await);
    }
    nodes
}

async fn stop_all(nodes: &[Node]) {
    for node in nodes {
        node.crash().await;
    }
}

/// Polls `condition` until it holds; panics after [`DEADLINE`]. Returns how
/// long it took.
async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

fn all_see(nodes: &[&Node], expected: &[String]) -> bool {
    nodes.iter().all(|n| n.ids() == expected)
}

fn node_ids(nodes: &[Node]) -> Vec<String> {
    let mut ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
    ids.sort();
    ids
}

fn refs(nodes: &[Node]) -> Vec<&Node> {
    nodes.iter().collect()
}

#[tokio::test]
async fn three_nodes_join_through_one_seed_and_bootstrap() {
    init_tracing();
    // Every node gets the same seed list, the seed itself included, as a
    // deployment with one shared configuration would.
    let seed_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let seed = seed_socket.local_addr().unwrap();
    let first = {
        let mut c = config("t1", &[seed]);
        c.bootstrap_expect = 3;
        start_on(c, seed_socket)
    };
    assert!(!first.handle.is_bootstrapped());
    let mut nodes = vec![first];
    for id in ["t2", "t3"] {
        nodes.push(start(config(id, &[seed])).await);
    }
    let expected = node_ids(&nodes);
    let took = wait_for("3 nodes to see each other", || all_see(&refs(&nodes), &expected)).await;
    eprintln!("3 nodes joined through one seed in {took:?}");
    assert!(nodes[0].handle.is_bootstrapped());
    for node in &nodes {
        let stats = node.stats();
        assert_eq!((stats.foca_errors, stats.rejected_total(), stats.send_errors), (0, 0, 0), "{stats:?}");
    }
    let view = nodes[1].view();
    assert!(view.get("t2").unwrap().is_local);
    assert_eq!(view.get("t3").unwrap().identity.gossip_addr, nodes[2].addr);
    stop_all(&nodes).await;
}

#[tokio::test]
async fn bootstrap_timeout_counts_as_bootstrapped() {
    let mut c = config("alone", &[]);
    c.bootstrap_expect = 5;
    c.bootstrap_timeout = Duration::from_millis(200);
    let node = start(c).await;
    assert!(!node.handle.is_bootstrapped());
    wait_for("bootstrap timeout", || node.handle.is_bootstrapped()).await;
    node.crash().await;
}

#[tokio::test]
async fn five_nodes_join_through_one_seed() {
    init_tracing();
    let nodes = cluster("f", 5).await;
    let expected = node_ids(&nodes);
    let took = wait_for("5 nodes to see each other", || all_see(&refs(&nodes), &expected)).await;
    eprintln!("5 nodes joined through one seed in {took:?}");
    stop_all(&nodes).await;
}

#[tokio::test]
async fn crashed_node_is_declared_down_by_all() {
    init_tracing();
    let nodes = cluster("c", 5).await;
    let expected = node_ids(&nodes);
    wait_for("5 nodes to see each other", || all_see(&refs(&nodes), &expected)).await;

    let (victim, survivors) = nodes.split_last().unwrap();
    victim.crash().await;
    let crashed_at = Instant::now();
    let mut detected: Vec<Option<Duration>> = vec![None; survivors.len()];
    let mut suspected = false;
    wait_for("survivors to drop the crashed node", || {
        for (i, node) in survivors.iter().enumerate() {
            match node.view().get(&victim.id) {
                None if detected[i].is_none() => detected[i] = Some(crashed_at.elapsed()),
                Some(member) if member.liveness == Liveness::Suspect => suspected = true,
                _ => {}
            }
        }
        detected.iter().all(Option::is_some)
    })
    .await;
    assert!(suspected, "the view shows a member as suspect before it is declared down");
    let times: Vec<Duration> = detected.into_iter().flatten().collect();
    eprintln!(
        "fast profile, 5 nodes: crash detected by the first survivor after {:?}, by all after {:?} ({times:?})",
        times.iter().min().unwrap(),
        times.iter().max().unwrap()
    );
    for node in survivors {
        assert_eq!(node.view().len(), 4);
        assert!(node.stats().members_down >= 1);
    }
    stop_all(survivors).await;
}

#[tokio::test]
async fn graceful_leave_is_seen_quickly() {
    init_tracing();
    let nodes = cluster("l", 4).await;
    let expected = node_ids(&nodes);
    wait_for("4 nodes to see each other", || all_see(&refs(&nodes), &expected)).await;

    let (leaver, rest) = nodes.split_last().unwrap();
    let left_at = Instant::now();
    leaver.handle.leave().await.unwrap();
    assert!(leaver.view().is_empty());
    let took =
        wait_for("the others to drop the leaver", || rest.iter().all(|n| n.view().get(&leaver.id).is_none()))
            .await;
    eprintln!("graceful leave seen by all 3 others after {:?}", left_at.elapsed().max(took));
    leaver.handle.stopped().await;
    assert!(leaver.handle.set_state(MemberState::Active).await.is_err());
    stop_all(rest).await;
}

#[tokio::test]
async fn restart_on_the_same_port_replaces_the_old_self() {
    init_tracing();
    let mut nodes = cluster("r", 3).await;
    let expected = node_ids(&nodes);
    wait_for("3 nodes to see each other", || all_see(&refs(&nodes), &expected)).await;

    let old = nodes.pop().unwrap();
    let old_identity = old.handle.local_identity();
    old.crash().await;
    let socket = UdpSocket::bind(old.addr).await.unwrap();
    let restarted = start_on(config(&old.id, &[nodes[0].addr]), socket);
    let new_identity = restarted.handle.local_identity();
    assert!(new_identity.started_at >= old_identity.started_at && new_identity.bump > old_identity.bump);

    wait_for("all to see the restarted node", || {
        nodes.iter().all(|n| n.view().get(&old.id).is_some_and(|m| m.identity == new_identity))
            && restarted.ids() == expected
    })
    .await;
    assert!(nodes[0].stats().restarts >= 1 || nodes[1].stats().restarts >= 1);
    nodes.push(restarted);
    for node in &nodes {
        assert_eq!(node.stats().duplicate_node_ids, 0);
    }
    stop_all(&nodes).await;
}

#[tokio::test]
async fn restart_on_another_port_replaces_the_old_self() {
    init_tracing();
    let grace = |mut c: MembershipConfig| {
        // Longer than any failure detection here, so a restart is never
        // mistaken for a duplicate.
        c.overrides.duplicate_grace = Some(Duration::from_secs(15));
        c
    };
    let first = start(grace(config("p1", &[]))).await;
    let seed = first.addr;
    let mut nodes =
        vec![first, start(grace(config("p2", &[seed]))).await, start(grace(config("p3", &[seed]))).await];
    let expected = node_ids(&nodes);
    wait_for("3 nodes to see each other", || all_see(&refs(&nodes), &expected)).await;

    let old = nodes.pop().unwrap();
    old.crash().await;
    let restarted = start(grace(config(&old.id, &[seed]))).await;
    assert_ne!(restarted.addr, old.addr);
    let took = wait_for("all to see the node at its new address", || {
        nodes.iter().all(|n| n.view().get(&old.id).is_some_and(|m| m.identity.gossip_addr == restarted.addr))
    })
    .await;
    eprintln!("restart on a new port seen by all after {took:?}");
    // The old address is declared down in the usual way.
    wait_for("the old address to be declared down", || nodes.iter().all(|n| n.stats().members_down >= 1))
        .await;
    for node in &nodes {
        assert_eq!(node.view().len(), 3);
        assert_eq!(node.stats().duplicate_node_ids, 0);
        assert!(node.stats().restarts >= 1);
    }
    nodes.push(restarted);
    stop_all(&nodes).await;
}

#[tokio::test]
async fn separate_groups_merge_once_one_knows_the_other() {
    init_tracing();
    let a = cluster("ga", 3).await;
    let b = cluster("gb", 2).await;
    wait_for("group A to form", || all_see(&refs(&a), &node_ids(&a))).await;
    wait_for("group B to form", || all_see(&refs(&b), &node_ids(&b))).await;

    b[1].handle.add_seed(a[0].addr.to_string());
    let all: Vec<&Node> = a.iter().chain(b.iter()).collect();
    let expected = sorted(&["ga1", "ga2", "ga3", "gb1", "gb2"]);
    let took = wait_for("the groups to merge", || all_see(&all, &expected)).await;
    eprintln!("two groups merged in {took:?}");
    stop_all(&a).await;
    stop_all(&b).await;
}

#[tokio::test]
async fn state_change_propagates_without_looking_like_a_failure() {
    init_tracing();
    let seed_node = {
        let mut c = config("s1", &[]);
        c.initial_state = MemberState::Joining;
        start(c).await
    };
    let seed = seed_node.addr;
    let mut nodes = vec![seed_node];
    for id in ["s2", "s3"] {
        let mut c = config(id, &[seed]);
        c.initial_state = MemberState::Joining;
        nodes.push(start(c).await);
    }
    let expected = node_ids(&nodes);
    wait_for("3 nodes to see each other", || all_see(&refs(&nodes), &expected)).await;
    let downs_before: Vec<u64> = nodes.iter().map(|n| n.stats().members_down).collect();

    let before = nodes[1].handle.local_identity();
    let after = nodes[1].handle.set_state(MemberState::Active).await.unwrap();
    assert_eq!(after.state, MemberState::Active);
    assert!(after.bump > before.bump && after.started_at == before.started_at);
    assert_eq!(nodes[1].handle.local_identity(), after);
    let took = wait_for("all to see s2 active", || {
        nodes.iter().all(|n| n.view().get("s2").is_some_and(|m| m.identity.state == MemberState::Active))
    })
    .await;
    eprintln!("state change seen by all after {took:?}");

    nodes[1].handle.set_state(MemberState::Leaving).await.unwrap();
    wait_for("all to see s2 leaving", || {
        nodes.iter().all(|n| n.view().get("s2").is_some_and(|m| m.identity.state == MemberState::Leaving))
    })
    .await;
    for (node, before) in nodes.iter().zip(downs_before) {
        assert_eq!(node.stats().members_down, before, "a state change is not a failure");
        assert_eq!(node.view().len(), 3);
    }
    // Setting the current state again changes nothing.
    let same = nodes[1].handle.set_state(MemberState::Leaving).await.unwrap();
    assert_eq!(same, nodes[1].handle.local_identity());
    stop_all(&nodes).await;
}

/// A bare UDP socket posing as a seed of `node`, to capture a real packet.
async fn capture_packet_from(node_config: MembershipConfig) -> (Node, UdpSocket, Vec<u8>) {
    let fake_seed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut c = node_config;
    c.seeds = vec![fake_seed.local_addr().unwrap().to_string()];
    let node = start(c).await;
    let mut buf = vec![0u8; 2048];
    let (len, from) =
        tokio::time::timeout(DEADLINE, fake_seed.recv_from(&mut buf)).await.expect("an announce").unwrap();
    assert_eq!(from, node.addr);
    buf.truncate(len);
    (node, fake_seed, buf)
}

#[tokio::test]
async fn bad_mac_and_wrong_secret_are_rejected_and_the_cluster_keeps_working() {
    init_tracing();
    let secret = |mut c: MembershipConfig, s: &[u8]| {
        c.secret = Some(s.to_vec());
        c
    };
    let (n1, fake_seed, mut packet) = capture_packet_from(secret(config("m1", &[]), b"right")).await;
    let last = packet.len() - 1;
    packet[last] ^= 0x5a;
    for _ in 0..3 {
        fake_seed.send_to(&packet, n1.addr).await.unwrap();
    }
    wait_for("bad MACs counted", || n1.stats().rejected_bad_mac >= 3).await;

    let n2 = start(secret(config("m2", &[n1.addr]), b"right")).await;
    let intruder = start(secret(config("intruder", &[n1.addr]), b"wrong")).await;
    let members = [&n1, &n2];
    wait_for("m1 and m2 to see each other", || all_see(&members, &sorted(&["m1", "m2"]))).await;
    wait_for("the intruder's packets to be rejected", || {
        let s = n1.stats();
        s.rejected_bad_mac + s.rejected_unknown_key >= 5
    })
    .await;
    let n3 = start(secret(config("m3", &[n1.addr]), b"right")).await;
    let members = [&n1, &n2, &n3];
    wait_for("m3 to join", || all_see(&members, &sorted(&["m1", "m2", "m3"]))).await;
    assert_eq!(intruder.ids(), ["intruder"]);
    for node in members {
        assert!(node.view().get("intruder").is_none());
    }
    for node in [&n1, &n2, &n3, &intruder] {
        node.crash().await;
    }
}

#[tokio::test]
async fn garbage_and_foreign_packets_are_counted_and_ignored() {
    init_tracing();
    let (n1, fake_seed, packet) = capture_packet_from(config("g1", &[])).await;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 3, 9, 64, 700, 1400] {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        fake_seed.send_to(&garbage, n1.addr).await.unwrap();
    }
    // A valid envelope around a payload foca cannot decode.
    let mut bad_payload = packet[..9].to_vec();
    bad_payload.extend_from_slice(&[0xff; 40]);
    fake_seed.send_to(&bad_payload, n1.addr).await.unwrap();
    // An envelope version from the future.
    let mut future = packet.clone();
    future[3] = 99;
    fake_seed.send_to(&future, n1.addr).await.unwrap();
    // Too large for the configured packet size.
    fake_seed.send_to(&vec![0u8; 1500], n1.addr).await.unwrap();

    wait_for("garbage to be counted", || {
        let s = n1.stats();
        s.rejected_bad_magic >= 7
            && s.rejected_malformed >= 1
            && s.rejected_bad_version >= 1
            && s.rejected_too_large >= 1
    })
    .await;

    let other_cluster = {
        let mut c = config("foreign", &[n1.addr]);
        c.cluster_name = "elsewhere".into();
        start(c).await
    };
    wait_for("the foreign cluster's packets to be rejected", || n1.stats().rejected_wrong_cluster >= 1).await;

    let n2 = start(config("g2", &[n1.addr])).await;
    wait_for("g2 to join after the garbage", || all_see(&[&n1, &n2], &sorted(&["g1", "g2"]))).await;
    assert!(n1.view().get("foreign").is_none());
    for node in [&n1, &n2, &other_cluster] {
        node.crash().await;
    }
}

#[tokio::test]
async fn duplicate_node_id_on_two_live_nodes_is_detected() {
    init_tracing();
    let short_grace = |mut c: MembershipConfig| {
        c.overrides.duplicate_grace = Some(Duration::from_secs(1));
        c
    };
    let n1 = start(short_grace(config("d1", &[]))).await;
    let twin_a = start(short_grace(config("twin", &[n1.addr]))).await;
    let twin_b = start(short_grace(config("twin", &[n1.addr]))).await;
    let newest = twin_b.handle.local_identity();
    assert!(newest.bump > twin_a.handle.local_identity().bump);

    let took = wait_for("d1 to report the duplicate", || n1.stats().duplicate_node_ids >= 1).await;
    eprintln!("duplicate node id reported after {took:?}");
    let view = n1.view();
    assert_eq!(view.len(), 2);
    assert_eq!(view.get("twin").unwrap().identity, newest);
    wait_for("both twins to report it too", || {
        twin_a.stats().duplicate_node_ids >= 1 && twin_b.stats().duplicate_node_ids >= 1
    })
    .await;
    assert_eq!(n1.stats().duplicate_node_ids, 1, "reported once per conflict");
    for node in [&n1, &twin_a, &twin_b] {
        node.crash().await;
    }
}
