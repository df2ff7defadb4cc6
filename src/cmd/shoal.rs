//! Shoal's own introspection: SHOAL MEMBERS, SHOAL RING, SHOAL REBALANCE,
//! SHOAL HELP.
//!
//! Where CLUSTER shows the cluster in Redis's terms, SHOAL shows it in
//! Shoal's: node ids, member states, liveness, every advertised address and
//! the ring's parameters. Metadata follows CLUSTER NODES, which reveals as
//! much: flags `loading stale` (answered while loading and while the
//! cluster is down), ACL category `@slow`, and the `nondeterministic_output`
//! tip.

use bytes::Bytes;

use super::cluster::cluster_node_id;
use super::command::help_reply;
use super::{CmdError, CommandSpec, Ctx};
use crate::protocol::Frame;
use crate::ring::MemberState;
use crate::topology::{Topology, TopologyMember};

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec { name: "shoal", arity: -2, acl: SLOW, subcommands: SUBCOMMANDS, ..CommandSpec::BASE }];

const FLAGS: &[&str] = &["loading", "stale"];
const SLOW: &[&str] = &["@slow"];
const NONDETERMINISTIC: &[&str] = &["nondeterministic_output"];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "shoal|members",
        arity: 2,
        flags: FLAGS,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: members,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "shoal|ring",
        arity: 2,
        flags: FLAGS,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: ring,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "shoal|rebalance",
        arity: 2,
        flags: FLAGS,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: rebalance,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "shoal|leave",
        arity: 2,
        flags: &["admin", "noscript", "loading", "stale"],
        acl: &["@admin", "@slow", "@dangerous"],
        handler: leave,
        ..CommandSpec::BASE
    },
    CommandSpec { name: "shoal|help", arity: 2, flags: FLAGS, acl: SLOW, handler: help, ..CommandSpec::BASE },
];

/// The name SHOAL MEMBERS gives a member state.
pub fn state_name(state: MemberState) -> &'static str {
    match state {
        MemberState::Joining => "joining",
        MemberState::Active => "active",
        MemberState::Leaving => "leaving",
    }
}

fn pair(key: &str, value: Frame) -> (Frame, Frame) {
    (Frame::bulk(key), value)
}

fn member_entry(member: &TopologyMember) -> Frame {
    Frame::Map(vec![
        pair("node-id", Frame::bulk(&member.id)),
        pair("cluster-id", Frame::bulk(cluster_node_id(&member.id))),
        pair("state", Frame::bulk(state_name(member.state))),
        pair("liveness", Frame::bulk(if member.suspect { "suspect" } else { "alive" })),
        pair("client-addr", Frame::bulk(member.client_addr.to_string())),
        pair("peer-addr", Frame::bulk(member.peer_addr.to_string())),
        pair("gossip-addr", Frame::bulk(member.gossip_addr.to_string())),
        pair("metrics-port", Frame::Integer(member.metrics_port as i64)),
        pair("bump", Frame::Integer(member.bump as i64)),
        pair("started-at", Frame::Integer(member.started_at as i64)),
        pair("local", Frame::Boolean(member.is_local)),
    ])
}

/// The SHOAL MEMBERS reply: one map per live member, in node id order.
pub fn members_reply(topology: &Topology) -> Frame {
    Frame::Array(topology.members.iter().map(member_entry).collect())
}

/// The SHOAL RING reply: the serving ring's view id (16 hex digits), vnodes,
/// replica count, member count, and the slots each placed node owns.
pub fn ring_reply(topology: &Topology) -> Frame {
    let ring = &topology.serving;
    let counts = ring
        .slot_counts()
        .into_iter()
        .map(|(id, count)| (Frame::bulk(id), Frame::Integer(count as i64)))
        .collect();
    Frame::Map(vec![
        pair("view-id", Frame::bulk(format!("{:016x}", ring.view_id()))),
        pair("vnodes", Frame::Integer(ring.vnodes() as i64)),
        pair("replicas", Frame::Integer(ring.replica_count() as i64)),
        pair("members", Frame::Integer(ring.nodes().len() as i64)),
        pair("slots", Frame::Map(counts)),
    ])
}

