//! Cluster introspection: CLUSTER (INFO MYID MYSHARDID SLOTS SHARDS NODES
//! KEYSLOT COUNTKEYSINSLOT GETKEYSINSLOT HELP), READONLY and READWRITE.
//!
//! Every Shoal node is a Redis Cluster node (a cluster of one by default),
//! and these replies describe the node's published [`Topology`] in Redis
//! Cluster's exact formats, so cluster-aware clients (redis-py's
//! `RedisCluster`, redis-rs cluster-async, ioredis `Cluster`, `redis-cli -c`)
//! route each key straight to its owner. Ownership comes from the serving
//! ring; each member is one Redis master, named by a 40-hex id derived from
//! its node id ([`cluster_node_id`]).
//!
//! What Redis Cluster has and Shoal does not is reported with fixed values:
//! - ping/pong times in `CLUSTER NODES` are 0, and message counters are 0;
//! - epochs: Shoal has no elections. A serving member's config epoch is its
//!   1-based position among the serving members sorted by node id (distinct,
//!   as Redis requires of masters, and equal on nodes that see the same
//!   members); joining members have 0, and the current epoch is the number
//!   of serving members (the highest config epoch, as in Redis);
//! - replicas are not listed yet (see [`LIST_REPLICAS`]): every member is a
//!   master, and `replication-offset` is 0.
//!
//! Commands that change a Redis cluster (ADDSLOTS, MEET, FAILOVER, RESET,
//! ...) are not offered: membership and placement are automatic.

use std::fmt::Write as _;

use bytes::Bytes;

use super::args::int;
use super::command::help_reply;
use super::{CmdError, CommandSpec, Ctx, ok};
use crate::keyslot::{SLOTS, Slot, key_slot};
use crate::protocol::Frame;
use crate::ring::{MemberState, RingSnapshot, SlotRange};
use crate::store::now_ms;
use crate::topology::{Topology, TopologyMember};

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cluster",
        arity: -2,
        acl: &["@slow"],
        subcommands: SUBCOMMANDS,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "readonly",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        acl: &["@fast", "@connection"],
        handler: readonly,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "readwrite",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        acl: &["@fast", "@connection"],
        handler: readwrite,
        ..CommandSpec::BASE
    },
];

const STALE: &[&str] = &["stale"];
const SLOW: &[&str] = &["@slow"];
const NONDETERMINISTIC: &[&str] = &["nondeterministic_output"];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cluster|info",
        arity: 2,
        flags: STALE,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: info,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|myid",
        arity: 2,
        flags: STALE,
        acl: SLOW,
        handler: myid,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|myshardid",
        arity: 2,
        flags: STALE,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: myshardid,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|slots",
        arity: 2,
        flags: STALE,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: slots,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|shards",
        arity: 2,
        flags: STALE,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: shards,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|nodes",
        arity: 2,
        flags: STALE,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: nodes,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|keyslot",
        arity: 3,
        flags: STALE,
        acl: SLOW,
        handler: keyslot,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|countkeysinslot",
        arity: 3,
        flags: STALE,
        acl: SLOW,
        handler: countkeysinslot,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|getkeysinslot",
        arity: 4,
        flags: STALE,
        acl: SLOW,
        tips: NONDETERMINISTIC,
        handler: getkeysinslot,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "cluster|help",
        arity: 2,
        flags: &["loading", "stale"],
        acl: SLOW,
        handler: help,
        ..CommandSpec::BASE
    },
];

/// Whether `CLUSTER SLOTS` lists each range's replicas after its master.
/// Off until replication exists: the ring names replicas, but they hold no
/// data yet, and a client reading from one (after `READONLY`) would miss
/// every key.
pub const LIST_REPLICAS: bool = false;

// ---------------------------------------------------------------- ids

/// The 40-hex id Redis tools expect for a node: the lowercase hex SHA-1 of
/// its node id. Stable for a node id, so it survives restarts.
pub fn cluster_node_id(node_id: &str) -> String {
    sha1_smol::Sha1::from(node_id.as_bytes()).digest().to_string()
}

/// The 40-hex shard id of a node (`CLUSTER MYSHARDID`): every member is a
/// shard of its own, so this is the SHA-1 of `shard:` and its node id.
pub fn cluster_shard_id(node_id: &str) -> String {
    sha1_smol::Sha1::from(format!("shard:{node_id}")).digest().to_string()
}

// ---------------------------------------------------------------- ranges

