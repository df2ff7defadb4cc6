//! Where a request runs: a pure function of the command, its arguments and
//! the topology (DESIGN.md section 4).

use bytes::Bytes;

use crate::cmd::CommandSpec;
use crate::keyslot::key_slot;
use crate::topology::Topology;

/// Commands that touch several keys without needing atomicity: split by
/// owner, run in parallel, merged in order.
const SPLITTABLE: &[&str] = &["mget", "mset", "del", "unlink", "exists", "touch"];

/// Commands over the whole keyspace: with `cluster.keyspace = "cluster"`
/// they cover every node.
const KEYSPACE_WIDE: &[&str] = &["dbsize", "keys", "scan", "randomkey", "flushall", "flushdb"];

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Run here.
    Local,
    /// Run on this node (every key it touches is owned there).
    Remote(String),
    /// Split the keys by owner: each group is a list of key positions in
    /// `args` (for MSET, the positions of the keys; values follow them).
    Split(Vec<(String, Vec<usize>)>),
    /// Run on every serving node and merge.
    FanOut,
    /// Keys owned by different nodes in a command that must be atomic.
    CrossSlot,
    /// A slot has no owner (no active member yet).
    ClusterDown,
}

/// Who owns a set of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysOwner<'t> {
    /// No keys at all.
    NoKeys,
    /// One node owns every key.
    One(&'t str),
    /// The keys are owned by different nodes.
    Several,
    /// A key's slot has no owner.
    Unowned,
}

/// Who owns all of `keys` in `topology`'s serving ring.
pub fn keys_owner<'t, 'k>(keys: impl IntoIterator<Item = &'k [u8]>, topology: &'t Topology) -> KeysOwner<'t> {
    let mut single: Option<&'t str> = None;
    for key in keys {
        let Some(owner) = topology.owner(key_slot(key)) else { return KeysOwner::Unowned };
        match single {
            None => single = Some(owner),
            Some(first) if first != owner => return KeysOwner::Several,
            Some(_) => {}
        }
    }
    single.map_or(KeysOwner::NoKeys, KeysOwner::One)
}

/// The keys of a command (by its table entry), or none if it is unknown.
pub fn command_keys(args: &[Bytes]) -> impl Iterator<Item = &[u8]> {
    let positions = match crate::cmd::resolve(args) {
        Ok((_, spec)) if spec.arity_ok(args.len()) => Some(spec.key_positions(args.len())),
        _ => None,
    };
    positions.into_iter().flatten().map(|pos| &args[pos][..])
}

