//! A load generator for tests that change a cluster under traffic: it
//! remembers every acknowledged write and checks every read against it.
//!
//! Writer `t` (a thread) owns keys `w{t}:{i}` and writes values
//! `{seq}:{padding}`, where `seq` is a per-writer counter that only grows,
//! so a value tells which write it came from. Per key the ledger keeps the
//! last sequence acknowledged with `+OK`; any other outcome (`-TRYAGAIN`,
//! another error, a dropped connection) is "not acknowledged" and only
//! counted: such a write may or may not have been applied, so a newer
//! value than the last acknowledged one is always allowed. A read must
//! never return a sequence older than the last one acknowledged before the
//! read was sent (nor nothing, once one was acknowledged). The one
//! exception is a write whose reply never came (connection lost, no reply
//! within the deadline): it may still be applied at any later moment, so
//! its sequence stays acceptable for that key ("ambiguous").
//!
//! Clients connect to the given entry nodes and move to the next one when
//! a connection fails.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal::protocol::Frame;

use super::{DEADLINE, RespConn, wait_for};

/// Padding after the sequence number in every value written.
const PADDING: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// How many error texts and violations a report keeps as examples.
const SAMPLES: usize = 20;

/// The key writer `writer` writes as its key number `index`.
pub fn writer_key(writer: usize, index: usize) -> String {
    format!("w{writer}:{index}")
}

/// The `index`th key [`preload`] writes.
pub fn preload_key(index: usize) -> String {
    format!("p:{index}")
}

/// The value of [`preload_key`]`(index)`.
pub fn preload_value(index: usize) -> String {
    format!("{index}:{PADDING}")
}

/// Loads keys `p:0..count` through `conn` with pipelined `MSET`s of 100
/// keys; panics unless every `MSET` is acknowledged.
pub fn preload(conn: &mut RespConn, count: usize) {
    const PER_MSET: usize = 100;
    const DEPTH: usize = 20;
    let starts: Vec<usize> = (0..count).step_by(PER_MSET).collect();
    for group in starts.chunks(DEPTH) {
        for &start in group {
            let mut args = vec!["MSET".to_string()];
            for i in start..(start + PER_MSET).min(count) {
                args.push(preload_key(i));
                args.push(preload_value(i));
            }
            conn.send(&args).expect("send MSET");
        }
        for &start in group {
            let reply = conn.read_reply().expect("MSET reply");
            assert_eq!(reply, Frame::ok(), "MSET of p:{start}..");
        }
    }
}

/// What a load runs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Writer threads.
    pub writers: usize,
    /// Keys per writer.
    pub keys_per_writer: usize,
    /// Nodes the writers send to (spread over them, next one on failure).
    pub entries: Vec<SocketAddr>,
    /// Pause after each write-and-read round of a writer (keeps a 2-core
    /// machine responsive for gossip).
    pub pause: Duration,
    /// Keys `p:0..preload` (see [`preload`]) that writers also read and
    /// check; 0 for none.
    pub preload: usize,
    /// Longest wait for one reply before it counts as a timeout.
    pub reply_timeout: Duration,
}

impl LoadConfig {
    /// `writers` writers over `keys_per_writer` keys each, sending to `entries`.
    pub fn new(writers: usize, keys_per_writer: usize, entries: Vec<SocketAddr>) -> LoadConfig {
        LoadConfig {
            writers,
            keys_per_writer,
            entries,
            pause: Duration::from_millis(2),
            preload: 0,
            reply_timeout: DEADLINE,
        }
    }
}

/// Outcome counts of one group of client threads (the writers, or one reader).
#[derive(Default)]
pub struct Counters {
    /// Writes answered `+OK`.
    pub writes_ok: AtomicU64,
    /// Writes answered `-TRYAGAIN ...`.
    pub writes_tryagain: AtomicU64,
    /// Writes answered with another error (or an unexpected reply).
    pub writes_failed: AtomicU64,
    /// Reads answered with a value or nil.
    pub reads_ok: AtomicU64,
    /// Reads answered `-TRYAGAIN ...`.
    pub reads_tryagain: AtomicU64,
    /// Reads answered with another error (or an unexpected reply).
    pub reads_failed: AtomicU64,
    /// Connections that failed or were lost.
    pub io_errors: AtomicU64,
    /// Requests that got no reply within the reply timeout.
    pub timeouts: AtomicU64,
    /// Reads that returned an older value than acknowledged (or none).
    pub violations: AtomicU64,
    /// Examples of error replies other than `-TRYAGAIN`.
    pub error_samples: Mutex<Vec<String>>,
    /// Examples of violations.
    pub violation_samples: Mutex<Vec<String>>,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn sample(list: &Mutex<Vec<String>>, text: String) {
        let mut list = list.lock().unwrap_or_else(|e| e.into_inner());
        if list.len() < SAMPLES {
            list.push(text);
        }
    }