/// A maximal run of slots over which the owner (and, when asked for, the
/// replica list) does not change. Indices refer to the ring's `nodes()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRun {
    /// The slots of the run.
    pub range: SlotRange,
    /// The owner's index.
    pub owner: usize,
    /// The replicas' indices, nearest first (empty unless asked for).
    pub replicas: Vec<usize>,
}

/// Splits the ring into runs with one owner and, if `with_replicas`, one
/// replica list each, in slot order, in one pass over the slots. Empty for
/// an empty ring; otherwise the runs cover every slot.
pub fn copy_runs(ring: &RingSnapshot, with_replicas: bool) -> Vec<CopyRun> {
    let mut runs: Vec<CopyRun> = Vec::new();
    if ring.is_empty() {
        return runs;
    }
    for slot in 0..SLOTS as Slot {
        let Some(owner) = ring.owner_index(slot) else { break };
        if let Some(last) = runs.last_mut() {
            let same_replicas =
                !with_replicas || last.replicas.iter().copied().eq(ring.replica_indices(slot));
            if last.owner == owner && same_replicas {
                last.range.end = slot;
                continue;
            }
        }
        let replicas = if with_replicas { ring.replica_indices(slot).collect() } else { Vec::new() };
        runs.push(CopyRun { range: SlotRange::new(slot, slot), owner, replicas });
    }
    runs
}

/// What the CLUSTER replies need of the topology, computed once per reply:
/// members in id order with their Redis ids, epochs and owned slot runs.
struct ClusterView<'a> {
    /// One per `topology.members`, same order.
    nodes: Vec<NodeView<'a>>,
    /// For each ring node index, the index in `nodes` (None if the ring
    /// names a node the topology does not list, which a consistent
    /// topology never does).
    by_ring_index: Vec<Option<usize>>,
}

struct NodeView<'a> {
    member: &'a TopologyMember,
    id40: String,
    epoch: u64,
    ranges: Vec<SlotRange>,
}

impl<'a> ClusterView<'a> {
    fn new(topology: &'a Topology) -> ClusterView<'a> {
        let mut serving_seen = 0;
        let mut nodes: Vec<NodeView<'a>> = topology
            .members
            .iter()
            .map(|member| {
                let epoch = if member.state.is_serving() {
                    serving_seen += 1;
                    serving_seen
                } else {
                    0
                };
                NodeView { member, id40: cluster_node_id(&member.id), epoch, ranges: Vec::new() }
            })
            .collect();
        let ring = &topology.serving;
        let by_ring_index: Vec<Option<usize>> = ring
            .nodes()
            .iter()
            .map(|node| topology.members.binary_search_by(|m| m.id.as_str().cmp(&node.id)).ok())
            .collect();
        for (range, owner) in ring.all_ranges() {
            if let Some(index) = by_ring_index[owner] {
                nodes[index].ranges.push(range);
            }
        }
        ClusterView { nodes, by_ring_index }
    }

    fn node_of_ring_index(&self, index: usize) -> Option<&NodeView<'a>> {
        self.by_ring_index.get(index).copied().flatten().map(|i| &self.nodes[i])
    }

    fn local(&self) -> Option<&NodeView<'a>> {
        self.nodes.iter().find(|n| n.member.is_local)
    }

    /// The current epoch: the highest config epoch.
    fn current_epoch(&self) -> u64 {
        self.nodes.iter().map(|n| n.epoch).max().unwrap_or(0)
    }
}

impl NodeView<'_> {
    fn ip(&self) -> String {
        self.member.client_addr.ip().to_string()
    }

    fn port(&self) -> u16 {
        self.member.client_addr.port()
    }

    fn slot_count(&self) -> usize {
        self.ranges.iter().map(SlotRange::len).sum()
    }
}

// ---------------------------------------------------------------- INFO

/// The `CLUSTER INFO` fields after `cluster_state`, in Redis's order.
pub fn cluster_info_fields(topology: &Topology) -> Vec<(&'static str, u64)> {
    let view = ClusterView::new(topology);
    let assigned: usize = view.nodes.iter().map(NodeView::slot_count).sum();
    let pfail: usize = view.nodes.iter().filter(|n| n.member.suspect).map(NodeView::slot_count).sum();
    let size = view.nodes.iter().filter(|n| !n.ranges.is_empty()).count();
    let my_epoch = view.local().map_or(0, |n| n.epoch);
    vec![
        ("cluster_slots_assigned", assigned as u64),
        ("cluster_slots_ok", (assigned - pfail) as u64),
        ("cluster_slots_pfail", pfail as u64),
        ("cluster_slots_fail", 0),
        ("cluster_known_nodes", topology.members.len() as u64),
        ("cluster_size", size as u64),
        ("cluster_current_epoch", view.current_epoch()),
        ("cluster_my_epoch", my_epoch),
        ("cluster_stats_messages_sent", 0),
        ("cluster_stats_messages_received", 0),
        ("total_cluster_links_buffer_limit_exceeded", 0),
    ]
}

