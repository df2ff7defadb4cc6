//! The seed loop: resolve the seeds, ask the membership task to announce to
//! them, wait, repeat.
//!
//! It runs beside the task that owns foca, so a slow DNS server never delays
//! foca's timers. Before the node has met anyone it retries with capped
//! exponential backoff; afterwards it keeps announcing every
//! `seed_interval`, so two halves of a cluster that formed separately (or a
//! seed that came back) merge.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::stats::{Counter, MembershipStats};
use super::task::Command;
use super::view::MemberView;

/// Longest wait for one seed's DNS answer.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Capped exponential backoff.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min` and doubles up to `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, next: min }
    }

    /// The delay before the next attempt; the one after is twice as long.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Back to the shortest delay.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Everything the seed loop works with.
pub(crate) struct SeedLoop {
    /// Seeds as configured, plus any added at run time.
    pub(crate) seeds: Vec<String>,
    /// Seeds added through the handle.
    pub(crate) added: mpsc::UnboundedReceiver<String>,
    /// The membership task's input.
    pub(crate) commands: mpsc::Sender<Command>,
    /// The published view, to tell whether the node has peers.
    pub(crate) view: watch::Receiver<MemberView>,
    pub(crate) backoff: Backoff,
    /// Period once the node has peers.
    pub(crate) interval: Duration,
    pub(crate) stats: Arc<MembershipStats>,
    /// Cancelled on shutdown or when the membership task ends.
    pub(crate) stop: CancellationToken,
}

impl SeedLoop {
    /// Runs until `stop` is cancelled or the membership task is gone.
    pub(crate) async fn run(mut self) {
        let mut added_open = true;
        loop {
            let addrs = tokio::select! {
                _ = self.stop.cancelled() => return,
                addrs = resolve_all(&self.seeds, &self.stats) => addrs,
            };
            if !addrs.is_empty() && self.commands.send(Command::Announce(addrs)).await.is_err() {
                return;
            }
            let delay = if self.view.borrow().has_peers() {
                self.backoff.reset();
                self.interval
            } else {
                self.backoff.next_delay()
            };
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
                seed = self.added.recv(), if added_open => match seed {
                    Some(seed) => {
                        if !self.seeds.contains(&seed) {
                            self.seeds.push(seed);
                        }
                        self.backoff.reset();
                    }
                    None => added_open = false,
                },
            }
        }
    }
}

/// Every address the seeds resolve to, deduplicated. Failures are counted
/// and logged, never fatal: the next attempt resolves again.
async fn resolve_all(seeds: &[String], stats: &MembershipStats) -> Vec<SocketAddr> {
    let mut addrs = Vec::new();
    for seed in seeds {
        match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(seed.as_str())).await {
            Ok(Ok(found)) => addrs.extend(found),
            Ok(Err(error)) => {
                stats.bump(Counter::SeedResolveFailure);
                tracing::debug!(seed, %error, "seed did not resolve");
            }
            Err(_) => {
                stats.bump(Counter::SeedResolveFailure);
                tracing::debug!(seed, "seed resolution timed out");
            }
        }
    }
    addrs.sort_unstable();
    addrs.dedup();
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<u64> = (0..5).map(|_| backoff.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[tokio::test]
    async fn resolves_ips_and_names_and_counts_failures() {
        let stats = MembershipStats::default();
        let seeds = vec![
            "127.0.0.1:7000".to_string(),
            "127.0.0.1:7000".to_string(),
            "localhost:7001".to_string(),
            "no port".to_string(),
        ];
        let addrs = resolve_all(&seeds, &stats).await;
        assert!(addrs.contains(&"127.0.0.1:7000".parse().unwrap()));
        assert!(addrs.iter().any(|a| a.port() == 7001));
        assert_eq!(addrs.iter().filter(|a| a.port() == 7000).count(), 1);
        assert_eq!(stats.snapshot().seed_resolve_failures, 1);
    }
}
