//! MEMORY: USAGE STATS DOCTOR MALLOC-STATS PURGE HELP.
//!
//! Sizes are the store's accounting (see `store::alloc_size`): what a key's
//! allocations and its share of the table cost, the same figures
//! `used_memory` and `maxmemory` work with.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::args::{is, parse_i64};
use super::command::help_reply;
use super::server::rss_bytes;
use super::{CmdError, CommandSpec, Ctx, ok};
use crate::protocol::Frame;
use crate::util::jemalloc::{self, AllocatorStats};

/// The allocator's name, as `INFO memory` `mem_allocator` reports it.
pub const ALLOCATOR: &str = "jemalloc-5.3.0";

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "memory",
    arity: -2,
    acl: &["@slow"],
    subcommands: SUBCOMMANDS,
    ..CommandSpec::BASE
}];

const ALL_SHARDS: &[&str] =
    &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "memory|doctor",
        arity: 2,
        acl: &["@slow"],
        tips: ALL_SHARDS,
        handler: doctor,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "memory|help",
        arity: 2,
        flags: &["loading", "stale"],
        acl: &["@slow"],
        handler: help,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "memory|malloc-stats",
        arity: 2,
        acl: &["@slow"],
        tips: ALL_SHARDS,
        handler: malloc_stats,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "memory|purge",
        arity: 2,
        acl: &["@slow"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        handler: purge,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "memory|stats",
        arity: 2,
        acl: &["@slow"],
        tips: ALL_SHARDS,
        handler: stats,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "memory|usage",
        arity: -3,
        flags: &["readonly"],
        first_key: 2,
        last_key: 2,
        step: 1,
        acl: &["@read", "@slow"],
        handler: usage,
        ..CommandSpec::BASE
    },
];