/// `cluster_state`: `ok` when every slot has an owner in the serving ring.
pub fn cluster_state(topology: &Topology) -> &'static str {
    if topology.all_slots_owned() { "ok" } else { "fail" }
}

fn info(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    let topology = ctx.server.topology();
    let mut text = format!("cluster_state:{}\r\n", cluster_state(&topology));
    for (name, value) in cluster_info_fields(&topology) {
        let _ = write!(text, "{name}:{value}\r\n");
    }
    Ok(Frame::Verbatim(Bytes::from(text)))
}

/// The `INFO cluster` section's fields after `cluster_enabled:1`: Shoal's
/// own view of the cluster.
pub fn info_section_fields(topology: &Topology) -> Vec<(&'static str, String)> {
    let owned =
        topology.serving.slot_counts().iter().find(|(id, _)| *id == topology.local_id).map_or(0, |c| c.1);
    vec![
        ("shoal_node_id", topology.local_id.clone()),
        ("shoal_view_id", format!("{:016x}", topology.view_id())),
        ("shoal_members", topology.members.len().to_string()),
        ("shoal_slots_owned", owned.to_string()),
    ]
}

// ---------------------------------------------------------------- ids

fn myid(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::bulk(cluster_node_id(&ctx.server.topology().local_id)))
}

fn myshardid(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::bulk(cluster_shard_id(&ctx.server.topology().local_id)))
}

// ---------------------------------------------------------------- SLOTS

/// One node in a `CLUSTER SLOTS` range: ip, port, id and a metadata map
/// (Redis puts the hostname there when one is announced).
fn slots_node(node: &NodeView<'_>) -> Frame {
    Frame::Array(vec![
        Frame::bulk(node.ip()),
        Frame::Integer(node.port() as i64),
        Frame::bulk(&node.id40),
        Frame::Map(Vec::new()),
    ])
}

/// The `CLUSTER SLOTS` reply of a topology.
pub fn slots_reply(topology: &Topology, with_replicas: bool) -> Frame {
    let view = ClusterView::new(topology);
    let mut out = Vec::new();
    for run in copy_runs(&topology.serving, with_replicas) {
        let Some(owner) = view.node_of_ring_index(run.owner) else { continue };
        let mut entry = vec![
            Frame::Integer(run.range.start as i64),
            Frame::Integer(run.range.end as i64),
            slots_node(owner),
        ];
        entry.extend(run.replicas.iter().filter_map(|&r| view.node_of_ring_index(r)).map(slots_node));
        out.push(Frame::Array(entry));
    }
    Frame::Array(out)
}

fn slots(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(slots_reply(&ctx.server.topology(), LIST_REPLICAS))
}

// ---------------------------------------------------------------- SHARDS

/// `health` in `CLUSTER SHARDS`: a joining member is still pulling its data.
fn health(member: &TopologyMember) -> &'static str {
    match member.state {
        MemberState::Joining => "loading",
        MemberState::Active | MemberState::Leaving => "online",
    }
}

fn shard_node(node: &NodeView<'_>) -> Frame {
    let ip = node.ip();
    Frame::Map(vec![
        (Frame::bulk("id"), Frame::bulk(&node.id40)),
        (Frame::bulk("port"), Frame::Integer(node.port() as i64)),
        (Frame::bulk("ip"), Frame::bulk(&ip)),
        (Frame::bulk("endpoint"), Frame::bulk(&ip)),
        (Frame::bulk("role"), Frame::bulk("master")),
        (Frame::bulk("replication-offset"), Frame::Integer(0)),
        (Frame::bulk("health"), Frame::bulk(health(node.member))),
    ])
}

