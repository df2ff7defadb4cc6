//! Per-slot bookkeeping: which slots this node holds a complete copy of,
//! the writes in flight on each slot, and the deletions received for slots
//! still being pulled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;

use crate::keyslot::{SLOTS, Slot};
use crate::peer::ReplicaItem;

/// See the module documentation.
pub struct Holdings {
    held: Box<[AtomicU64]>,
    in_flight: Box<[AtomicU32]>,
    /// For slots not held yet: the newest deletion version seen per key, so
    /// that a pulled page carrying an older state of a key deleted
    /// meanwhile does not bring it back.
    tombstones: Mutex<HashMap<Slot, HashMap<Bytes, u64, ahash::RandomState>, ahash::RandomState>>,
}

impl Default for Holdings {
    fn default() -> Self {
        Holdings::new()
    }
}

impl Holdings {
    /// Nothing held, nothing in flight.
    pub fn new() -> Holdings {
        Holdings {
            held: (0..SLOTS / 64).map(|_| AtomicU64::new(0)).collect(),
            in_flight: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            tombstones: Mutex::new(HashMap::default()),
        }
    }

    /// Whether this node holds a complete copy of `slot`.
    pub fn is_held(&self, slot: Slot) -> bool {
        self.held[slot as usize / 64].load(Ordering::Acquire) & (1 << (slot % 64)) != 0
    }

    /// Marks `slot` held (pulled, or owned with nothing to pull); its
    /// tombstones are no longer needed.
    pub fn hold(&self, slot: Slot) {
        self.held[slot as usize / 64].fetch_or(1 << (slot % 64), Ordering::AcqRel);
        self.tombstones.lock().remove(&slot);
    }

    /// Marks `slot` not held (this node is no longer a copy of it).
    pub fn release(&self, slot: Slot) {
        self.held[slot as usize / 64].fetch_and(!(1 << (slot % 64)), Ordering::AcqRel);
    }

    /// Number of slots held.
    pub fn held_count(&self) -> usize {
        self.held.iter().map(|w| w.load(Ordering::Relaxed).count_ones() as usize).sum()
    }

    /// The held slots as a bitmap, slot `s` at bit `s % 8` of byte `s / 8`.
    pub fn bitmap(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(SLOTS / 8);
        for word in self.held.iter() {
            out.put_u64_le(word.load(Ordering::Acquire));
        }
        out.freeze()
    }

    /// Whether `bitmap` (from [`Holdings::bitmap`]) has `slot`.
    pub fn bitmap_has(bitmap: &[u8], slot: Slot) -> bool {
        bitmap.get(slot as usize / 8).is_some_and(|byte| byte & (1 << (slot % 8)) != 0)
    }

    /// Whether a received state may be applied: always for a held slot;
    /// for a slot being pulled, a deletion is remembered and a value older
    /// than a remembered deletion is dropped.
    pub(super) fn admit(&self, slot: Slot, item: &ReplicaItem) -> bool {
        if self.is_held(slot) {
            return true;
        }
        let mut tombstones = self.tombstones.lock();
        let slot_tombstones = tombstones.entry(slot).or_default();
        match &item.state {
            None => {
                let version = slot_tombstones.entry(Bytes::copy_from_slice(&item.key)).or_insert(0);
                *version = (*version).max(item.version);
                true
            }
            Some(_) => slot_tombstones.get(&item.key[..]).is_none_or(|&deleted| deleted < item.version),
        }
    }

    /// A write on `slot` starts.
    pub(super) fn enter(&self, slot: Slot) {
        self.in_flight[slot as usize].fetch_add(1, Ordering::SeqCst);
    }

    /// A write on `slot` is done (replicated or given up).
    pub(super) fn leave(&self, slot: Slot) {
        self.in_flight[slot as usize].fetch_sub(1, Ordering::SeqCst);
    }

    /// Waits until no write is in flight on any of `slots`; false if that
    /// took longer than `limit`.
    pub(super) async fn wait_idle(&self, slots: &[Slot], limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let busy = slots.iter().any(|&s| self.in_flight[s as usize].load(Ordering::SeqCst) > 0);
            if !busy {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::{ItemState, ItemValue};

    fn item(version: u64, live: bool) -> ReplicaItem {
        let state =
            live.then(|| ItemState { expires_at: 0, value: ItemValue::Str(Bytes::from_static(b"v")) });
        ReplicaItem { key: Bytes::from_static(b"k"), version, state }
    }

    #[test]
    fn held_slots_show_in_the_bitmap() {
        let h = Holdings::new();
        assert!(!h.is_held(5));
        h.hold(5);
        h.hold(16383);
        assert!(h.is_held(5) && h.is_held(16383) && !h.is_held(6));
        assert_eq!(h.held_count(), 2);
        let bitmap = h.bitmap();
        assert_eq!(bitmap.len(), SLOTS / 8);
        assert!(Holdings::bitmap_has(&bitmap, 5) && Holdings::bitmap_has(&bitmap, 16383));
        assert!(!Holdings::bitmap_has(&bitmap, 4));
        h.release(5);
        assert!(!h.is_held(5));
    }

    #[test]
    fn a_deletion_seen_while_pulling_beats_an_older_pulled_value() {
        let h = Holdings::new();
        assert!(h.admit(7, &item(10, false)));
        assert!(!h.admit(7, &item(9, true)), "older than the deletion");
        assert!(h.admit(7, &item(11, true)), "newer than the deletion");
        h.hold(7);
        assert!(h.admit(7, &item(1, true)), "held slots take everything (versions decide)");
    }

    #[tokio::test]
    async fn handoffs_wait_for_writes_in_flight() {
        let h = Holdings::new();
        h.enter(3);
        assert!(!h.wait_idle(&[3], Duration::from_millis(20)).await);
        assert!(h.wait_idle(&[4], Duration::from_millis(20)).await);
        h.leave(3);
        assert!(h.wait_idle(&[3], Duration::from_millis(20)).await);
    }
}
