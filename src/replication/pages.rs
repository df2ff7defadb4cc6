//! Pages of a slot's keys for a node that pulls the slot.
//!
//! A page holds the keys whose position (the XXH3 hash of the key) is at
//! or after the cursor, lowest positions first, up to about the byte budget;
//! the next cursor is one past the last position taken. Positions do not
//! depend on the table's layout, so keys added, removed or rehashed between
//! pages neither shift the cursor nor hide a key that was there all along
//! (keys written after the pull began reach the puller as dual writes).

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use super::{Replication, state_of};
use crate::keyslot::{SLOTS, Slot};
use crate::peer::{PeerReply, ReplicaItem, encode_items};
use crate::protocol::Frame;
use crate::store::now_ms;

impl Replication {
    /// Answers `from`'s pull of a page of `slot`: `[next cursor or null
    /// when done, items]`. Refused unless this node holds the slot and its
    /// view has `from` as a copy of it (so `from` already gets every write).
    pub fn page(&self, from: &str, slot: u16, cursor: u64, max_bytes: u32) -> PeerReply {
        if slot as usize >= SLOTS {
            return PeerReply::Error(format!("no slot {slot}"));
        }
        if !self.holdings.is_held(slot) {
            return PeerReply::Error(format!("slot {slot} is not held here"));
        }
        if !self.server.topology.load().is_copy(from, slot) {
            return PeerReply::Error(format!("{from} is not a copy of slot {slot} in this view yet"));
        }
        let (items, next) = self.collect_page(slot, cursor, max_bytes.max(1) as usize);
        self.stats.add_served(items.len() as u64);
        let next = match next {
            Some(next) => Frame::Bulk(Bytes::copy_from_slice(&next.to_be_bytes())),
            None => Frame::Null,
        };
        PeerReply::Frame(Frame::Array(vec![next, Frame::Bulk(encode_items(&items))]))
    }

    pub(super) fn collect_page(
        &self,
        slot: Slot,
        cursor: u64,
        budget: usize,
    ) -> (Vec<ReplicaItem>, Option<u64>) {
        let now = now_ms();
        let mut locked = self.store.lock_slot(slot);
        let Some(table) = locked.slot_table(slot) else { return (Vec::new(), None) };
        let mut found: Vec<(u64, ReplicaItem)> = Vec::new();
        let mut bytes = 0;
        for (key, entry) in table.iter() {
            if entry.is_expired(now) {
                continue;
            }
            let position = xxh3_64(key);
            if position < cursor {
                continue;
            }
            let item = ReplicaItem {
                key: Bytes::copy_from_slice(key),
                version: entry.version,
                state: Some(state_of(entry)),
            };
            bytes += item.encoded_len();
            found.push((position, item));
        }
        drop(locked);
        if bytes <= budget {
            return (found.into_iter().map(|(_, item)| item).collect(), None);
        }
        found.sort_unstable_by_key(|(position, _)| *position);
        let mut taken = 0;
        let mut end = 0;
        while end < found.len() {
            // Keys sharing a position go together: the cursor cannot split them.
            let position = found[end].0;
            while end < found.len() && found[end].0 == position {
                taken += found[end].1.encoded_len();
                end += 1;
            }
            if taken >= budget {
                break;
            }
        }
        let last = found[end - 1].0;
        let next = if end < found.len() { last.checked_add(1) } else { None };
        found.truncate(end);
        (found.into_iter().map(|(_, item)| item).collect(), next)
    }
}
