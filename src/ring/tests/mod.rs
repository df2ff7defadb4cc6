//! Tests of the placement ring: golden values that freeze placement,
//! properties of joins and leaves, balance, and the query API.
//!
//! `reference_copies` is a deliberately naive second implementation of the
//! placement rule (a linear search per slot) that the fast sweep is checked
//! against.

mod balance;
mod golden;
mod properties;
mod queries;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{MemberState, RingMember, slot_position, vnode_token};
use crate::keyslot::Slot;

/// Active members with the given ids.
fn active(ids: &[&str]) -> Vec<RingMember> {
    ids.iter().map(|id| RingMember::new(*id, MemberState::Active)).collect()
}

/// The owner then the replicas of `slot`, computed straight from the rule:
/// the first token at or after the slot's position (wrapping), then the next
/// distinct nodes clockwise. `ids` must be distinct.
fn reference_copies(ids: &[String], vnodes: u32, replicas: usize, slot: Slot) -> Vec<String> {
    let mut tokens: Vec<(u64, &str)> =
        ids.iter().flat_map(|id| (0..vnodes).map(move |i| (vnode_token(id, i), id.as_str()))).collect();
    if tokens.is_empty() {
        return Vec::new();
    }
    tokens.sort();
    let position = slot_position(slot);
    let first = tokens.iter().position(|&(token, _)| token >= position).unwrap_or(0);
    let wanted = 1 + replicas.min(ids.len() - 1);
    let mut copies: Vec<String> = Vec::new();
    for k in 0..tokens.len() {
        let id = tokens[(first + k) % tokens.len()].1;
        if !copies.iter().any(|chosen| chosen == id) {
            copies.push(id.to_string());
        }
        if copies.len() == wanted {
            break;
        }
    }
    copies
}

/// `count` distinct ids of the form `node-<16 hex digits>` from a seeded RNG.
fn random_ids(seed: u64, count: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ids: Vec<String> = Vec::with_capacity(count);
    while ids.len() < count {
        let id = format!("node-{:016x}", rng.random::<u64>());
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}