/// The `CLUSTER SHARDS` reply: one shard per member (in node id order), its
/// slots as a flat `start, end, ...` list (empty for a member that owns
/// none yet) and the member as its only node.
pub fn shards_reply(topology: &Topology) -> Frame {
    let view = ClusterView::new(topology);
    let shards = view
        .nodes
        .iter()
        .map(|node| {
            let slots = node
                .ranges
                .iter()
                .flat_map(|r| [Frame::Integer(r.start as i64), Frame::Integer(r.end as i64)])
                .collect();
            Frame::Map(vec![
                (Frame::bulk("slots"), Frame::Array(slots)),
                (Frame::bulk("nodes"), Frame::Array(vec![shard_node(node)])),
            ])
        })
        .collect();
    Frame::Array(shards)
}

fn shards(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(shards_reply(&ctx.server.topology()))
}

// ---------------------------------------------------------------- NODES

/// The `CLUSTER NODES` text: one line per member, in node id order,
/// `<id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv>
/// <config-epoch> <link-state> <slot> ...`, each ended by `\n`.
pub fn nodes_text(topology: &Topology) -> String {
    let view = ClusterView::new(topology);
    let mut text = String::new();
    for node in &view.nodes {
        let member = node.member;
        let mut flags = String::from(if member.is_local { "myself,master" } else { "master" });
        if member.suspect {
            flags.push_str(",fail?");
        }
        let link = if member.suspect && !member.is_local { "disconnected" } else { "connected" };
        let _ = write!(
            text,
            "{} {}:{}@{} {flags} - 0 0 {} {link}",
            node.id40,
            node.ip(),
            node.port(),
            member.peer_addr.port(),
            node.epoch,
        );
        for range in &node.ranges {
            let _ = write!(text, " {range}");
        }
        text.push('\n');
    }
    text
}

fn nodes(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Verbatim(Bytes::from(nodes_text(&ctx.server.topology()))))
}

// ---------------------------------------------------------------- keys

fn keyslot(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(key_slot(&args[2]) as i64))
}

/// A slot number in range, from an integer argument already parsed.
fn valid_slot(slot: i64) -> Option<Slot> {
    (0..SLOTS as i64).contains(&slot).then_some(slot as Slot)
}

fn countkeysinslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let slot = valid_slot(int(&args[2])?).ok_or_else(|| CmdError::err("Invalid slot"))?;
    Ok(Frame::Integer(ctx.store.slot_len(slot) as i64))
}

fn getkeysinslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let slot = int(&args[2])?;
    let count = int(&args[3])?;
    let invalid = || CmdError::err("Invalid slot or number of keys");
    let slot = valid_slot(slot).ok_or_else(invalid)?;
    let count = usize::try_from(count).map_err(|_| invalid())?;
    let mut keys = Vec::new();
    if count > 0 {
        let now = now_ms();
        let mut locked = ctx.store.lock_slot(slot);
        if let Some(table) = locked.slot_table(slot) {
            keys = table
                .iter()
                .filter(|(_, entry)| !entry.is_expired(now))
                .take(count)
                .map(|(key, _)| Frame::bulk(key))
                .collect();
        }
    }
    Ok(Frame::Array(keys))
}

fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "CLUSTER",
        &[
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MYID",
            "    Return the node id.",
            "MYSHARDID",
            "    Return the node's shard id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port@bus-port[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
        ],
    ))
}

// ---------------------------------------------------------------- READONLY

/// Cluster clients send READONLY before reading from replicas; every node
/// answers reads for any key, so there is nothing to switch.
fn readonly(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    ok()
}

