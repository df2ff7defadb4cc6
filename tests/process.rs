//! The real `shoal` binary: it starts on the port it is given, says where
//! it listens, and exits 0 on SIGTERM and on `SHUTDOWN`.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use common::{DEADLINE, RespConn, free_port, simple, wait_for};

/// A running `shoal` process, killed if the test ends early.
struct ShoalProcess {
    child: Child,
    port: u16,
}

impl ShoalProcess {
    /// Starts `shoal` on free client and peer ports and waits until it answers PING.
    fn start() -> ShoalProcess {
        let port = free_port();
        // The gossip port follows the peer port when not set.
        let peer_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["--port", &port.to_string(), "--peer-port", &peer_port.to_string(), "--metrics-port", "0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the shoal binary");
        let mut process = ShoalProcess { child, port };
        let ready = wait_for(DEADLINE, || {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("shoal exited early with {status}:\n{}", process.output());
            }
            let mut conn = RespConn::connect(process.addr()).ok()?;
            (conn.call(["PING"]).ok()? == simple("PONG")).then_some(())
        });
        assert!(ready.is_some(), "shoal --port {port} did not answer PING within {DEADLINE:?}");
        process
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits for the process to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_for(timeout, || self.child.try_wait().ok().flatten())
    }

    /// Everything the process wrote so far (call after it exited).
    fn output(&mut self) -> String {
        let mut text = String::new();
        if let Some(out) = self.child.stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        if let Some(err) = self.child.stderr.as_mut() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for ShoalProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks a clean exit and that the log names the listening address.
fn assert_clean_exit(process: &mut ShoalProcess, how: &str) {
    let status = process.wait_exit(DEADLINE);
    let output = process.output();
    let status = status.unwrap_or_else(|| panic!("shoal still running {DEADLINE:?} after {how}"));
    assert!(status.success(), "shoal exited with {status} after {how}:\n{output}");
    let addr = process.addr().to_string();
    assert!(output.contains(&addr), "the log does not say shoal listens on {addr}:\n{output}");
}

#[test]
fn sigterm_stops_the_process_cleanly() {
    let mut process = ShoalProcess::start();
    // A connected client does not keep the process alive.
    let mut client = RespConn::connect(process.addr()).expect("connect");
    assert_eq!(client.call(["PING"]).expect("reply"), simple("PONG"));
    let pid = process.child.id() as libc::pid_t;
    // SAFETY: kill(2) with the PID of a child we spawned and have not reaped.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0, "kill(SIGTERM) failed");
    assert_clean_exit(&mut process, "SIGTERM");
    assert!(client.wait_closed(DEADLINE), "client connection open after the process exited");
}

#[test]
fn shutdown_command_stops_the_process_cleanly() {
    let mut process = ShoalProcess::start();
    let mut client = RespConn::connect(process.addr()).expect("connect");
    client.send(["SHUTDOWN"]).expect("send SHUTDOWN");
    // Like Redis, a successful SHUTDOWN sends no reply: the connection closes.
    let closed = client.wait_closed(DEADLINE);
    let reply = String::from_utf8_lossy(client.pending()).into_owned();
    assert!(closed, "connection open {DEADLINE:?} after SHUTDOWN; reply: {reply:?}");
    assert!(reply.is_empty(), "reply to SHUTDOWN: {reply:?}");
    assert_clean_exit(&mut process, "SHUTDOWN");
}
