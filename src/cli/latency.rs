//! `--latency` and `--latency-history`: PING round trips every 10 ms.
//!
//! On a terminal, one line updated in place: `min: 0.04, max: 0.61, avg:
//! 0.09 (812 samples)` in milliseconds (with fractions: loopback round
//! trips are well under a millisecond); `--latency-history` ends the line
//! every interval (15 s unless `-i`) with ` -- 15.00 seconds range` and
//! starts a new window. Elsewhere, `--latency` samples for one interval
//! (1 s unless `-i`) and prints `min max avg samples` once;
//! `--latency-history` prints such a line per window.

use std::io::Write;
use std::time::{Duration, Instant};

use super::conn::CliError;
use super::session::Session;

/// Time between samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// Round trips over one window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Fastest.
    pub min: f64,
    /// Slowest.
    pub max: f64,
    /// Sum, for the average.
    pub total: f64,
    /// Samples.
    pub count: u64,
}

impl Default for Window {
    fn default() -> Window {
        Window { min: f64::INFINITY, max: 0.0, total: 0.0, count: 0 }
    }
}

impl Window {
    /// Adds one round trip.
    pub fn add(&mut self, ms: f64) {
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
        self.total += ms;
        self.count += 1;
    }

    /// Mean round trip.
    pub fn avg(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.total / self.count as f64 }
    }

    fn min_or_zero(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.min }
    }

    /// The terminal line.
    pub fn line(&self) -> String {
        format!(
            "min: {:.2}, max: {:.2}, avg: {:.2} ({} samples)",
            self.min_or_zero(),
            self.max,
            self.avg(),
            self.count
        )
    }

    /// The line for scripts: `min max avg samples`.
    pub fn plain(&self) -> String {
        format!("{:.2} {:.2} {:.2} {}", self.min_or_zero(), self.max, self.avg(), self.count)
    }
}

/// Runs the latency mode; returns the exit status. `windows` bounds the
/// number of history windows (`-r`; `None`: forever).
pub fn run(
    session: &mut Session,
    tty: bool,
    interval: Option<Duration>,
    history: bool,
    windows: Option<i64>,
) -> i32 {
    let mut out = std::io::stdout();
    let window_len =
        interval.unwrap_or(if history || tty { Duration::from_secs(15) } else { Duration::from_secs(1) });
    match sample(session, tty, window_len, history, windows, &mut out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(out);
            if !e.is_output_closed() {
                eprintln!("{e}");
            }
            1
        }
    }
}

fn ping(session: &mut Session) -> Result<f64, CliError> {
    let started = Instant::now();
    let reply = session.call(&[b"PING".to_vec()], &mut std::io::sink())?;
    if let Some(reply) = reply.filter(|r| r.is_error()) {
        return Err(CliError::Io(std::io::Error::other(reply.as_text().unwrap_or_default())));
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn sample(
    session: &mut Session,
    tty: bool,
    window_len: Duration,
    history: bool,
    windows: Option<i64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    session.connection()?;
    let mut window = Window::default();
    let mut started = Instant::now();
    let mut done = 0;
    loop {
        window.add(ping(session)?);
        if tty {
            write!(out, "\x1b[0G\x1b[2K{}", window.line())?;
            out.flush()?;
        }
        let elapsed = started.elapsed();
        if elapsed >= window_len && (history || !tty) {
            if tty {
                writeln!(out, " -- {:.2} seconds range", elapsed.as_secs_f64())?;
            } else {
                writeln!(out, "{}", window.plain())?;
            }
            out.flush()?;
            done += 1;
            if !history || windows.is_some_and(|n| n > 0 && done >= n) {
                return Ok(());
            }
            window = Window::default();
            started = Instant::now();
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_statistics() {
        let mut w = Window::default();
        assert_eq!(w.plain(), "0.00 0.00 0.00 0");
        w.add(0.5);
        w.add(1.5);
        w.add(0.25);
        assert_eq!(w.line(), "min: 0.25, max: 1.50, avg: 0.75 (3 samples)");
        assert_eq!(w.plain(), "0.25 1.50 0.75 3");
    }
}
