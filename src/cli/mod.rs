//! The client side of `shoal-cli`: a blocking connection that sends
//! commands and reads replies, and redis-cli's reply formatting.
//!
//! The binary only parses flags; everything a fuller, interactive CLI will
//! share lives here.

pub mod format;

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use bytes::BytesMut;

use crate::protocol::Frame;
use crate::protocol::reply::{ReplyError, parse_reply};

/// Why a command got no reply.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server could not be reached (the text is the system's reason,
    /// e.g. `Connection refused`).
    #[error("Could not connect to {addr}: {reason}")]
    Connect {
        /// `host:port` as given.
        addr: String,
        /// Why, without the OS error number.
        reason: String,
    },
    /// The connection failed after it was made.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before replying.
    #[error("Server closed the connection")]
    Closed,
    /// The server sent something that is not RESP.
    #[error("Protocol error: {0}")]
    Protocol(#[from] ReplyError),
}

/// A blocking connection to a server.
pub struct Connection {
    stream: TcpStream,
    input: BytesMut,
}

impl Connection {
    /// Connects to `host:port` (a name or an address).
    pub fn connect(host: &str, port: u16) -> Result<Connection, CliError> {
        let addr = format!("{host}:{port}");
        let failed = |e: std::io::Error| CliError::Connect { addr: addr.clone(), reason: reason(&e) };
        let mut last = None;
        for candidate in (host, port).to_socket_addrs().map_err(failed)? {
            match TcpStream::connect(candidate) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return Ok(Connection { stream, input: BytesMut::with_capacity(16 * 1024) });
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| std::io::Error::other("no address found"));
        Err(failed(e))
    }

    /// Sends one command and waits for its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, CliError> {
        self.stream.write_all(&encode_command(args))?;
        self.read_reply()
    }

    /// Reads the next reply.
    pub fn read_reply(&mut self) -> Result<Frame, CliError> {
        loop {
            if let Some(frame) = parse_reply(&mut self.input)? {
                return Ok(frame);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(CliError::Closed);
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Encodes a command as a RESP multibulk request.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// An I/O error's text without Rust's ` (os error N)` suffix, as C tools
/// print `strerror`.
fn reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_multibulk() {
        assert_eq!(encode_command(&["SET", "k", ""]), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn reason_drops_os_error_number() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(reason(&e), "Connection refused");
    }
}