    fn violation(&self, text: String) {
        Counters::add(&self.violations);
        Counters::sample(&self.violation_samples, text);
    }

    fn error(&self, counter: &AtomicU64, text: String) {
        Counters::add(counter);
        Counters::sample(&self.error_samples, text);
    }

    /// A plain-number snapshot.
    pub fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let samples = |m: &Mutex<Vec<String>>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();
        CountersSnapshot {
            writes_ok: get(&self.writes_ok),
            writes_tryagain: get(&self.writes_tryagain),
            writes_failed: get(&self.writes_failed),
            reads_ok: get(&self.reads_ok),
            reads_tryagain: get(&self.reads_tryagain),
            reads_failed: get(&self.reads_failed),
            io_errors: get(&self.io_errors),
            timeouts: get(&self.timeouts),
            violations: get(&self.violations),
            error_samples: samples(&self.error_samples),
            violation_samples: samples(&self.violation_samples),
        }
    }
}

/// [`Counters`] at one moment.
#[derive(Debug, Clone, Default)]
pub struct CountersSnapshot {
    pub writes_ok: u64,
    pub writes_tryagain: u64,
    pub writes_failed: u64,
    pub reads_ok: u64,
    pub reads_tryagain: u64,
    pub reads_failed: u64,
    pub io_errors: u64,
    pub timeouts: u64,
    pub violations: u64,
    pub error_samples: Vec<String>,
    pub violation_samples: Vec<String>,
}

impl CountersSnapshot {
    /// Error replies other than `-TRYAGAIN`, connection failures and timeouts.
    pub fn non_tryagain_failures(&self) -> u64 {
        self.writes_failed + self.reads_failed + self.io_errors + self.timeouts
    }
}

/// What every client thread shares: the ledger and the stop flag.
struct Shared {
    config: LoadConfig,
    /// Per writer, per key: the last acknowledged sequence (0 = none).
    acked: Vec<Vec<AtomicU64>>,
    /// Per writer, per key: the last sequence sent (0 = none).
    issued: Vec<Vec<AtomicU64>>,
    /// Sequences whose reply never came, per (writer, key).
    ambiguous: Mutex<HashMap<(usize, usize), Vec<u64>>>,
    stop: AtomicBool,
}

impl Shared {
    fn is_ambiguous(&self, writer: usize, key: usize, seq: u64) -> bool {
        let ambiguous = self.ambiguous.lock().unwrap_or_else(|e| e.into_inner());
        ambiguous.get(&(writer, key)).is_some_and(|seqs| seqs.contains(&seq))
    }

    /// Whether `value` (a reply to `GET`) is acceptable for a key whose
    /// last acknowledged sequence was `floor` when the read was sent; the
    /// reason when not.
    fn judge(&self, writer: usize, key: usize, floor: u64, value: Option<&[u8]>) -> Result<(), String> {
        let name = writer_key(writer, key);
        match value {
            None if floor == 0 => Ok(()),
            None => Err(format!("{name}: nil, acknowledged {floor}")),
            Some(bytes) => match parse_seq(bytes) {
                None => Err(format!("{name}: unexpected value {:?}", String::from_utf8_lossy(bytes))),
                Some(seq) if seq >= floor || self.is_ambiguous(writer, key, seq) => Ok(()),
                Some(seq) => Err(format!("{name}: read {seq}, acknowledged {floor}")),
            },
        }
    }
}

/// The sequence number at the start of a value written by the load.
fn parse_seq(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    text.split_once(':')?.0.parse().ok()
}

/// A small seeded generator (xorshift64*): reproducible key choices.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// What one request came to.
enum Outcome {
    Reply(Frame),
    /// The connection failed or was lost.
    Io(String),
    /// No reply within the reply timeout.
    Timeout,
}

/// A connection to one of several entry nodes, moving on when it fails.
struct Client {
    entries: Vec<SocketAddr>,
    next: usize,
    conn: Option<RespConn>,
    reply_timeout: Duration,
}

impl Client {
    fn new(entries: Vec<SocketAddr>, first: usize, reply_timeout: Duration) -> Client {
        assert!(!entries.is_empty(), "a client needs an entry node");
        Client { next: first % entries.len(), entries, conn: None, reply_timeout }
    }

