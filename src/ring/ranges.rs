//! Contiguous runs of slots, the form in which `CLUSTER SLOTS`,
//! `CLUSTER SHARDS` and `CLUSTER NODES` report ownership.

use std::fmt;

use crate::keyslot::Slot;

/// An inclusive run of slots `start..=end`, as `CLUSTER SLOTS` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRange {
    /// First slot of the run.
    pub start: Slot,
    /// Last slot of the run (inclusive).
    pub end: Slot,
}

impl SlotRange {
    /// The run `start..=end`.
    pub fn new(start: Slot, end: Slot) -> Self {
        debug_assert!(start <= end, "empty slot range {start}-{end}");
        SlotRange { start, end }
    }

    /// Number of slots in the run (at least 1).
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize + 1
    }

    /// Always false: a run holds at least one slot. Present because a type
    /// with `len` is expected to have it.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `slot` lies in the run.
    pub fn contains(&self, slot: Slot) -> bool {
        self.start <= slot && slot <= self.end
    }
}

/// `start-end`, or just `start` for a single slot, as `CLUSTER NODES` writes
/// slot runs.
impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Merges a per-slot table of values (slot `s` has `per_slot[s]`) into
/// maximal runs of equal values, in slot order.
pub(super) fn merge_runs<T: Copy + PartialEq>(per_slot: &[T]) -> Vec<(SlotRange, T)> {
    let mut runs: Vec<(SlotRange, T)> = Vec::new();
    for (slot, &value) in per_slot.iter().enumerate() {
        let slot = slot as Slot;
        match runs.last_mut() {
            Some((range, last)) if *last == value => range.end = slot,
            _ => runs.push((SlotRange::new(slot, slot), value)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_equal_neighbours_only() {
        let runs = merge_runs(&[7, 7, 3, 7, 7, 7]);
        assert_eq!(
            runs,
            vec![(SlotRange::new(0, 1), 7), (SlotRange::new(2, 2), 3), (SlotRange::new(3, 5), 7),]
        );
        assert!(merge_runs::<u16>(&[]).is_empty());
    }

    #[test]
    fn formats_like_cluster_nodes() {
        assert_eq!(SlotRange::new(0, 5460).to_string(), "0-5460");
        assert_eq!(SlotRange::new(42, 42).to_string(), "42");
        assert_eq!(SlotRange::new(10, 12).len(), 3);
        assert!(SlotRange::new(10, 12).contains(12));
        assert!(!SlotRange::new(10, 12).contains(13));
    }
}