/// Decides where `args` (a command resolved to `spec`) runs.
///
/// `forwarded` requests always run locally when their keys are local, and
/// are never split or fanned out again (the entry node did that).
pub fn plan(
    spec: &CommandSpec,
    args: &[Bytes],
    topology: &Topology,
    forwarded: bool,
    cluster_keyspace: bool,
) -> Plan {
    let ring = &topology.serving;
    let base = spec.name.split('|').next().unwrap_or(spec.name);
    if spec.first_key <= 0 {
        if !forwarded && cluster_keyspace && KEYSPACE_WIDE.contains(&base) && ring.nodes().len() > 1 {
            return Plan::FanOut;
        }
        return Plan::Local;
    }
    let single_local = ring.nodes().len() == 1 && ring.nodes()[0].id == topology.local_id;
    if single_local && topology.handoffs.is_empty() {
        return Plan::Local;
    }
    // Common case first, without allocating: every key has one owner.
    let mut single: Option<&str> = None;
    let mut mixed = false;
    for pos in spec.key_positions(args.len()) {
        let Some(owner) = topology.owner(key_slot(&args[pos])) else {
            return Plan::ClusterDown;
        };
        match single {
            None => single = Some(owner),
            Some(first) if first != owner => mixed = true,
            Some(_) => {}
        }
    }
    let Some(owner) = single else { return Plan::Local };
    if !mixed {
        return if owner == topology.local_id { Plan::Local } else { Plan::Remote(owner.to_string()) };
    }
    if forwarded || !SPLITTABLE.contains(&base) {
        return Plan::CrossSlot;
    }
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for pos in spec.key_positions(args.len()) {
        let owner = topology.owner(key_slot(&args[pos])).unwrap_or_default();
        match groups.iter_mut().find(|(id, _)| id == owner) {
            Some((_, list)) => list.push(pos),
            None => groups.push((owner.to_string(), vec![pos])),
        }
    }
    Plan::Split(groups)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::*;
    use crate::cmd::resolve;
    use crate::ring::{MemberState, RingMember, RingSnapshot};
    use crate::topology::TopologyMember;

    fn topology(ids: &[&str], local: &str) -> Topology {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let members: Vec<TopologyMember> = ids
            .iter()
            .map(|id| TopologyMember {
                id: id.to_string(),
                client_addr: addr,
                peer_addr: addr,
                gossip_addr: addr,
                metrics_port: 0,
                state: MemberState::Active,
                bump: 1,
                started_at: 1,
                suspect: false,
                is_local: *id == local,
            })
            .collect();
        let ring_members: Vec<RingMember> =
            ids.iter().map(|id| RingMember::new(*id, MemberState::Active)).collect();
        let serving = Arc::new(RingSnapshot::serving(&ring_members, 64, 1));
        Topology::new(local.to_string(), members, serving.clone(), serving)
    }

    fn plan_of(cmd: &[&str], topo: &Topology) -> Plan {
        let args: Vec<Bytes> = cmd.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        let (_, spec) = resolve(&args).unwrap();
        plan(spec, &args, topo, false, true)
    }

    /// A key owned by `owner` in `topo`.
    fn key_of(topo: &Topology, owner: &str, n: usize) -> String {
        (0..)
            .map(|i| format!("k{i}"))
            .filter(|k| topo.serving.owner_of_key(k.as_bytes()) == Some(owner))
            .nth(n)
            .unwrap()
    }

    #[test]
    fn routes_by_owner() {
        let topo = topology(&["a", "b", "c"], "a");
        let (ka, kb) = (key_of(&topo, "a", 0), key_of(&topo, "b", 0));
        assert_eq!(plan_of(&["GET", &ka], &topo), Plan::Local);
        assert_eq!(plan_of(&["GET", &kb], &topo), Plan::Remote("b".into()));
        assert_eq!(plan_of(&["PING"], &topo), Plan::Local);
        assert_eq!(plan_of(&["DBSIZE"], &topo), Plan::FanOut);
    }

    #[test]
    fn splits_or_refuses_multi_key_commands() {
        let topo = topology(&["a", "b", "c"], "a");
        let (ka, kb, kb2) = (key_of(&topo, "a", 0), key_of(&topo, "b", 0), key_of(&topo, "b", 1));
        match plan_of(&["MGET", &ka, &kb, &kb2], &topo) {
            Plan::Split(groups) => {
                assert_eq!(groups, vec![("a".to_string(), vec![1]), ("b".to_string(), vec![2, 3])]);
            }
            other => panic!("{other:?}"),
        }
        match plan_of(&["MSET", &ka, "1", &kb, "2"], &topo) {
            Plan::Split(groups) => {
                assert_eq!(groups, vec![("a".to_string(), vec![1]), ("b".to_string(), vec![3])])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(plan_of(&["RENAME", &ka, &kb], &topo), Plan::CrossSlot);
        assert_eq!(plan_of(&["MSETNX", &ka, "1", &kb, "2"], &topo), Plan::CrossSlot);
        assert_eq!(plan_of(&["RENAME", &kb, &kb2], &topo), Plan::Remote("b".into()));
        let tagged = plan_of(&["MSETNX", "{u}a", "1", "{u}b", "2"], &topo);
        assert!(matches!(tagged, Plan::Local | Plan::Remote(_)));
    }

    #[test]
    fn key_introspection_goes_to_the_owner() {
        let topo = topology(&["a", "b", "c"], "a");
        let (ka, kb) = (key_of(&topo, "a", 0), key_of(&topo, "b", 0));
        for sub in ["ENCODING", "FREQ", "IDLETIME", "REFCOUNT"] {
            assert_eq!(plan_of(&["OBJECT", sub, &kb], &topo), Plan::Remote("b".into()), "{sub}");
            assert_eq!(plan_of(&["object", sub, &ka], &topo), Plan::Local, "{sub}");
        }
        assert_eq!(plan_of(&["MEMORY", "USAGE", &kb], &topo), Plan::Remote("b".into()));
        assert_eq!(plan_of(&["MEMORY", "USAGE", &kb, "SAMPLES", "0"], &topo), Plan::Remote("b".into()));
        assert_eq!(plan_of(&["MEMORY", "STATS"], &topo), Plan::Local);
        assert_eq!(plan_of(&["OBJECT", "HELP"], &topo), Plan::Local);
    }

    #[test]
    fn a_cluster_of_one_runs_everything_locally() {
        let topo = topology(&["a"], "a");
        assert_eq!(plan_of(&["MGET", "x", "y", "z"], &topo), Plan::Local);
        assert_eq!(plan_of(&["DBSIZE"], &topo), Plan::Local);
    }

    #[test]
    fn no_owner_means_cluster_down() {
        let mut topo = topology(&["a"], "a");
        topo.serving = Arc::new(RingSnapshot::serving(&[], 64, 1));
        assert_eq!(plan_of(&["GET", "x"], &topo), Plan::ClusterDown);
    }
}
