//! `--stat`: a line per interval from INFO, as redis-cli's `--stat`, with
//! the cache's hits and misses added: keys, memory, clients, requests
//! (with the change since the last line), connections, hits and misses.
//! The header repeats every 20 lines.

use std::io::Write;
use std::time::Duration;

use super::conn::CliError;
use super::info::{Info, human_bytes};
use super::session::Session;

/// Lines between headers.
const HEADER_EVERY: u64 = 20;

/// The counters one line shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Keys over all databases.
    pub keys: u64,
    /// `used_memory`.
    pub memory: u64,
    /// `connected_clients`.
    pub clients: u64,
    /// `blocked_clients`.
    pub blocked: u64,
    /// `total_commands_processed`.
    pub requests: u64,
    /// `total_connections_received`.
    pub connections: u64,
    /// `keyspace_hits`.
    pub hits: u64,
    /// `keyspace_misses`.
    pub misses: u64,
}

impl Sample {
    /// Reads the counters from INFO fields (missing ones count as 0).
    pub fn from_info(info: &Info) -> Sample {
        let n = |name: &str| info.number(name).unwrap_or(0);
        Sample {
            keys: info.keys(),
            memory: n("used_memory"),
            clients: n("connected_clients"),
            blocked: n("blocked_clients"),
            requests: n("total_commands_processed"),
            connections: n("total_connections_received"),
            hits: n("keyspace_hits"),
            misses: n("keyspace_misses"),
        }
    }

    /// The line for this sample, with changes since `previous`.
    pub fn line(&self, previous: Option<&Sample>) -> String {
        let delta = |now: u64, before: fn(&Sample) -> u64| {
            let d = previous.map_or(0, |p| now.saturating_sub(before(p)));
            format!("{now} (+{d})")
        };
        format!(
            "{:<10} {:<8} {:<7} {:<7} {:<19} {:<11} {:<17} {:<17}",
            self.keys,
            human_bytes(self.memory),
            self.clients,
            self.blocked,
            delta(self.requests, |p| p.requests),
            self.connections,
            delta(self.hits, |p| p.hits),
            delta(self.misses, |p| p.misses),
        )
        .trim_end()
        .to_string()
    }
}

/// The two header lines.
pub fn header() -> String {
    format!(
        "{:<19} {:<47} {:<35}\n{:<10} {:<8} {:<7} {:<7} {:<19} {:<11} {:<17} {}",
        "------- data ------",
        "--------------------- load --------------------",
        "------------- cache -------------",
        "keys",
        "mem",
        "clients",
        "blocked",
        "requests",
        "connections",
        "hits",
        "misses",
    )
}

/// Prints a line every `interval`; `lines` bounds how many (`-r`; `None`:
/// until interrupted). Returns the exit status.
pub fn run(session: &mut Session, interval: Duration, lines: Option<i64>) -> i32 {
    let mut out = std::io::stdout();
    match watch(session, interval, lines, &mut out) {
        Ok(()) => 0,
        Err(e) => {
            if !e.is_output_closed() {
                eprintln!("{e}");
            }
            1
        }
    }
}

fn watch(
    session: &mut Session,
    interval: Duration,
    lines: Option<i64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut previous = None;
    let mut printed = 0u64;
    loop {
        let info = Info::fetch(session.connection()?, &[])?;
        let sample = Sample::from_info(&info);
        if printed.is_multiple_of(HEADER_EVERY) {
            writeln!(out, "{}", header())?;
        }
        writeln!(out, "{}", sample.line(previous.as_ref()))?;
        out.flush()?;
        printed += 1;
        if lines.is_some_and(|n| n > 0 && printed >= n as u64) {
            return Ok(());
        }
        previous = Some(sample);
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_counters_and_changes() {
        let info = Info::parse(
            "connected_clients:2\r\nused_memory:2048\r\ntotal_commands_processed:10\r\n\
             keyspace_hits:4\r\nkeyspace_misses:1\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n",
        );
        let first = Sample::from_info(&info);
        assert_eq!(first.keys, 3);
        let line = first.line(None);
        assert!(line.starts_with("3          2.00K    2       0       10 (+0)"), "{line}");
        let later = Sample { requests: 15, hits: 9, ..first };
        let line = later.line(Some(&first));
        assert!(line.contains("15 (+5)") && line.contains("9 (+5)") && line.ends_with("1 (+0)"), "{line}");
        assert!(header().contains("keys       mem      clients blocked requests"));
    }
}
