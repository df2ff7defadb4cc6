//! Clusters of the real `shoal` binary on loopback: `shoal local-cluster`
//! (three nodes in one process) and three `shoal` processes started with
//! flags only. Both form a cluster, serve a key written through one node
//! from another, and exit 0 on SIGTERM (or, for one of the three processes,
//! after `SHOAL LEAVE`, its keys still served by the others).

mod common;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use common::{DEADLINE, RespConn, bulk, simple, wait_for};
use shoal::protocol::Frame;

/// Nodes in every test cluster.
const NODES: u16 = 3;
/// Generous bound for the nodes to find each other (fast gossip profile).
const CONVERGE: Duration = Duration::from_secs(30);
/// Attempts at finding ports nobody else takes before the cluster binds them.
const ATTEMPTS: usize = 5;

/// Consecutive client ports and peer (TCP) + gossip (UDP) ports of a cluster.
#[derive(Clone, Copy, Debug)]
struct Ports {
    client: u16,
    peer: u16,
}

impl Ports {
    /// Two disjoint ranges of [`NODES`] ports that are free right now, below
    /// the ephemeral range so outgoing connections do not take them.
    fn pick() -> Ports {
        loop {
            let client = rand::random_range(20_000..32_000);
            let peer = rand::random_range(20_000..32_000);
            let disjoint = client + NODES <= peer || peer + NODES <= client;
            if disjoint
                && (0..NODES).all(|i| tcp_free(client + i) && tcp_free(peer + i) && udp_free(peer + i))
            {
                return Ports { client, peer };
            }
        }
    }

    /// Client address of node `i` (0-based).
    fn client_addr(&self, i: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client + i))
    }
}

fn tcp_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn udp_free(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_ok()
}