fn readwrite(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::TABLE;
    use crate::cmd::testing::{TestClient, bulk, err, int, sorted_bulks, topology, verbatim};
    use crate::protocol::Protocol;
    use crate::ring::MemberState::{Active, Joining, Leaving};

    const SOLO_ID: &str = "49f25741ff0db65a7c4290aa73f34b4d4a3644c6";

    fn solo() -> TestClient {
        TestClient::with_topology(topology("solo", &[("solo", Active, false)], 256, 1))
    }

    /// node-c is suspect; the local node is node-b. One vnode each keeps
    /// the ranges few enough to write out.
    fn three() -> TestClient {
        let members = [("node-a", Active, false), ("node-b", Active, false), ("node-c", Active, true)];
        TestClient::with_topology(topology("node-b", &members, 1, 1))
    }

    /// n2 is joining (owns nothing yet), n4 leaving and suspect.
    fn five() -> TestClient {
        let members = [
            ("n1", Active, false),
            ("n2", Joining, false),
            ("n3", Active, false),
            ("n4", Leaving, true),
            ("n5", Active, false),
        ];
        TestClient::with_topology(topology("n3", &members, 2, 1))
    }

    fn info_text(fields: &[(&str, &str)]) -> String {
        fields.iter().map(|(k, v)| format!("{k}:{v}\r\n")).collect()
    }

    fn info_of(state: &str, counts: [u64; 5], epochs: [u64; 2]) -> String {
        let [assigned, ok, pfail, known, size] = counts.map(|n| n.to_string());
        let [current, mine] = epochs.map(|n| n.to_string());
        info_text(&[
            ("cluster_state", state),
            ("cluster_slots_assigned", &assigned),
            ("cluster_slots_ok", &ok),
            ("cluster_slots_pfail", &pfail),
            ("cluster_slots_fail", "0"),
            ("cluster_known_nodes", &known),
            ("cluster_size", &size),
            ("cluster_current_epoch", &current),
            ("cluster_my_epoch", &mine),
            ("cluster_stats_messages_sent", "0"),
            ("cluster_stats_messages_received", "0"),
            ("total_cluster_links_buffer_limit_exceeded", "0"),
        ])
    }

    /// `(start, end, client port)` of every CLUSTER SLOTS entry, checking
    /// each node's shape on the way.
    fn slot_entries(frame: &Frame) -> Vec<(i64, i64, Vec<i64>)> {
        let Frame::Array(entries) = frame else { panic!("not an array: {frame:?}") };
        entries
            .iter()
            .map(|entry| {
                let Frame::Array(items) = entry else { panic!("bad entry {entry:?}") };
                let (Frame::Integer(start), Frame::Integer(end)) = (&items[0], &items[1]) else {
                    panic!("bad range {entry:?}")
                };
                let ports = items[2..]
                    .iter()
                    .map(|node| match node {
                        Frame::Array(n) if n.len() == 4 => match (&n[0], &n[1], &n[2], &n[3]) {
                            (Frame::Bulk(ip), Frame::Integer(port), Frame::Bulk(id), Frame::Map(meta)) => {
                                assert_eq!(&ip[..], b"127.0.0.1");
                                assert_eq!(id.len(), 40);
                                assert!(meta.is_empty());
                                *port
                            }
                            _ => panic!("bad node {node:?}"),
                        },
                        _ => panic!("bad node {node:?}"),
                    })
                    .collect();
                (*start, *end, ports)
            })
            .collect()
    }

    #[test]
    fn ids_are_lowercase_sha1_hex() {
        assert_eq!(cluster_node_id("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(cluster_node_id("solo"), SOLO_ID);
        assert_eq!(cluster_shard_id("solo"), "2a21e990f31e44cdc4144b242c37103631450e43");
        let mut c = solo();
        assert_eq!(c.run(&["cluster", "myid"]), bulk(SOLO_ID));
        assert_eq!(c.run(&["CLUSTER", "MYSHARDID"]), bulk("2a21e990f31e44cdc4144b242c37103631450e43"));
    }

    #[test]
    fn one_member_info_and_nodes() {
        let mut c = solo();
        let info = c.run(&["cluster", "info"]);
        let expected = info_of("ok", [16384, 16384, 0, 1, 1], [1, 1]);
        assert_eq!(verbatim(info.clone()), expected);
        // A bulk string in RESP2, a verbatim string in RESP3, as Redis 7.0.
        assert_eq!(info.to_bytes(Protocol::Resp2), format!("${}\r\n{expected}\r\n", expected.len()));
        assert_eq!(info.to_bytes(Protocol::Resp3), format!("={}\r\ntxt:{expected}\r\n", expected.len() + 4));
        assert_eq!(
            c.text(&["cluster", "nodes"]),
            format!("{SOLO_ID} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\n")
        );
    }

    #[test]
    fn one_member_slots_and_shards_encode_like_redis() {
        let mut c = solo();
        let slots = c.run(&["cluster", "slots"]);
        let node = format!("*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$40\r\n{SOLO_ID}\r\n");
        assert_eq!(slots.to_bytes(Protocol::Resp2), format!("*1\r\n*3\r\n:0\r\n:16383\r\n{node}*0\r\n"));
        assert_eq!(slots.to_bytes(Protocol::Resp3), format!("*1\r\n*3\r\n:0\r\n:16383\r\n{node}%0\r\n"));

        let shards = c.run(&["cluster", "shards"]);
        let fields = format!(
            "$2\r\nid\r\n$40\r\n{SOLO_ID}\r\n$4\r\nport\r\n:7000\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n\
             $8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n\
             $18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
        );
        let slots = "$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n";
        assert_eq!(shards.to_bytes(Protocol::Resp2), format!("*1\r\n*4\r\n{slots}*14\r\n{fields}"));
        assert_eq!(shards.to_bytes(Protocol::Resp3), format!("*1\r\n%2\r\n{slots}%7\r\n{fields}"));
    }

    #[test]
    fn three_members_one_suspect() {
        let mut c = three();
        let a = "0702c1cc60ff9e1331c47331a36ddd5d994ea38a";
        let b = "893a227aaca1e12a5fa1c0201c0e38b8f3b1536b";
        let cc = "1ab9f16eafea8cce18a8abf188e9376c94c4c0cd";
        // node-c (suspect) owns 0-7158 and 16075-16383: 7468 slots.
        assert_eq!(c.text(&["cluster", "info"]), info_of("ok", [16384, 8916, 7468, 3, 3], [3, 2]));
        assert_eq!(
            c.text(&["cluster", "nodes"]),
            format!(
                "{a} 127.0.0.1:7000@17000 master - 0 0 1 connected 7159-13566\n\
                 {b} 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 13567-16074\n\
                 {cc} 127.0.0.1:7002@17002 master,fail? - 0 0 3 disconnected 0-7158 16075-16383\n"
            )
        );
        assert_eq!(
            slot_entries(&c.run(&["cluster", "slots"])),
            [
                (0, 7158, vec![7002]),
                (7159, 13566, vec![7000]),
                (13567, 16074, vec![7001]),
                (16075, 16383, vec![7002])
            ]
        );
        let Frame::Array(shards) = c.run(&["cluster", "shards"]) else { panic!() };
        let shard_slots: Vec<Frame> = shards
            .iter()
            .map(|shard| match shard {
                Frame::Map(pairs) => pairs[0].1.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        let ints = |v: &[i64]| Frame::Array(v.iter().map(|&n| int(n)).collect());
        assert_eq!(
            shard_slots,
            [ints(&[7159, 13566]), ints(&[13567, 16074]), ints(&[0, 7158, 16075, 16383])]
        );
        assert_eq!(c.run(&["cluster", "myid"]), bulk(b));
    }

    #[test]
    fn five_members_joining_and_leaving() {
        let mut c = five();
        // n2 (joining) is known but owns nothing; n4 (leaving, suspect) still serves.
        assert_eq!(c.text(&["cluster", "info"]), info_of("ok", [16384, 12232, 4152, 5, 4], [4, 2]));
        assert_eq!(
            c.text(&["cluster", "nodes"]),
            "40b3eab63f3f1d4fa48e09559401c5ed4efceaa6 127.0.0.1:7000@17000 master - 0 0 1 connected 0-508 10949-11221 16167-16383\n\
             40243476fcaaf8dca4d9eda7fde4232c5c18f75d 127.0.0.1:7001@17001 master - 0 0 0 connected\n\
             26c2ce28d0df94c010c5255203b885cba81b9018 127.0.0.1:7002@17002 myself,master - 0 0 2 connected 2989-3223 11222-14248\n\
             f3342a76bd80e19429a753ba2df5c9377e8225a3 127.0.0.1:7003@17003 master,fail? - 0 0 3 disconnected 509-2742 14249-16166\n\
             7c0575c87e8cae6ca0bb863db72413e54e32308c 127.0.0.1:7004@17004 master - 0 0 4 connected 2743-2988 3224-10948\n"
        );
        let entries = slot_entries(&c.run(&["cluster", "slots"]));
        assert_eq!(entries.len(), 9);
        assert!(entries.iter().all(|(_, _, ports)| ports.len() == 1 && ports[0] != 7001));
        assert_eq!(entries[0], (0, 508, vec![7000]));
        assert_eq!(entries[8], (16167, 16383, vec![7000]));

        let Frame::Array(shards) = c.run(&["cluster", "shards"]) else { panic!() };
        assert_eq!(shards.len(), 5);
        let Frame::Map(joining) = &shards[1] else { panic!() };
        assert_eq!(joining[0].1, Frame::Array(vec![]));
        let Frame::Array(nodes) = &joining[1].1 else { panic!() };
        let Frame::Map(fields) = &nodes[0] else { panic!() };
        assert_eq!(fields[1], (bulk("port"), int(7001)));
        assert_eq!(fields[6], (bulk("health"), bulk("loading")));
    }

    #[test]
    fn no_serving_member_means_cluster_fail() {
        let mut c =
            TestClient::with_topology(topology("a", &[("a", Joining, false), ("b", Joining, false)], 256, 1));
        assert_eq!(c.text(&["cluster", "info"]), info_of("fail", [0, 0, 0, 2, 0], [0, 0]));
        assert_eq!(c.run(&["cluster", "slots"]), Frame::Array(vec![]));
        let nodes = c.text(&["cluster", "nodes"]);
        assert_eq!(nodes.lines().count(), 2);
        assert!(nodes.lines().all(|l| l.ends_with(" 0 connected")), "{nodes}");
    }

    #[test]
    fn copy_runs_keep_owner_and_replicas_constant() {
        let members =
            [("a", Active, false), ("b", Active, false), ("c", Active, false), ("d", Active, false)];
        let topo = topology("a", &members, 16, 2);
        let ring = &topo.serving;
        let runs = copy_runs(ring, true);
        let mut next = 0usize;
        for (i, run) in runs.iter().enumerate() {
            assert_eq!(run.range.start as usize, next);
            assert_eq!(run.replicas.len(), 2);
            for slot in run.range.start..=run.range.end {
                assert_eq!(ring.owner_index(slot), Some(run.owner));
                assert!(ring.replica_indices(slot).eq(run.replicas.iter().copied()));
            }
            if i > 0 {
                let prev = &runs[i - 1];
                assert!(prev.owner != run.owner || prev.replicas != run.replicas, "runs are maximal");
            }
            next = run.range.end as usize + 1;
        }
        assert_eq!(next, SLOTS);

        let owners_only: Vec<(SlotRange, usize)> =
            copy_runs(ring, false).into_iter().map(|r| (r.range, r.owner)).collect();
        assert_eq!(owners_only, ring.all_ranges());
        assert!(runs.len() >= owners_only.len());
        assert!(copy_runs(&RingSnapshot::build(&[], 256, 1), true).is_empty());
    }

    #[test]
    fn slots_can_list_replicas() {
        let members = [("node-a", Active, false), ("node-b", Active, false), ("node-c", Active, false)];
        let topo = topology("node-a", &members, 8, 1);
        let port = |id: &str| topo.member(id).unwrap().client_addr.port() as i64;
        let entries = slot_entries(&slots_reply(&topo, true));
        for (start, _, ports) in &entries {
            let slot = *start as Slot;
            let expected: Vec<i64> = topo.serving.copies(slot).map(port).collect();
            assert_eq!(ports, &expected);
            assert_eq!(ports.len(), 2);
        }
        assert!(entries.len() >= slot_entries(&slots_reply(&topo, false)).len());
    }

    #[test]
    fn keyslot_and_slot_contents() {
        let mut c = solo();
        assert_eq!(c.run(&["cluster", "keyslot", "foo"]), int(12182));
        assert_eq!(c.run(&["cluster", "keyslot", "{user1000}.following"]), int(key_slot(b"user1000") as i64));
        let slot = key_slot(b"t") as i64;
        for key in ["{t}a", "{t}b", "{t}c"] {
            c.put(key, "v", 0);
        }
        c.put("{t}old", "v", 1);
        let slot = slot.to_string();
        // Expired keys not yet removed are counted, as Redis counts them.
        assert_eq!(c.run(&["cluster", "countkeysinslot", &slot]), int(4));
        assert_eq!(c.run(&["cluster", "countkeysinslot", "0"]), int(0));
        let Frame::Array(two) = c.run(&["cluster", "getkeysinslot", &slot, "2"]) else { panic!() };
        assert_eq!(two.len(), 2);
        let all = c.run(&["cluster", "getkeysinslot", &slot, "10"]);
        assert_eq!(sorted_bulks(&all), ["{t}a", "{t}b", "{t}c"]);
        assert_eq!(c.run(&["cluster", "getkeysinslot", &slot, "0"]), Frame::Array(vec![]));
        assert_eq!(c.run(&["cluster", "getkeysinslot", "16383", "5"]), Frame::Array(vec![]));
    }

    #[test]
    fn slot_arguments_fail_like_redis() {
        let mut c = solo();
        let invalid = err("ERR Invalid slot");
        assert_eq!(c.run(&["cluster", "countkeysinslot", "16384"]), invalid);
        assert_eq!(c.run(&["cluster", "countkeysinslot", "-1"]), invalid);
        let not_int = err("ERR value is not an integer or out of range");
        assert_eq!(c.run(&["cluster", "countkeysinslot", "x"]), not_int);
        assert_eq!(c.run(&["cluster", "countkeysinslot", "00"]), not_int);
        let invalid = err("ERR Invalid slot or number of keys");
        assert_eq!(c.run(&["cluster", "getkeysinslot", "1", "-1"]), invalid);
        assert_eq!(c.run(&["cluster", "getkeysinslot", "16384", "1"]), invalid);
        assert_eq!(c.run(&["cluster", "getkeysinslot", "x", "-1"]), not_int);
        assert_eq!(c.run(&["cluster", "getkeysinslot", "-1", "x"]), not_int);
        assert_eq!(c.run(&["cluster", "getkeysinslot", " 1", "1"]), not_int);
    }

    #[test]
    fn help_arity_and_unknown_subcommands() {
        let mut c = solo();
        let Frame::Array(lines) = c.run(&["cluster", "help"]) else { panic!() };
        assert_eq!(
            lines[0],
            Frame::Simple("CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into())
        );
        assert_eq!(lines[1], Frame::Simple("COUNTKEYSINSLOT <slot>".into()));
        assert_eq!(lines.last(), Some(&Frame::Simple("    Prints this help.".into())));
        assert_eq!(c.run(&["cluster", "foo"]), err("ERR unknown subcommand 'foo'. Try CLUSTER HELP."));
        assert_eq!(
            c.run(&["cluster", "addslots", "1"]),
            err("ERR unknown subcommand 'addslots'. Try CLUSTER HELP.")
        );
        assert_eq!(c.run(&["cluster"]), err("ERR wrong number of arguments for 'cluster' command"));
        assert_eq!(
            c.run(&["cluster", "info", "x"]),
            err("ERR wrong number of arguments for 'cluster|info' command")
        );
        assert_eq!(
            c.run(&["cluster", "keyslot"]),
            err("ERR wrong number of arguments for 'cluster|keyslot' command")
        );
        assert_eq!(c.run(&["readonly"]), Frame::ok());
        assert_eq!(c.run(&["READWRITE"]), Frame::ok());
        assert_eq!(c.run(&["readonly", "x"]), err("ERR wrong number of arguments for 'readonly' command"));
    }

    #[test]
    fn metadata_matches_redis() {
        // (name, arity, flags, ACL categories, tips) as Redis 7's COMMAND INFO reports them.
        const ND: &[&str] = &["nondeterministic_output"];
        type Meta =
            (&'static str, i32, &'static [&'static str], &'static [&'static str], &'static [&'static str]);
        let expected: &[Meta] = &[
            ("cluster|info", 2, &["stale"], &["@slow"], ND),
            ("cluster|myid", 2, &["stale"], &["@slow"], &[]),
            ("cluster|myshardid", 2, &["stale"], &["@slow"], ND),
            ("cluster|slots", 2, &["stale"], &["@slow"], ND),
            ("cluster|shards", 2, &["stale"], &["@slow"], ND),
            ("cluster|nodes", 2, &["stale"], &["@slow"], ND),
            ("cluster|keyslot", 3, &["stale"], &["@slow"], &[]),
            ("cluster|countkeysinslot", 3, &["stale"], &["@slow"], &[]),
            ("cluster|getkeysinslot", 4, &["stale"], &["@slow"], ND),
            ("cluster|help", 2, &["loading", "stale"], &["@slow"], &[]),
        ];
        let (_, cluster) = TABLE.lookup(b"cluster").unwrap();
        assert_eq!((cluster.arity, cluster.flags, cluster.acl), (-2, &[][..], &["@slow"][..]));
        assert_eq!(cluster.subcommands.len(), expected.len());
        for &(name, arity, flags, acl, tips) in expected {
            let spec = cluster.subcommands.iter().find(|s| s.name == name).unwrap();
            assert_eq!((spec.arity, spec.flags, spec.acl, spec.tips), (arity, flags, acl, tips), "{name}");
        }
        for name in ["readonly", "readwrite"] {
            let (_, spec) = TABLE.lookup(name.as_bytes()).unwrap();
            assert_eq!(spec.arity, 1);
            assert_eq!(spec.flags, ["loading", "stale", "fast"]);
            assert_eq!(spec.acl, ["@fast", "@connection"]);
        }
    }

    #[test]
    fn info_section_fields_describe_the_local_node() {
        let c = three();
        let topo = c.server.topology();
        assert_eq!(
            info_section_fields(&topo),
            [
                ("shoal_node_id", "node-b".to_string()),
                ("shoal_view_id", format!("{:016x}", topo.view_id())),
                ("shoal_members", "3".to_string()),
                ("shoal_slots_owned", "2508".to_string()),
            ]
        );
    }
}
