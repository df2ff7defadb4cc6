//! maxmemory end to end: a node in this process under a memory bound, fed
//! far more data than fits, must stay within its bound (RSS included),
//! evict per its policy, and refuse writes exactly as Redis when it may not
//! evict; `MEMORY PURGE` gives freed memory back.
//!
//! The tests share one process, whose RSS one of them measures: they run
//! one at a time.

mod common;

use std::sync::Mutex;

use common::{BlockingNode, RespConn, error, test_config};
use shoal::config::{ByteSize, MaxmemoryPolicy};
use shoal::protocol::Frame;

/// Serializes the tests (see the module doc).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
const VALUE_LEN: usize = 1024;

fn node(maxmemory: u64, policy: MaxmemoryPolicy) -> BlockingNode {
    let mut config = test_config();
    config.store.maxmemory = ByteSize::b(maxmemory);
    config.store.maxmemory_policy = policy;
    BlockingNode::start(config)
}

/// The process's resident set size, from /proc/self/statm.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends `commands` in one write and reads as many replies.
fn pipeline(conn: &mut RespConn, commands: &[Vec<u8>]) -> Vec<Frame> {
    conn.send_raw(&commands.concat()).expect("send");
    (0..commands.len()).map(|_| conn.read_reply().expect("reply")).collect()
}

fn set(key: &str, value: &[u8]) -> Vec<u8> {
    command(&[b"SET", key.as_bytes(), value])
}

fn set_ex(key: &str, value: &[u8]) -> Vec<u8> {
    command(&[b"SET", key.as_bytes(), value, b"EX", b"3600"])
}

fn info_text(conn: &mut RespConn, section: &str) -> String {
    match conn.call(["INFO", section]).expect("INFO") {
        Frame::Bulk(b) | Frame::Verbatim(b) => String::from_utf8(b.to_vec()).expect("utf-8"),
        other => panic!("INFO answered {other:?}"),
    }
}

fn info_field(conn: &mut RespConn, section: &str, name: &str) -> u64 {
    let text = info_text(conn, section);
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from INFO {section}"))
}

fn exists(conn: &mut RespConn, keys: &[String]) -> usize {
    let commands: Vec<Vec<u8>> = keys.iter().map(|k| command(&[b"EXISTS", k.as_bytes()])).collect();
    pipeline(conn, &commands).iter().filter(|r| **r == Frame::Integer(1)).count()
}

fn value(seed: usize) -> Vec<u8> {
    let mut v = vec![b'a' + (seed % 26) as u8; VALUE_LEN];
    v[..8].copy_from_slice(&(seed as u64).to_le_bytes());
    v
}

/// Scaled down from 1 GB in debug builds (about 16x maxmemory is still far
/// more than fits, and keeps the test quick); 1 GB in release builds.
const TOTAL_BYTES: usize = if cfg!(debug_assertions) { 256 << 20 } else { 1 << 30 };

#[test]
fn allkeys_lru_stays_within_maxmemory_and_keeps_used_keys() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let maxmemory: u64 = 64 << 20;
    let node = node(maxmemory, MaxmemoryPolicy::AllkeysLru);
    let mut conn = RespConn::connect(node.addr()).expect("connect");
    assert_eq!(conn.call(["PING"]).expect("PING"), Frame::Simple("PONG".into()));
    let base = rss();

    // Written first: the hot half is read after every batch, the cold half never.
    let hot: Vec<String> = (0..200).map(|i| format!("hot:{i}")).collect();
    let cold: Vec<String> = (0..200).map(|i| format!("cold:{i}")).collect();
    let first: Vec<Vec<u8>> = hot.iter().chain(&cold).enumerate().map(|(i, k)| set(k, &value(i))).collect();
    assert!(pipeline(&mut conn, &first).iter().all(|r| *r == Frame::ok()));
    let reads: Vec<Vec<u8>> = hot.iter().map(|k| command(&[b"GET", k.as_bytes()])).collect();

    const BATCH: usize = 1000;
    let batches = TOTAL_BYTES / VALUE_LEN / BATCH;
    let mut max_rss = 0;
    let mut evicted_midway = 0;
    for b in 0..batches {
        let writes: Vec<Vec<u8>> =
            (0..BATCH).map(|i| set(&format!("key:{b}:{i}"), &value(b * BATCH + i))).collect();
        for reply in pipeline(&mut conn, &writes) {
            assert_eq!(reply, Frame::ok(), "batch {b}");
        }
        pipeline(&mut conn, &reads);
        if b % 16 == 0 {
            max_rss = max_rss.max(rss());
        }
        if b == batches / 2 {
            evicted_midway = info_field(&mut conn, "stats", "evicted_keys");
            assert!(evicted_midway > 0, "eviction has begun by half way");
        }
    }
    max_rss = max_rss.max(rss());

    let used = info_field(&mut conn, "memory", "used_memory");
    let evicted = info_field(&mut conn, "stats", "evicted_keys");
    let limit = base + maxmemory + maxmemory / 4;
    eprintln!(
        "wrote {} MiB: used_memory {used}, base RSS {base}, max RSS {max_rss} (limit {limit}), evicted {evicted}",
        TOTAL_BYTES >> 20
    );
    assert!(used <= maxmemory, "used_memory {used} over maxmemory");
    assert!(evicted > evicted_midway, "evicted_keys grows: {evicted_midway} then {evicted}");
    assert!(max_rss <= limit, "RSS {max_rss} over 1.25 x maxmemory + base ({limit})");
    let (hot_left, cold_left) = (exists(&mut conn, &hot), exists(&mut conn, &cold));
    eprintln!("survivors: {hot_left}/200 read repeatedly, {cold_left}/200 never read");
    assert!(hot_left > cold_left + 100, "keys read repeatedly survive more often");
    node.shutdown();
}