/// A running `shoal` process writing to log files; killed if the test ends early.
struct Shoal {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Shoal {
    fn spawn(args: &[String]) -> Shoal {
        let dir = tempfile::tempdir().expect("temp dir");
        let stdout = dir.path().join("stdout");
        let stderr = dir.path().join("stderr");
        let file = |path: &PathBuf| std::fs::File::create(path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(file(&stdout))
            .stderr(file(&stderr))
            .spawn()
            .expect("run the shoal binary");
        Shoal { child, stdout, stderr, _dir: dir }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn sigterm(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with the PID of a child we spawned and have not reaped.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill(SIGTERM) failed");
    }

    /// Waits for a clean exit after SIGTERM.
    fn assert_exits_cleanly(&mut self) {
        let status = wait_for(DEADLINE, || self.exited());
        let status = status
            .unwrap_or_else(|| panic!("shoal still running {DEADLINE:?} after SIGTERM:\n{}", self.stderr()));
        assert!(status.success(), "shoal exited with {status} after SIGTERM:\n{}", self.stderr());
    }
}

impl Drop for Shoal {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts processes with `start` on fresh ports until none lost a port to
/// someone else, and waits until every node answers PING.
fn start_on_free_ports(start: impl Fn(Ports) -> Vec<Shoal>) -> (Ports, Vec<Shoal>) {
    for _ in 0..ATTEMPTS {
        let ports = Ports::pick();
        let mut processes = start(ports);
        let ready = wait_for(DEADLINE, || {
            if let Some(p) = processes.iter_mut().find_map(|p| p.exited().map(|_| p)) {
                return Some(Err(p.stderr()));
            }
            (0..NODES).all(|i| ping(ports.client_addr(i))).then_some(Ok(()))
        });
        match ready {
            Some(Ok(())) => return (ports, processes),
            Some(Err(log)) if log.contains("Address already in use") => continue,
            Some(Err(log)) => panic!("shoal exited early:\n{log}"),
            None => panic!("the nodes on {ports:?} did not answer PING within {DEADLINE:?}"),
        }
    }
    panic!("no free ports after {ATTEMPTS} attempts");
}

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut conn) = RespConn::connect(addr) else { return false };
    conn.call(["PING"]).is_ok_and(|reply| reply == simple("PONG"))
}

/// `CLUSTER INFO` of the node at `addr`, as text.
fn cluster_info(addr: SocketAddr) -> Option<String> {
    let mut conn = RespConn::connect(addr).ok()?;
    match conn.call(["CLUSTER", "INFO"]).ok()? {
        Frame::Bulk(text) | Frame::Verbatim(text) => Some(String::from_utf8_lossy(&text).into_owned()),
        _ => None,
    }
}

/// Waits until every node reports all [`NODES`] members and every slot served.
fn wait_formed(ports: Ports, processes: &mut [Shoal]) {
    let known = format!("cluster_known_nodes:{NODES}\r\n");
    let formed = wait_for(CONVERGE, || {
        for p in processes.iter_mut() {
            if let Some(status) = p.exited() {
                panic!("shoal exited with {status} while the cluster formed:\n{}", p.stderr());
            }
        }
        (0..NODES)
            .all(|i| {
                cluster_info(ports.client_addr(i))
                    .is_some_and(|info| info.contains("cluster_state:ok\r\n") && info.contains(&known))
            })
            .then_some(())
    });
    let infos: Vec<_> = (0..NODES).map(|i| cluster_info(ports.client_addr(i))).collect();
    assert!(formed.is_some(), "no cluster of {NODES} within {CONVERGE:?}: {infos:#?}");
}

/// Keys written through node 1 are read back through node 3.
fn assert_serves_keys_across_nodes(ports: Ports) {
    let mut first = RespConn::connect(ports.client_addr(0)).expect("connect to n1");
    let mut last = RespConn::connect(ports.client_addr(NODES - 1)).expect("connect to n3");
    // Enough keys that some are owned by each node and so forwarded.
    for i in 0..30 {
        let (key, value) = (format!("key:{i}"), format!("value {i}"));
        assert_eq!(first.call(["SET", &key, &value]).expect("SET"), Frame::ok(), "SET {key}");
        assert_eq!(last.call(["GET", &key]).expect("GET"), bulk(&value), "GET {key} through n3");
    }
}

#[test]
fn local_cluster_runs_three_nodes_in_one_process() {
    let (ports, mut processes) = start_on_free_ports(|ports| {
        let args = [
            "local-cluster",
            "--nodes",
            &NODES.to_string(),
            "--base-port",
            &ports.client.to_string(),
            "--peer-base-port",
            &ports.peer.to_string(),
            "--metrics-base-port",
            "0",
            "--gossip-profile",
            "fast",
        ];
        vec![Shoal::spawn(&args.map(String::from))]
    });
    wait_formed(ports, &mut processes);
    assert_serves_keys_across_nodes(ports);

    let process = &mut processes[0];
    // The process prints its banner once it sees the cluster formed itself,
    // which may be a moment after the nodes answer this test.
    let hint = format!("redis-cli -c -p {} cluster slots", ports.client);
    let banner = wait_for(DEADLINE, || process.stdout().contains(&hint).then_some(()));
    assert!(banner.is_some(), "the banner does not say `{hint}`:\n{}", process.stdout());
    process.sigterm();
    process.assert_exits_cleanly();
    let log = process.stderr();
    for i in 1..=NODES {
        assert!(log.contains(&format!("node{{id=n{i}}}")), "no log line names node n{i}:\n{log}");
    }
}

#[test]
fn three_processes_form_a_cluster_from_flags() {
    let (ports, mut processes) = start_on_free_ports(|ports| {
        (0..NODES)
            .map(|i| {
                let mut args = vec![
                    "--node-id".to_string(),
                    format!("n{}", i + 1),
                    "--port".to_string(),
                    (ports.client + i).to_string(),
                    "--peer-port".to_string(),
                    (ports.peer + i).to_string(),
                    "--gossip-profile".to_string(),
                    "fast".to_string(),
                    "--metrics-port".to_string(),
                    "0".to_string(),
                ];
                if i > 0 {
                    // The gossip port follows the peer port when not set.
                    args.extend(["--seeds".to_string(), format!("127.0.0.1:{}", ports.peer)]);
                }
                Shoal::spawn(&args)
            })
            .collect()
    });
    wait_formed(ports, &mut processes);
    assert_serves_keys_across_nodes(ports);

    // SHOAL LEAVE: n3 hands its slots over and exits 0; nothing is lost.
    let mut last = RespConn::connect(ports.client_addr(NODES - 1)).expect("connect to n3");
    assert_eq!(last.call(["SHOAL", "LEAVE"]).expect("SHOAL LEAVE"), Frame::ok());
    let mut leaver = processes.pop().expect("three processes");
    let status = wait_for(CONVERGE, || leaver.exited());
    let status = status.unwrap_or_else(|| panic!("n3 still running {CONVERGE:?} after SHOAL LEAVE"));
    assert!(status.success(), "n3 exited with {status} after SHOAL LEAVE:\n{}", leaver.stderr());
    let mut first = RespConn::connect(ports.client_addr(0)).expect("connect to n1");
    for i in 0..30 {
        let key = format!("key:{i}");
        // Until n1 and n2 see n3 gone, requests for its slots may be retried.
        let value = wait_for(CONVERGE, || match first.call(["GET", &key]).expect("GET") {
            Frame::Error(e) if e.starts_with("TRYAGAIN") => None,
            other => Some(other),
        });
        assert_eq!(value, Some(bulk(&format!("value {i}"))), "GET {key} after n3 left");
    }

    for process in &processes {
        process.sigterm();
    }
    for process in &mut processes {
        process.assert_exits_cleanly();
    }
}