    fn call(&mut self, args: &[&[u8]]) -> Outcome {
        if self.conn.is_none() {
            let addr = self.entries[self.next];
            match RespConn::connect(addr) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    self.next = (self.next + 1) % self.entries.len();
                    // Do not spin on a node that refuses connections.
                    std::thread::sleep(Duration::from_millis(20));
                    return Outcome::Io(format!("connect {addr}: {e}"));
                }
            }
        }
        let conn = self.conn.as_mut().expect("connected");
        let result = conn.send(args).and_then(|()| conn.read_reply_within(self.reply_timeout));
        match result {
            Ok(frame) => Outcome::Reply(frame),
            Err(e) => {
                self.conn = None;
                self.next = (self.next + 1) % self.entries.len();
                if e.kind() == std::io::ErrorKind::TimedOut {
                    Outcome::Timeout
                } else {
                    Outcome::Io(e.to_string())
                }
            }
        }
    }
}

/// Running client threads. Stop them with [`Load::stop`].
pub struct Load {
    shared: Arc<Shared>,
    writers: Arc<Counters>,
    readers: Vec<(String, Arc<Counters>)>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Load {
    /// Starts the writers.
    pub fn start(config: LoadConfig) -> Load {
        let keys = |_| (0..config.keys_per_writer).map(|_| AtomicU64::new(0)).collect();
        let shared = Arc::new(Shared {
            acked: (0..config.writers).map(keys).collect(),
            issued: (0..config.writers).map(keys).collect(),
            ambiguous: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            config,
        });
        let writers = Arc::new(Counters::default());
        let threads = (0..shared.config.writers)
            .map(|w| {
                let (shared, counters) = (shared.clone(), writers.clone());
                std::thread::Builder::new()
                    .name(format!("writer-{w}"))
                    .spawn(move || write_loop(&shared, &counters, w))
                    .expect("spawn writer")
            })
            .collect();
        Load { shared, writers, readers: Vec::new(), threads, started: Instant::now() }
    }

    /// Starts a reader named `name` that reads the writers' keys (those in
    /// `keys`, as (writer, index) pairs, or all of them) through `entries`
    /// and checks every value against the ledger.
    pub fn add_reader(&mut self, name: &str, entries: Vec<SocketAddr>, keys: Option<Vec<(usize, usize)>>) {
        let counters = Arc::new(Counters::default());
        let (shared, c) = (self.shared.clone(), counters.clone());
        let seed = self.readers.len() as u64 + 1000;
        let thread = std::thread::Builder::new()
            .name(format!("reader-{name}"))
            .spawn(move || read_loop(&shared, &c, entries, keys, seed))
            .expect("spawn reader");
        self.threads.push(thread);
        self.readers.push((name.to_string(), counters));
    }

    /// The writers' counts so far.
    pub fn writer_counts(&self) -> CountersSnapshot {
        self.writers.snapshot()
    }

    /// Waits until the writers have had `n` more writes acknowledged than
    /// now; panics after `timeout`.
    pub fn wait_more_acks(&self, n: u64, timeout: Duration) {
        let target = self.writers.writes_ok.load(Ordering::Relaxed) + n;
        let reached =
            wait_for(timeout, || (self.writers.writes_ok.load(Ordering::Relaxed) >= target).then_some(()));
        assert!(
            reached.is_some(),
            "the load did not get {n} more writes acknowledged within {timeout:?}: {:?}",
            self.writers.snapshot()
        );
    }

    /// Waits until every writer key has an acknowledged write; panics after `timeout`.
    pub fn wait_every_key_acked(&self, timeout: Duration) {
        let all = || self.shared.acked.iter().flatten().all(|seq| seq.load(Ordering::Relaxed) > 0);
        let done = wait_for(timeout, || all().then_some(()));
        assert!(
            done.is_some(),
            "not every key had a write acknowledged within {timeout:?}: {:?}",
            self.writers.snapshot()
        );
    }

    /// Stops every thread and returns what happened.
    pub fn stop(self) -> LoadReport {
        self.shared.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("a load thread panicked");
        }
        LoadReport {
            shared: self.shared,
            writers: self.writers.snapshot(),
            readers: self.readers.into_iter().map(|(name, c)| (name, c.snapshot())).collect(),
            ran_for: self.started.elapsed(),
        }
    }
}

