//! Per-command counters: calls, error replies and latency, by the index of
//! the command in [`TABLE`](super::TABLE). Recorded for every client
//! request by the router (allocation- and lock-free: two or three relaxed
//! atomic additions to the calling thread's own table, see
//! [`crate::util::striped`]); read by `INFO commandstats` and the metrics,
//! which add the tables up and therefore agree.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::util::histogram::{LatencyHistogram, LatencySnapshot};
use crate::util::striped::{STRIPES, stripe};

/// Counters of one command. Aligned to a cache line so that commands used
/// from different threads do not share one.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct CommandCells {
    latency: LatencyHistogram,
    errors: AtomicU64,
}

/// One command's counters added up over every thread's table.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommandTotals {
    latency: LatencySnapshot,
    errors: u64,
}

impl CommandTotals {
    /// Latency of every call (its count is the number of calls).
    pub fn latency(&self) -> LatencySnapshot {
        self.latency
    }

    /// Calls answered with an error reply.
    pub fn errors(&self) -> u64 {
        self.errors
    }
}

/// Counters of every command, plus one slot for unknown commands, in one
/// table per thread stripe.
#[derive(Debug)]
pub struct CommandStats {
    tables: Box<[Box<[CommandCells]>]>,
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats::new()
    }
}

impl CommandStats {
    /// Zeroed counters for every command of the table.
    pub fn new() -> CommandStats {
        let slots = super::TABLE.commands().len() + 1;
        let table = || (0..slots).map(|_| CommandCells::default()).collect();
        CommandStats { tables: (0..STRIPES).map(|_| table()).collect() }
    }

    fn index(&self, command: Option<u16>) -> usize {
        let unknown = self.tables[0].len() - 1;
        command.map_or(unknown, |i| (i as usize).min(unknown))
    }

    /// Records one request: `command` is its index in the table (`None`
    /// for an unknown command), `error` whether the reply was an error,
    /// `elapsed` how long it took to answer (forwarding included).
    pub fn record(&self, command: Option<u16>, error: bool, elapsed: Duration) {
        let cells = &self.tables[stripe()][self.index(command)];
        cells.latency.observe(elapsed);
        if error {
            cells.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters of `command` (`None`: unknown commands).
    pub fn cells(&self, command: Option<u16>) -> CommandTotals {
        let index = self.index(command);
        self.tables.iter().map(|table| &table[index]).fold(CommandTotals::default(), |mut sum, cells| {
            sum.latency.add(&cells.latency.snapshot());
            sum.errors += cells.errors.load(Ordering::Relaxed);
            sum
        })
    }

    /// Zeroes every counter (`CONFIG RESETSTAT`).
    pub fn reset(&self) {
        for cells in self.tables.iter().flat_map(|table| table.iter()) {
            cells.latency.reset();
            cells.errors.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_by_command_and_unknown_apart() {
        let stats = CommandStats::new();
        let (get, _) = super::super::TABLE.lookup(b"get").expect("get");
        stats.record(Some(get), false, Duration::from_micros(5));
        stats.record(Some(get), true, Duration::from_micros(30));
        stats.record(None, true, Duration::from_micros(1));
        assert_eq!(stats.cells(Some(get)).latency().count(), 2);
        assert_eq!(stats.cells(Some(get)).errors(), 1);
        assert_eq!(stats.cells(None).latency().count(), 1);
        stats.reset();
        assert_eq!(stats.cells(Some(get)).latency().count(), 0);
        assert_eq!(stats.cells(Some(get)).errors(), 0);
    }
}
