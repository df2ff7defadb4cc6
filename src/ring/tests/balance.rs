//! Balance of slot ownership with 256 vnodes per node.
//!
//! For each cluster size, 20 member sets of random ids from fixed seeds;
//! per set, the imbalance is (max slots of one node) / (mean slots per node).
//! The mean imbalance over the sets must stay within the design's bounds.

use super::random_ids;
use crate::keyslot::SLOTS;
use crate::ring::{MemberState, RingMember, RingSnapshot};

const VNODES: u32 = 256;
const SETS: u64 = 20;

/// Mean over `SETS` seeded member sets of `nodes` nodes of max/mean slots per
/// node.
fn mean_imbalance(nodes: usize) -> f64 {
    let mut total = 0.0;
    for set in 0..SETS {
        let members: Vec<RingMember> = random_ids(1000 * nodes as u64 + set, nodes)
            .into_iter()
            .map(|id| RingMember::new(id, MemberState::Active))
            .collect();
        // No replicas: balance is about owners, and this keeps the test quick.
        let ring = RingSnapshot::build(&members, VNODES, 0);
        let max = ring.slot_counts().iter().map(|&(_, count)| count).max();
        let mean = SLOTS as f64 / nodes as f64;
        total += max.unwrap_or(0) as f64 / mean;
    }
    total / SETS as f64
}

fn check_balance(nodes: usize, bound: f64) {
    let imbalance = mean_imbalance(nodes);
    eprintln!(
        "ring balance: N={nodes} V={VNODES}: mean max/mean slots per node = {imbalance:.3} (bound {bound})"
    );
    assert!(imbalance <= bound, "N={nodes}: mean imbalance {imbalance:.3} exceeds {bound}");
}

#[test]
fn balanced_with_3_nodes() {
    check_balance(3, 1.08);
}

#[test]
fn balanced_with_10_nodes() {
    check_balance(10, 1.13);
}

#[test]
fn balanced_with_100_nodes() {
    check_balance(100, 1.25);
}