fn write_loop(shared: &Shared, counters: &Counters, writer: usize) {
    let config = &shared.config;
    let mut rng = Rng::new(writer as u64 + 1);
    let mut client = Client::new(config.entries.clone(), writer, config.reply_timeout);
    let mut seq = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        // A first pass in order gives every key a value; then at random.
        let key = match usize::try_from(seq) {
            Ok(next) if next < config.keys_per_writer => next,
            _ => rng.below(config.keys_per_writer),
        };
        seq += 1;
        write_one(shared, counters, &mut client, writer, key, seq);
        let key = rng.below(config.keys_per_writer);
        read_one(shared, counters, &mut client, writer, key);
        if config.preload > 0 {
            read_preloaded(counters, &mut client, rng.below(config.preload));
        }
        std::thread::sleep(config.pause);
    }
}

fn write_one(shared: &Shared, counters: &Counters, client: &mut Client, writer: usize, key: usize, seq: u64) {
    let name = writer_key(writer, key);
    let value = format!("{seq}:{PADDING}");
    shared.issued[writer][key].store(seq, Ordering::Relaxed);
    let ambiguous = || {
        let mut ambiguous = shared.ambiguous.lock().unwrap_or_else(|e| e.into_inner());
        ambiguous.entry((writer, key)).or_default().push(seq);
    };
    match client.call(&[b"SET", name.as_bytes(), value.as_bytes()]) {
        Outcome::Reply(frame) if frame == Frame::ok() => {
            shared.acked[writer][key].store(seq, Ordering::Relaxed);
            Counters::add(&counters.writes_ok);
        }
        Outcome::Reply(Frame::Error(e)) if e.starts_with("TRYAGAIN") => {
            Counters::add(&counters.writes_tryagain)
        }
        Outcome::Reply(other) => counters.error(&counters.writes_failed, format!("SET {name}: {other:?}")),
        Outcome::Io(e) => {
            ambiguous();
            counters.error(&counters.io_errors, format!("SET {name}: {e}"));
        }
        Outcome::Timeout => {
            ambiguous();
            counters.error(&counters.timeouts, format!("SET {name}: no reply"));
        }
    }
}

fn read_one(shared: &Shared, counters: &Counters, client: &mut Client, writer: usize, key: usize) {
    let name = writer_key(writer, key);
    let floor = shared.acked[writer][key].load(Ordering::Relaxed);
    let value = match client.call(&[b"GET", name.as_bytes()]) {
        Outcome::Reply(Frame::Bulk(value)) => Some(value),
        Outcome::Reply(Frame::Null) => None,
        other => return count_failed_read(counters, &name, other),
    };
    Counters::add(&counters.reads_ok);
    if let Err(why) = shared.judge(writer, key, floor, value.as_deref()) {
        counters.violation(why);
    }
}

fn read_preloaded(counters: &Counters, client: &mut Client, index: usize) {
    let name = preload_key(index);
    match client.call(&[b"GET", name.as_bytes()]) {
        Outcome::Reply(Frame::Bulk(value)) => {
            Counters::add(&counters.reads_ok);
            if value != preload_value(index).as_bytes() {
                counters.violation(format!("{name}: {:?}", String::from_utf8_lossy(&value)));
            }
        }
        Outcome::Reply(Frame::Null) => {
            Counters::add(&counters.reads_ok);
            counters.violation(format!("{name}: nil"));
        }
        other => count_failed_read(counters, &name, other),
    }
}

fn count_failed_read(counters: &Counters, name: &str, outcome: Outcome) {
    match outcome {
        Outcome::Reply(Frame::Error(e)) if e.starts_with("TRYAGAIN") => {
            Counters::add(&counters.reads_tryagain)
        }
        Outcome::Reply(other) => counters.error(&counters.reads_failed, format!("GET {name}: {other:?}")),
        Outcome::Io(e) => counters.error(&counters.io_errors, format!("GET {name}: {e}")),
        Outcome::Timeout => counters.error(&counters.timeouts, format!("GET {name}: no reply")),
    }
}

fn read_loop(
    shared: &Shared,
    counters: &Counters,
    entries: Vec<SocketAddr>,
    keys: Option<Vec<(usize, usize)>>,
    seed: u64,
) {
    let config = &shared.config;
    let mut rng = Rng::new(seed);
    let mut client = Client::new(entries, 0, config.reply_timeout);
    while !shared.stop.load(Ordering::Relaxed) {
        let (writer, key) = match &keys {
            Some(keys) => keys[rng.below(keys.len())],
            None => (rng.below(config.writers), rng.below(config.keys_per_writer)),
        };
        read_one(shared, counters, &mut client, writer, key);
        std::thread::sleep(config.pause);
    }
}

