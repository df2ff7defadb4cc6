//! The one ordered timer queue of the membership task.
//!
//! foca's probe cycle relies on its timers firing in deadline order (an
//! indirect probe must fire before the next probe starts). A task per timer
//! gives no such guarantee; one queue polled by the owner task does. Events
//! due at the same instant fire in foca's own `Timer` order, then in the
//! order they were scheduled.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use foca::Timer;
use tokio::time::Instant;

use super::identity::NodeIdentity;

/// Something the task asked to be woken for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimerEvent {
    /// A timer foca submitted; handed back with `handle_timer`.
    Foca(Timer<NodeIdentity>),
    /// Our periodic view refresh (suspicions, duplicate grace).
    Housekeeping,
}

impl Ord for TimerEvent {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (TimerEvent::Foca(a), TimerEvent::Foca(b)) => a.cmp(b),
            (TimerEvent::Foca(_), TimerEvent::Housekeeping) => Ordering::Less,
            (TimerEvent::Housekeeping, TimerEvent::Foca(_)) => Ordering::Greater,
            (TimerEvent::Housekeeping, TimerEvent::Housekeeping) => Ordering::Equal,
        }
    }
}

impl PartialOrd for TimerEvent {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One pending event; ordered by deadline, event, then insertion.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: Instant,
    event: TimerEvent,
    seq: u64,
}

/// A min-queue of events by deadline.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
}

impl TimerQueue {
    /// Adds `event`, due at `at`.
    pub(crate) fn schedule(&mut self, at: Instant, event: TimerEvent) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Scheduled { at, event, seq }));
    }

    /// The earliest deadline, if any event is pending.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(s)| s.at)
    }

    /// Removes and returns the earliest event due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerEvent> {
        if self.next_deadline()? <= now { self.heap.pop().map(|Reverse(s)| s.event) } else { None }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn probe_target() -> NodeIdentity {
        NodeIdentity::seed("127.0.0.1:1".parse().unwrap())
    }

    #[test]
    fn fires_in_deadline_order_not_insertion_order() {
        let mut queue = TimerQueue::default();
        let t0 = Instant::now();
        queue.schedule(t0 + Duration::from_millis(500), TimerEvent::Foca(Timer::ProbeRandomMember(0)));
        queue.schedule(
            t0 + Duration::from_millis(200),
            TimerEvent::Foca(Timer::SendIndirectProbe { probed_id: probe_target(), token: 0 }),
        );
        queue.schedule(t0 + Duration::from_millis(300), TimerEvent::Housekeeping);
        assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_millis(200)));
        assert_eq!(queue.pop_due(t0 + Duration::from_millis(100)), None);

        let late = t0 + Duration::from_secs(1);
        let fired: Vec<TimerEvent> = std::iter::from_fn(|| queue.pop_due(late)).collect();
        assert!(matches!(fired[0], TimerEvent::Foca(Timer::SendIndirectProbe { .. })));
        assert_eq!(fired[1], TimerEvent::Housekeeping);
        assert_eq!(fired[2], TimerEvent::Foca(Timer::ProbeRandomMember(0)));
        assert_eq!(queue.next_deadline(), None);
    }

    #[test]
    fn same_deadline_uses_foca_order_then_insertion() {
        let mut queue = TimerQueue::default();
        let at = Instant::now();
        queue.schedule(at, TimerEvent::Housekeeping);
        queue.schedule(at, TimerEvent::Foca(Timer::ProbeRandomMember(1)));
        queue
            .schedule(at, TimerEvent::Foca(Timer::SendIndirectProbe { probed_id: probe_target(), token: 1 }));
        queue.schedule(at, TimerEvent::Housekeeping);
        let fired: Vec<TimerEvent> = std::iter::from_fn(|| queue.pop_due(at)).collect();
        assert!(matches!(fired[0], TimerEvent::Foca(Timer::SendIndirectProbe { .. })));
        assert_eq!(fired[1], TimerEvent::Foca(Timer::ProbeRandomMember(1)));
        assert_eq!(fired[2..], [TimerEvent::Housekeeping, TimerEvent::Housekeeping]);
    }
}
