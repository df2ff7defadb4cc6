//! `--pipe`: mass insertion. Standard input (RESP commands, or inline
//! commands, as the server accepts either) is streamed to the server while
//! a second thread reads the replies, so neither side's buffers fill up.
//! After the input, an `ECHO` of a random token marks the end: its reply
//! is the last one. Errors are printed as they come; the summary is
//! `errors: N, replies: M`, and the exit status is 1 when N > 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use rand::Rng;

use super::conn::{CliError, encode_command};
use super::reply::{self, Reply};
use super::session::Session;

/// What `--pipe` counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PipeCounts {
    /// Error replies.
    pub errors: u64,
    /// Replies, errors included, the end marker not.
    pub replies: u64,
}

enum Event {
    /// Some replies arrived (the timeout restarts).
    Progress,
    /// The end marker arrived.
    Done(PipeCounts),
    /// The connection failed.
    Failed(CliError),
}

/// Runs `--pipe` with `input`; returns the exit status.
pub fn run(session: &mut Session, input: impl Read, timeout: Option<Duration>) -> i32 {
    match transfer(session, input, timeout, &mut std::io::stdout()) {
        Ok(counts) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "errors: {}, replies: {}", counts.errors, counts.replies)
                .and_then(|()| out.flush());
            i32::from(counts.errors > 0)
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Sends everything from `input`, then waits for the last reply (at most
/// `timeout` without any reply). Progress messages go to `out`, error
/// replies to standard error.
pub fn transfer(
    session: &mut Session,
    mut input: impl Read,
    timeout: Option<Duration>,
    out: &mut dyn Write,
) -> Result<PipeCounts, CliError> {
    let conn = session.connection()?;
    let mut writer = conn.stream().try_clone()?;
    writer.set_write_timeout(None)?;
    let reader = conn.stream().try_clone()?;
    reader.set_read_timeout(None)?;
    let token: [u8; 20] = rand::rng().random();
    let marker = hex(&token);
    let (events, progress) = mpsc::channel();
    let expected = marker.clone().into_bytes();
    std::thread::spawn(move || read_replies(reader, &expected, &events));

    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        writer.write_all(&chunk[..n])?;
    }
    writer.write_all(&encode_command(&[b"ECHO".as_slice(), marker.as_bytes()]))?;
    writeln!(out, "All data transferred. Waiting for the last reply...")?;
    out.flush()?;
    let result = loop {
        let event = match timeout {
            Some(limit) => progress.recv_timeout(limit).map_err(|_| {
                CliError::Io(std::io::Error::other(format!(
                    "No replies for {} seconds: exiting.",
                    limit.as_secs()
                )))
            })?,
            None => progress.recv().map_err(|_| CliError::Closed)?,
        };
        match event {
            Event::Progress => continue,
            Event::Done(counts) => break Ok(counts),
            Event::Failed(e) => break Err(e),
        }
    };
    // The reading thread stops with the marker or the connection; the
    // session's connection now belongs to the pipe, so it is not reused.
    session.disconnect();
    let counts = result?;
    writeln!(out, "Last reply received from server.")?;
    Ok(counts)
}

fn read_replies(mut stream: TcpStream, marker: &[u8], events: &mpsc::Sender<Event>) {
    let mut counts = PipeCounts::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        loop {
            match reply::parse(&mut buf) {
                Ok(Some(Reply::Bulk(data))) if data == marker => {
                    let _ = events.send(Event::Done(counts));
                    return;
                }
                Ok(Some(Reply::Error(text))) => {
                    counts.errors += 1;
                    counts.replies += 1;
                    eprintln!("{}", String::from_utf8_lossy(&text));
                }
                Ok(Some(_)) => counts.replies += 1,
                Ok(None) => break,
                Err(e) => {
                    let _ = events.send(Event::Failed(e.into()));
                    return;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                let _ = events.send(Event::Failed(CliError::Closed));
                return;
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if events.send(Event::Progress).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = events.send(Event::Failed(e.into()));
                return;
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