/// `MEMORY USAGE key [SAMPLES count]`: the key's accounted bytes. SAMPLES
/// is checked as Redis does; Shoal's sizes are exact, so it changes
/// nothing.
fn usage(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "SAMPLES") && i + 1 < args.len() {
            let samples = parse_i64(&args[i + 1]).ok_or(CmdError::NotInteger)?;
            if samples < 0 {
                return Err(CmdError::Syntax);
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = &args[2];
    let mut db = ctx.store.lock(key);
    Ok(db.get(key).map_or(Frame::Null, |e| Frame::Integer(e.accounted_size(key.len()) as i64)))
}

/// Key count and the bytes of the slot tables' bucket arrays (walks the
/// slots one at a time).
fn table_overhead(ctx: &Ctx<'_>) -> (u64, u64) {
    let (mut keys, mut buckets) = (0u64, 0u64);
    ctx.store.walk_slots(0, |_, table| {
        keys += table.len() as u64;
        buckets += table.bucket_bytes() as u64;
        ControlFlow::Continue(())
    });
    (keys, buckets)
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// `MEMORY STATS`, with Redis's field names for what Shoal has (machinery
/// it lacks, such as replication backlogs and scripts, reports 0).
fn stats(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    let store = ctx.store;
    let used = store.used_memory();
    let peak = store.peak_memory();
    let startup = store.base_memory();
    let (keys, buckets) = table_overhead(ctx);
    let overhead = startup + buckets;
    let dataset = used.saturating_sub(overhead);
    let rss = rss_bytes();
    let int = |n: u64| Frame::Integer(n as i64);
    let field = |name: &str, value: Frame| (Frame::bulk(name), value);
    let db0 = Frame::Map(vec![
        field("overhead.hashtable.main", int(buckets)),
        field("overhead.hashtable.expires", int(0)),
    ]);
    let mut fields = vec![
        field("peak.allocated", int(peak)),
        field("total.allocated", int(used)),
        field("startup.allocated", int(startup)),
        field("replication.backlog", int(0)),
        field("clients.slaves", int(0)),
        field("clients.normal", int(0)),
        field("cluster.links", int(0)),
        field("aof.buffer", int(0)),
        field("lua.caches", int(0)),
        field("functions.caches", int(0)),
    ];
    if keys > 0 {
        fields.push(field("db.0", db0));
    }
    let per_key = used.saturating_sub(startup).checked_div(keys).unwrap_or(0);
    fields.extend([
        field("overhead.total", int(overhead)),
        field("keys.count", int(keys)),
        field("keys.bytes-per-key", int(per_key)),
        field("dataset.bytes", int(dataset)),
        field("dataset.percentage", Frame::Double(ratio(dataset, used.saturating_sub(startup)))),
        field("peak.percentage", Frame::Double(ratio(used, peak))),
    ]);
    let a = AllocatorFigures::now(rss);
    fields.extend([
        field("allocator.allocated", int(a.stats.allocated)),
        field("allocator.active", int(a.stats.active)),
        field("allocator.resident", int(a.stats.resident)),
        field("allocator-fragmentation.ratio", Frame::Double(a.frag_ratio())),
        field("allocator-fragmentation.bytes", Frame::Integer(a.frag_bytes())),
        field("allocator.rss-ratio", Frame::Double(a.rss_ratio())),
        field("allocator.rss-bytes", Frame::Integer(a.rss_bytes())),
        field("rss-overhead.ratio", Frame::Double(a.overhead_ratio())),
        field("rss-overhead.bytes", Frame::Integer(a.overhead_bytes())),
        field("fragmentation", Frame::Double(if used == 0 { 0.0 } else { rss as f64 / used as f64 })),
        field("fragmentation.bytes", Frame::Integer(rss as i64 - used as i64)),
    ]);
    Ok(Frame::Map(fields))
}

/// `MEMORY DOCTOR`: a short report on what the figures suggest.
fn doctor(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    let store = ctx.store;
    let used = store.used_memory();
    let peak = store.peak_memory();
    let rss = rss_bytes();
    let policy = store.memory_policy();
    let mut findings = Vec::new();
    if used < 5 * 1024 * 1024 {
        return Ok(Frame::Verbatim(Bytes::from_static(
            b"This node holds too little data for a meaningful memory report. Load some keys and ask again.\n",
        )));
    }
    if peak as f64 > used as f64 * 1.5 {
        findings.push(
            " * Past peak: memory use was over 1.5 times what it is now. Allocators keep freed \
             memory for reuse, so RSS stays high until new data fills it; MEMORY PURGE asks the \
             allocator to give what it can back.",
        );
    }
    if rss as f64 > used as f64 * 1.4 {
        findings.push(
            " * High RSS: the process's resident memory is over 1.4 times the accounted use. \
             After a peak this is expected; otherwise the workload fragments the allocator's heap.",
        );
    }
    if policy.maxmemory > 0 && used > policy.maxmemory {
        findings.push(
            " * Over maxmemory: accounted use is above the limit; writes evict keys or are refused \
             per maxmemory-policy.",
        );
    }
    let text = if findings.is_empty() {
        "No memory issue found: accounted use, peak and resident memory agree.\n".to_string()
    } else {
        format!("Memory report:\n\n{}\n", findings.join("\n\n"))
    };
    Ok(Frame::Verbatim(Bytes::from(text)))
}

/// `MEMORY MALLOC-STATS`: jemalloc's own report, as Redis answers it.
fn malloc_stats(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    let report = jemalloc::report().unwrap_or_else(|| "Stats not supported for the current allocator".into());
    Ok(Frame::Verbatim(Bytes::from(report)))
}

/// jemalloc's figures with the ratios Redis derives from them (`INFO
/// memory` `allocator_*` and `rss_overhead_*`, and `MEMORY STATS`): how
/// much the size classes add to what was asked (fragmentation), how many
/// free pages jemalloc keeps (rss), and what the process holds beyond
/// jemalloc (overhead: code, stacks, other mappings).
pub struct AllocatorFigures {
    pub stats: AllocatorStats,
    /// The process's resident set.
    pub rss: u64,
}

impl AllocatorFigures {
    /// The figures now; zeros if jemalloc gave none.
    pub fn now(rss: u64) -> AllocatorFigures {
        let stats = jemalloc::stats().unwrap_or_default();
        AllocatorFigures { stats, rss }
    }

    pub fn frag_ratio(&self) -> f64 {
        quotient(self.stats.active, self.stats.allocated)
    }

    pub fn frag_bytes(&self) -> i64 {
        self.stats.active as i64 - self.stats.allocated as i64
    }

    pub fn rss_ratio(&self) -> f64 {
        quotient(self.stats.resident, self.stats.active)
    }

    pub fn rss_bytes(&self) -> i64 {
        self.stats.resident as i64 - self.stats.active as i64
    }

    pub fn overhead_ratio(&self) -> f64 {
        quotient(self.rss, self.stats.resident)
    }

    pub fn overhead_bytes(&self) -> i64 {
        self.rss as i64 - self.stats.resident as i64
    }
}

fn quotient(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// `MEMORY PURGE`: jemalloc returns its free pages to the system now
/// rather than after its decay time (about a second here).
fn purge(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    match jemalloc::purge() {
        Ok(()) => ok(),
        Err(code) => {
            tracing::warn!("jemalloc refused to purge: error {code}");
            Err(CmdError::err("Error purging dirty pages"))
        }
    }
}

fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing::{TestClient, err};
    use crate::protocol::Frame;
    use crate::store::{ENTRY_OVERHEAD, SHARED_HEADER, alloc_size};

    #[test]
    fn usage_is_the_accounted_size() {
        let mut c = TestClient::new();
        c.put("k", "hello", 0);
        let want = (alloc_size(5) + SHARED_HEADER + ENTRY_OVERHEAD) as i64;
        assert_eq!(c.run(&["memory", "usage", "k"]), Frame::Integer(want));
        assert_eq!(c.run(&["MEMORY", "USAGE", "k", "samples", "0"]), Frame::Integer(want));
        assert_eq!(c.run(&["memory", "usage", "k", "SAMPLES", "5", "samples", "3"]), Frame::Integer(want));
        assert_eq!(c.run(&["memory", "usage", "nokey"]), Frame::Null);
        assert_eq!(c.run(&["memory", "usage", "nokey", "samples", "-1"]), err("ERR syntax error"));
        assert_eq!(
            c.run(&["memory", "usage", "k", "samples", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(c.run(&["memory", "usage", "k", "samples"]), err("ERR syntax error"));
        assert_eq!(c.run(&["memory", "usage", "k", "foo"]), err("ERR syntax error"));
        assert_eq!(
            c.run(&["memory", "usage"]),
            err("ERR wrong number of arguments for 'memory|usage' command")
        );
    }

    #[test]
    fn denyoom_commands_are_refused_or_make_room() {
        let mut c = TestClient::new();
        c.put("a", "1", 0);
        assert_eq!(c.run(&["config", "set", "maxmemory", "1"]), Frame::ok());
        let oom = err("OOM command not allowed when used memory > 'maxmemory'.");
        assert_eq!(c.run(&["set", "b", "2"]), oom);
        assert_eq!(c.run(&["append", "a", "2"]), oom);
        assert_eq!(c.run(&["get", "a"]), Frame::bulk("1"), "reads still run");
        assert_eq!(c.run(&["set"]), err("ERR wrong number of arguments for 'set' command"), "arity first");
        assert_eq!(c.run(&["config", "set", "maxmemory-policy", "allkeys-random"]), Frame::ok());
        assert_eq!(c.run(&["set", "b", "2"]), oom, "nothing left to evict");
        assert_eq!(c.run(&["exists", "a"]), Frame::Integer(0), "a was evicted trying");
        let used = c.store.used_memory();
        let room = (used + 4096).to_string();
        assert_eq!(c.run(&["config", "set", "maxmemory", &room]), Frame::ok());
        assert_eq!(c.run(&["set", "b", "2"]), Frame::ok());
        assert_eq!(c.run(&["del", "b"]), Frame::Integer(1));
    }

    #[test]
    fn stats_doctor_and_the_rest() {
        let mut c = TestClient::new();
        c.put("a", "1", 0);
        let Frame::Map(fields) = c.run(&["memory", "stats"]) else { panic!() };
        let names: Vec<String> = fields
            .iter()
            .map(|(k, _)| match k {
                Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        for name in ["peak.allocated", "total.allocated", "startup.allocated", "db.0", "keys.count"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        let keys = fields.iter().find(|(k, _)| *k == Frame::bulk("keys.count")).map(|(_, v)| v.clone());
        assert_eq!(keys, Some(Frame::Integer(1)));
        assert!(matches!(c.run(&["memory", "doctor"]), Frame::Verbatim(_)));
        assert_eq!(c.run(&["memory", "purge"]), Frame::ok());
        let Frame::Verbatim(report) = c.run(&["memory", "malloc-stats"]) else { panic!("MALLOC-STATS") };
        assert!(report.starts_with(b"___ Begin jemalloc statistics ___"), "{report:?}");
        for name in ["allocator.allocated", "allocator.resident", "allocator-fragmentation.ratio"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        let Frame::Array(lines) = c.run(&["memory", "help"]) else { panic!() };
        assert_eq!(lines.len(), 14);
        assert_eq!(c.run(&["memory", "foo"]), err("ERR unknown subcommand 'foo'. Try MEMORY HELP."));
        assert_eq!(
            c.run(&["memory", "stats", "x"]),
            err("ERR wrong number of arguments for 'memory|stats' command")
        );
    }
}