/// What the replication layer reports about copies and moving slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebalanceInfo {
    /// Slots this node must copy and does not hold yet.
    pub slots_to_pull: u64,
    /// Slots this node is a serving copy of without holding them yet.
    pub under_replicated: u64,
    /// Slots this node holds a complete copy of.
    pub slots_held: u64,
    /// Keys held here, replica copies included.
    pub keys_held: u64,
    /// Keys pulled from other nodes since start.
    pub keys_pulled: u64,
    /// Bytes pulled from other nodes since start.
    pub bytes_pulled: u64,
    /// Slots pulled completely since start.
    pub slots_pulled: u64,
    /// Bytes per second of the latest pull pass.
    pub pull_rate: u64,
    /// Keys sent to nodes pulling from here.
    pub keys_served: u64,
    /// Slots handed off to a new owner.
    pub slots_handed_off: u64,
    /// Batches of key states sent to copies.
    pub replicated: u64,
    /// Of those, not acknowledged by a live copy.
    pub replication_failures: u64,
    /// Key states from owners applied here.
    pub applied: u64,
    /// Forwarded requests answered `wrong owner` here.
    pub wrong_owner_answers: u64,
    /// Attempts repeated here while the cluster converged.
    pub request_retries: u64,
    /// `-TRYAGAIN` replies sent to clients from here.
    pub tryagain_replies: u64,
}

/// Where the node reads [`RebalanceInfo`] from.
pub struct RebalanceSource(pub Box<dyn Fn() -> RebalanceInfo + Send + Sync>);

impl std::fmt::Debug for RebalanceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RebalanceSource")
    }
}

/// Slots whose copies differ between the serving and the target ring.
pub fn moving_slot_count(topology: &Topology) -> usize {
    crate::ring::moving_slots(&topology.serving, &topology.target).len()
}

/// The SHOAL REBALANCE reply.
pub fn rebalance_reply(topology: &Topology, info: &RebalanceInfo) -> Frame {
    let state = topology.local().map_or("unknown", |m| state_name(m.state));
    let int = |n: u64| Frame::Integer(n as i64);
    Frame::Map(vec![
        pair("state", Frame::bulk(state)),
        pair("moving_slots", int(moving_slot_count(topology) as u64)),
        pair("slots_to_pull", int(info.slots_to_pull)),
        pair("under_replicated_slots", int(info.under_replicated)),
        pair("slots_held", int(info.slots_held)),
        pair("keys_held", int(info.keys_held)),
        pair("keys_pulled", int(info.keys_pulled)),
        pair("bytes_pulled", int(info.bytes_pulled)),
        pair("slots_pulled", int(info.slots_pulled)),
        pair("pull_bytes_per_sec", int(info.pull_rate)),
        pair("keys_served", int(info.keys_served)),
        pair("slots_handed_off", int(info.slots_handed_off)),
        pair("writes_replicated", int(info.replicated)),
        pair("replication_failures", int(info.replication_failures)),
        pair("states_applied", int(info.applied)),
        pair("wrong_owner_answers", int(info.wrong_owner_answers)),
        pair("request_retries", int(info.request_retries)),
        pair("tryagain_replies", int(info.tryagain_replies)),
    ])
}

fn rebalance(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(rebalance_reply(&ctx.server.topology(), &ctx.server.rebalance_info()))
}

/// Starts a graceful leave: the node turns `leaving`, keeps serving until
/// the nodes taking over its slots hold them (at most
/// `shutdown.drain_timeout`), hands them off, leaves and exits.
fn leave(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    ctx.server.leave.cancel();
    Ok(Frame::ok())
}

fn members(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(members_reply(&ctx.server.topology()))
}

fn ring(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(ring_reply(&ctx.server.topology()))
}

fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "SHOAL",
        &[
            "MEMBERS",
            "    Return the live members: node id, cluster id, state (joining|active|leaving),",
            "    liveness (alive|suspect), addresses, metrics port, bump, start time, local flag.",
            "RING",
            "    Return the serving ring: view id, vnodes, replicas, members and slots per node.",
            "LEAVE",
            "    Leave the cluster gracefully: hand this node's slots over while serving, then exit.",
            "REBALANCE",
            "    Return this node's state, moving slots, slots left to pull, under-replicated",
            "    slots, keys and bytes pulled, the pull rate and replication counters.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{TestClient, bulk, err, int, topology};
    use crate::ring::MemberState::{Active, Joining, Leaving};

    fn map_get<'a>(frame: &'a Frame, key: &str) -> &'a Frame {
        let Frame::Map(pairs) = frame else { panic!("not a map: {frame:?}") };
        &pairs.iter().find(|(k, _)| *k == bulk(key)).unwrap_or_else(|| panic!("no {key}")).1
    }

    #[test]
    fn members_of_one_node() {
        let mut c = TestClient::with_topology(topology("solo", &[("solo", Active, false)], 256, 1));
        assert_eq!(
            c.run(&["shoal", "members"]),
            Frame::Array(vec![Frame::Map(vec![
                (bulk("node-id"), bulk("solo")),
                (bulk("cluster-id"), bulk("49f25741ff0db65a7c4290aa73f34b4d4a3644c6")),
                (bulk("state"), bulk("active")),
                (bulk("liveness"), bulk("alive")),
                (bulk("client-addr"), bulk("127.0.0.1:7000")),
                (bulk("peer-addr"), bulk("127.0.0.1:17000")),
                (bulk("gossip-addr"), bulk("127.0.0.1:27000")),
                (bulk("metrics-port"), int(9000)),
                (bulk("bump"), int(10)),
                (bulk("started-at"), int(1_700_000_000_000)),
                (bulk("local"), Frame::Boolean(true)),
            ])])
        );
    }

    #[test]
    fn members_of_five_nodes_in_id_order() {
        let members = [
            ("n5", Active, false),
            ("n2", Joining, false),
            ("n3", Active, false),
            ("n4", Leaving, true),
            ("n1", Active, false),
        ];
        let mut c = TestClient::with_topology(topology("n3", &members, 16, 1));
        let Frame::Array(entries) = c.run(&["shoal", "members"]) else { panic!() };
        let field = |key: &str| entries.iter().map(|e| map_get(e, key).clone()).collect::<Vec<_>>();
        assert_eq!(field("node-id"), ["n1", "n2", "n3", "n4", "n5"].map(bulk));
        assert_eq!(field("state"), ["active", "joining", "active", "leaving", "active"].map(bulk));
        assert_eq!(field("liveness"), ["alive", "alive", "alive", "suspect", "alive"].map(bulk));
        assert_eq!(field("local"), [false, false, true, false, false].map(Frame::Boolean));
        // Listed order was n5 n2 n3 n4 n1: ports follow the listing.
        assert_eq!(field("client-addr")[0], bulk("127.0.0.1:7004"));
        assert_eq!(field("peer-addr")[0], bulk("127.0.0.1:17004"));
    }

    #[test]
    fn ring_reports_parameters_and_slot_counts() {
        let members = [("node-a", Active, false), ("node-b", Active, false), ("node-c", Joining, false)];
        let topo = topology("node-a", &members, 1, 1);
        let view_id = format!("{:016x}", topo.view_id());
        let mut c = TestClient::with_topology(topo);
        assert_eq!(
            c.run(&["shoal", "ring"]),
            Frame::Map(vec![
                (bulk("view-id"), bulk(&view_id)),
                (bulk("vnodes"), int(1)),
                (bulk("replicas"), int(1)),
                (bulk("members"), int(2)),
                (bulk("slots"), Frame::Map(vec![(bulk("node-a"), int(13876)), (bulk("node-b"), int(2508))])),
            ])
        );
        let mut solo = TestClient::with_topology(topology("solo", &[("solo", Active, false)], 256, 2));
        let ring = solo.run(&["shoal", "ring"]);
        assert_eq!(map_get(&ring, "vnodes"), &int(256));
        assert_eq!(map_get(&ring, "replicas"), &int(2));
        assert_eq!(map_get(&ring, "slots"), &Frame::Map(vec![(bulk("solo"), int(16384))]));
    }

    #[test]
    fn rebalance_reports_state_and_moving_slots() {
        let members = [("n1", Active, false), ("n2", Active, false), ("n3", Joining, false)];
        let mut c = TestClient::with_topology(topology("n1", &members, 16, 1));
        let reply = c.run(&["shoal", "rebalance"]);
        assert_eq!(map_get(&reply, "state"), &bulk("active"));
        let Frame::Integer(moving) = map_get(&reply, "moving_slots") else { panic!("{reply:?}") };
        assert!(*moving > 0, "a joining member moves slots");
        // Without a replication layer behind it, the counters read zero.
        assert_eq!(map_get(&reply, "slots_to_pull"), &int(0));
        assert_eq!(map_get(&reply, "tryagain_replies"), &int(0));
        let mut settled = TestClient::with_topology(topology("n1", &members[..2], 16, 1));
        assert_eq!(map_get(&settled.run(&["shoal", "rebalance"]), "moving_slots"), &int(0));
    }

    #[test]
    fn leave_asks_the_node_to_hand_over_and_go() {
        let mut c = TestClient::new();
        assert!(!c.server.leave.is_cancelled());
        assert_eq!(c.run(&["shoal", "leave"]), Frame::ok());
        assert!(c.server.leave.is_cancelled());
        assert!(!c.server.shutdown.is_cancelled(), "the node keeps serving while it hands over");
    }

    #[test]
    fn help_and_errors() {
        let mut c = TestClient::new();
        let Frame::Array(lines) = c.run(&["shoal", "help"]) else { panic!() };
        assert_eq!(
            lines[0],
            Frame::Simple("SHOAL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into())
        );
        assert_eq!(lines[1], Frame::Simple("MEMBERS".into()));
        assert_eq!(c.run(&["shoal", "nope"]), err("ERR unknown subcommand 'nope'. Try SHOAL HELP."));
        assert_eq!(c.run(&["shoal"]), err("ERR wrong number of arguments for 'shoal' command"));
        assert_eq!(
            c.run(&["shoal", "ring", "x"]),
            err("ERR wrong number of arguments for 'shoal|ring' command")
        );
    }
}