#[test]
fn noeviction_refuses_the_write_that_would_exceed_and_keeps_every_key() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = node(4 << 20, MaxmemoryPolicy::NoEviction);
    let mut conn = RespConn::connect(node.addr()).expect("connect");
    let mut written = Vec::new();
    let refused = loop {
        let key = format!("k:{}", written.len());
        match conn.call([b"SET".as_slice(), key.as_bytes(), &value(written.len())]).expect("SET") {
            reply if reply == Frame::ok() => written.push(key),
            reply => break reply,
        }
        assert!(written.len() < 100_000, "a 4 MiB node never refused a write");
    };
    assert_eq!(refused, error(OOM));
    assert!(written.len() > 1000, "only {} keys fit", written.len());
    assert_eq!(exists(&mut conn, &written), written.len(), "every key written before is still there");
    assert_eq!(info_field(&mut conn, "stats", "evicted_keys"), 0);
    assert!(info_field(&mut conn, "memory", "used_memory") <= 4 << 20);
    // Reads and deletes still run; deleting makes room again.
    assert_eq!(conn.call(["GET", "k:0"]).expect("GET"), Frame::Bulk(value(0).into()));
    assert_eq!(conn.call([b"SET".as_slice(), b"again", &value(0)]).expect("SET"), error(OOM));
    let deletes: Vec<Vec<u8>> = written[..10].iter().map(|k| command(&[b"DEL", k.as_bytes()])).collect();
    pipeline(&mut conn, &deletes);
    assert_eq!(conn.call([b"SET".as_slice(), b"again", &value(0)]).expect("SET"), Frame::ok());
    node.shutdown();
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl_then_refuse() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = node(0, MaxmemoryPolicy::NoEviction);
    let mut conn = RespConn::connect(node.addr()).expect("connect");
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        assert_eq!(conn.call(["FLUSHALL"]).expect("FLUSHALL"), Frame::ok());
        assert_eq!(conn.call(["CONFIG", "SET", "maxmemory", "0"]).expect("CONFIG"), Frame::ok());
        assert_eq!(conn.call(["CONFIG", "SET", "maxmemory-policy", policy]).expect("CONFIG"), Frame::ok());
        let persistent: Vec<String> = (0..500).map(|i| format!("{policy}:p:{i}")).collect();
        let writes: Vec<Vec<u8>> = persistent.iter().enumerate().map(|(i, k)| set(k, &value(i))).collect();
        assert!(pipeline(&mut conn, &writes).iter().all(|r| *r == Frame::ok()));
        assert_eq!(conn.call(["CONFIG", "SET", "maxmemory", "4mb"]).expect("CONFIG"), Frame::ok());
        let evicted_before = info_field(&mut conn, "stats", "evicted_keys");

        // Far more keys with a TTL than fit: older ones make room.
        let volatile: Vec<Vec<u8>> =
            (0..6000).map(|i| set_ex(&format!("{policy}:v:{i}"), &value(i))).collect();
        for (i, reply) in pipeline(&mut conn, &volatile).into_iter().enumerate() {
            assert_eq!(reply, Frame::ok(), "{policy}: TTL key {i}");
        }
        assert!(info_field(&mut conn, "stats", "evicted_keys") > evicted_before, "{policy}");
        assert_eq!(exists(&mut conn, &persistent), persistent.len(), "{policy}: keys without a TTL stay");

        // Keys without a TTL push the TTL keys out, then are refused.
        let mut i = 0;
        let refused = loop {
            let key = format!("{policy}:more:{i}");
            let reply = conn.call([b"SET".as_slice(), key.as_bytes(), &value(i)]).expect("SET");
            if reply != Frame::ok() {
                break reply;
            }
            i += 1;
            assert!(i < 100_000, "{policy}: never refused");
        };
        assert_eq!(refused, error(OOM), "{policy}");
        assert_eq!(exists(&mut conn, &persistent), persistent.len(), "{policy}");
        let text = info_text(&mut conn, "keyspace");
        assert!(text.contains(",expires=0,"), "{policy}: no TTL key left when refusing: {text}");
    }
    node.shutdown();
}

#[test]
fn memory_purge_gives_freed_memory_back_at_once() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = node(0, MaxmemoryPolicy::NoEviction);
    let mut conn = RespConn::connect(node.addr()).expect("connect");
    const KEYS: usize = 48_000;
    // Pages other tests in this process freed would otherwise be reused
    // and hide what these keys take.
    assert_eq!(conn.call(["MEMORY", "PURGE"]).expect("MEMORY PURGE"), Frame::ok());
    let before = rss();
    for batch in 0..KEYS / 1000 {
        let writes: Vec<Vec<u8>> =
            (0..1000).map(|i| set(&format!("purge:{batch}:{i}"), &value(batch * 1000 + i))).collect();
        assert!(pipeline(&mut conn, &writes).iter().all(|r| *r == Frame::ok()));
    }
    let full = rss();
    let grown = full.saturating_sub(before);
    assert!(grown > 32 << 20, "{KEYS} values of 1 KiB took {grown} bytes of RSS");
    assert_eq!(conn.call(["FLUSHALL", "SYNC"]).expect("FLUSHALL"), Frame::ok());
    assert_eq!(conn.call(["MEMORY", "PURGE"]).expect("MEMORY PURGE"), Frame::ok());
    let purged = rss();
    eprintln!("RSS before {before}, full {full}, after FLUSHALL and MEMORY PURGE {purged}");
    // The freed values' pages went back to the system (without the purge,
    // jemalloc keeps them until its decay time passes and it next runs);
    // the table's own allocations may stay.
    assert!(full.saturating_sub(purged) > grown * 3 / 4, "RSS went from {full} to only {purged}");
    node.shutdown();
}