/// What a stopped load did, and its ledger for checking the data after.
pub struct LoadReport {
    shared: Arc<Shared>,
    /// The writers' counts (their own reads included).
    pub writers: CountersSnapshot,
    /// Each reader's counts, by name.
    pub readers: Vec<(String, CountersSnapshot)>,
    /// From start to stop.
    pub ran_for: Duration,
}

/// The outcome of reading back every key a load wrote.
#[derive(Debug, Default)]
pub struct Verification {
    /// Keys read back.
    pub checked: usize,
    /// Keys with an acknowledged write.
    pub keys_acked: usize,
    /// Keys with any write sent.
    pub keys_written: usize,
    /// Keys newer than their last acknowledged write (an unacknowledged
    /// write that was applied): allowed, counted.
    pub newer_than_acked: usize,
    /// Keys whose last acknowledged write is gone (nil or older value).
    pub lost: Vec<String>,
}

impl LoadReport {
    /// The last acknowledged sequence of writer `writer`'s key `index` (0 = none).
    pub fn acked(&self, writer: usize, index: usize) -> u64 {
        self.shared.acked[writer][index].load(Ordering::Relaxed)
    }

    /// Every key with an acknowledged write, as (writer, index, sequence).
    pub fn acked_keys(&self) -> Vec<(usize, usize, u64)> {
        let mut keys = Vec::new();
        for (w, ledger) in self.shared.acked.iter().enumerate() {
            for (i, seq) in ledger.iter().enumerate() {
                let seq = seq.load(Ordering::Relaxed);
                if seq > 0 {
                    keys.push((w, i, seq));
                }
            }
        }
        keys
    }

    /// Whether `value` is acceptable for writer `writer`'s key `index` now
    /// that the load has stopped; the reason when not.
    pub fn judge(&self, writer: usize, index: usize, value: Option<&[u8]>) -> Result<(), String> {
        self.shared.judge(writer, index, self.acked(writer, index), value)
    }

    /// Reads back every key the writers touched through `conn` (`MGET`s of
    /// 100 keys; error replies are retried for a while) and compares it
    /// with the ledger.
    pub fn verify(&self, conn: &mut RespConn) -> Verification {
        let mut out = Verification::default();
        let config = &self.shared.config;
        for writer in 0..config.writers {
            let indices: Vec<usize> = (0..config.keys_per_writer).collect();
            for chunk in indices.chunks(100) {
                let names: Vec<String> = chunk.iter().map(|&i| writer_key(writer, i)).collect();
                let values = mget(conn, &names);
                for (&index, value) in chunk.iter().zip(values) {
                    let acked = self.acked(writer, index);
                    out.checked += 1;
                    out.keys_acked += usize::from(acked > 0);
                    out.keys_written +=
                        usize::from(self.shared.issued[writer][index].load(Ordering::Relaxed) > 0);
                    match self.judge(writer, index, value.as_deref()) {
                        Ok(()) => {
                            let seq = value.as_deref().and_then(parse_seq).unwrap_or(0);
                            out.newer_than_acked += usize::from(seq > acked);
                        }
                        Err(why) => out.lost.push(why),
                    }
                }
            }
        }
        out
    }
}

/// `MGET` of `keys`, retrying error replies for up to [`DEADLINE`].
pub fn mget(conn: &mut RespConn, keys: &[String]) -> Vec<Option<Bytes>> {
    let deadline = Instant::now() + DEADLINE;
    let mut args = vec!["MGET".to_string()];
    args.extend(keys.iter().cloned());
    loop {
        let reply = conn.call(&args).expect("MGET");
        match reply {
            Frame::Array(items) if items.len() == keys.len() => {
                return items
                    .into_iter()
                    .map(|item| match item {
                        Frame::Bulk(b) => Some(b),
                        Frame::Null => None,
                        other => panic!("MGET item {other:?}"),
                    })
                    .collect();
            }
            Frame::Error(e) if Instant::now() < deadline => {
                eprintln!("MGET answered -{e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            other => panic!("MGET of {} keys answered {other:?}", keys.len()),
        }
    }
}

/// Reads back `p:0..count` through `conn`: the keys that are missing or
/// have another value than [`preload`] wrote.
pub fn verify_preload(conn: &mut RespConn, count: usize) -> Vec<String> {
    let mut wrong = Vec::new();
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(100) {
        let names: Vec<String> = chunk.iter().map(|&i| preload_key(i)).collect();
        for (&i, value) in chunk.iter().zip(mget(conn, &names)) {
            if value.as_deref() != Some(preload_value(i).as_bytes()) {
                wrong.push(format!("{}: {:?}", preload_key(i), value));
            }
        }
    }
    wrong
}
