//! A blocking connection to one server: send commands, read replies.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;

use super::reply::{self, Reply};
use crate::protocol::reply::ReplyError;

/// Why a command got no reply. Each variant's text is what the CLI prints.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server could not be reached (the text is the system's reason,
    /// e.g. `Connection refused`), as redis-cli words it.
    #[error("Could not connect to Redis at {addr}: {reason}")]
    Connect {
        /// `host:port` as given.
        addr: String,
        /// Why, without the OS error number.
        reason: String,
    },
    /// The server closed the connection before replying.
    #[error("Error: Server closed the connection")]
    Closed,
    /// No reply within the timeout (`-t`).
    #[error("Error: Timed out waiting for a reply from the server")]
    Timeout,
    /// The connection failed after it was made.
    #[error("Error: {}", reason(.0))]
    Io(#[from] std::io::Error),
    /// The server sent something that is not RESP.
    #[error("Error: Protocol error: {0}")]
    Protocol(#[from] ReplyError),
}

impl CliError {
    /// True when standard output was closed (`shoal-cli ... | head -1`):
    /// nothing to report, as a C tool dies quietly of SIGPIPE. (A socket's
    /// broken pipe is [`CliError::Closed`].)
    pub fn is_output_closed(&self) -> bool {
        matches!(self, CliError::Io(e) if e.kind() == ErrorKind::BrokenPipe)
    }

    /// True when the connection is unusable afterwards (anything but a
    /// protocol error is; a protocol error leaves the stream out of step too).
    pub fn is_connection_lost(&self) -> bool {
        !matches!(self, CliError::Connect { .. })
    }
}

/// Where to connect and how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connect and reply timeout; `None` waits as long as the system does.
    pub timeout: Option<Duration>,
}

impl Endpoint {
    /// `host:port`, as redis-cli prints it in messages.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The address as the prompt shows it (an IPv6 address in brackets).
    pub fn prompt_addr(&self) -> String {
        if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { self.addr() }
    }
}

/// A blocking connection to a server.
pub struct Connection {
    stream: TcpStream,
    input: BytesMut,
}

impl Connection {
    /// Connects to the endpoint (a name or an address; every address the
    /// name resolves to is tried in turn).
    pub fn open(endpoint: &Endpoint) -> Result<Connection, CliError> {
        let failed = |e: &std::io::Error| CliError::Connect { addr: endpoint.addr(), reason: reason(e) };
        let addrs: Vec<SocketAddr> =
            (endpoint.host.as_str(), endpoint.port).to_socket_addrs().map_err(|e| failed(&e))?.collect();
        let mut last = None;
        for addr in addrs {
            let attempt = match endpoint.timeout {
                Some(timeout) => TcpStream::connect_timeout(&addr, timeout),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(endpoint.timeout)?;
                    stream.set_write_timeout(endpoint.timeout)?;
                    return Ok(Connection { stream, input: BytesMut::with_capacity(16 * 1024) });
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| std::io::Error::new(ErrorKind::NotFound, "Name or service not known"));
        Err(failed(&e))
    }

    /// Sends one command and waits for its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply, CliError> {
        self.send(args)?;
        self.read_reply()
    }

    /// Sends one command without waiting.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), CliError> {
        self.write_all(&encode_command(args))
    }

    /// Writes bytes as they are.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        self.stream.write_all(bytes).map_err(io_error)
    }

    /// Reads the next reply, waiting as long as the timeout allows.
    pub fn read_reply(&mut self) -> Result<Reply, CliError> {
        loop {
            if let Some(reply) = reply::parse(&mut self.input)? {
                return Ok(reply);
            }
            self.fill()?;
        }
    }

    /// A reply already received, without waiting for more input.
    pub fn buffered_reply(&mut self) -> Result<Option<Reply>, CliError> {
        Ok(reply::parse(&mut self.input)?)
    }

    /// Reads once from the socket into the buffer; an end of stream is
    /// [`CliError::Closed`].
    pub fn fill(&mut self) -> Result<usize, CliError> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).map_err(io_error)?;
        if n == 0 {
            return Err(CliError::Closed);
        }
        self.input.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// True when the server has closed its side (or reset it) while the
    /// connection sat idle: a command sent now would be lost. Looks without
    /// blocking and without consuming anything.
    pub fn closed_by_peer(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut probe = [0u8; 1];
        let closed = match self.stream.peek(&mut probe) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        };
        closed || self.stream.set_nonblocking(false).is_err()
    }

    /// The socket, for modes that drive it themselves (`--pipe`).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

fn io_error(e: std::io::Error) -> CliError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => CliError::Timeout,
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => CliError::Closed,
        _ => CliError::Io(e),
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

/// An I/O error's text as C tools print `strerror`: without Rust's
/// ` (os error N)` suffix or the resolver's preamble.
fn reason(e: &std::io::Error) -> String {
    if e.kind() == ErrorKind::TimedOut {
        return "Connection timed out".to_string();
    }
    let text = e.to_string();
    let text = text.strip_prefix("failed to lookup address information: ").unwrap_or(&text);
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text.to_string(),
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
    fn reasons_read_like_strerror() {
        assert_eq!(reason(&std::io::Error::from_raw_os_error(111)), "Connection refused");
        assert_eq!(reason(&std::io::Error::from(ErrorKind::TimedOut)), "Connection timed out");
    }

    #[test]
    fn messages_match_redis_cli() {
        let endpoint = Endpoint { host: "127.0.0.1".into(), port: 1, timeout: None };
        let err = Connection::open(&endpoint).err().expect("nothing listens on port 1");
        assert_eq!(err.to_string(), "Could not connect to Redis at 127.0.0.1:1: Connection refused");
        assert_eq!(CliError::Closed.to_string(), "Error: Server closed the connection");
        let v6 = Endpoint { host: "::1".into(), port: 7, timeout: None };
        assert_eq!(v6.prompt_addr(), "[::1]:7");
    }

    #[test]
    fn sees_a_peer_close_before_sending() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint = Endpoint { host: "127.0.0.1".into(), port, timeout: Some(Duration::from_secs(10)) };
        let conn = Connection::open(&endpoint).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        assert!(!conn.closed_by_peer());
        drop(server_side);
        let closed = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            conn.closed_by_peer()
        });
        assert!(closed);
    }
}
