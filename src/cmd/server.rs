//! Server commands: INFO TIME CONFIG SHUTDOWN.
//!
//! INFO answers Redis's sections and field names (the ones clients and
//! tools read); fields that describe machinery Shoal does not have
//! (persistence, replication streams) report Redis's idle values.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::args::{is, parse_i64, text};
use super::command::help_reply;
use super::connection::REDIS_VERSION;
use super::{CmdError, CommandSpec, Ctx, OpsSample, Settings, ok};
use crate::protocol::Frame;
use crate::util::glob::glob_match;
use crate::util::striped::Tally;

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "info",
        arity: -1,
        flags: &["loading", "stale"],
        acl: &["@slow", "@dangerous"],
        tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        handler: info,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "time",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        acl: &["@fast"],
        tips: &["nondeterministic_output"],
        handler: time,
        ..CommandSpec::BASE
    },
    CommandSpec { name: "config", arity: -2, acl: &["@slow"], subcommands: CONFIG, ..CommandSpec::BASE },
    CommandSpec {
        name: "shutdown",
        arity: -1,
        flags: &["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"],
        acl: &["@admin", "@slow", "@dangerous"],
        handler: shutdown,
        ..CommandSpec::BASE
    },
];

const ADMIN_FLAGS: &[&str] = &["admin", "noscript", "loading", "stale"];
const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

const CONFIG: &[CommandSpec] = &[
    CommandSpec {
        name: "config|get",
        arity: -3,
        flags: ADMIN_FLAGS,
        acl: ADMIN_ACL,
        handler: config_get,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "config|set",
        arity: -4,
        flags: ADMIN_FLAGS,
        acl: ADMIN_ACL,
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        handler: config_set,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "config|resetstat",
        arity: 2,
        flags: ADMIN_FLAGS,
        acl: ADMIN_ACL,
        handler: config_resetstat,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "config|rewrite",
        arity: 2,
        flags: ADMIN_FLAGS,
        acl: ADMIN_ACL,
        handler: config_rewrite,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "config|help",
        arity: 2,
        flags: &["loading", "stale"],
        acl: &["@slow"],
        handler: config_help,
        ..CommandSpec::BASE
    },
];

// ---------------------------------------------------------------- INFO

/// INFO sections in Redis's output order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Section {
    Server,
    Clients,
    Memory,
    Persistence,
    Stats,
    Replication,
    Cpu,
    Modules,
    Commandstats,
    Errorstats,
    Latencystats,
    Cluster,
    Keyspace,
}

const ALL_SECTIONS: [(Section, &str); 13] = [
    (Section::Server, "server"),
    (Section::Clients, "clients"),
    (Section::Memory, "memory"),
    (Section::Persistence, "persistence"),
    (Section::Stats, "stats"),
    (Section::Replication, "replication"),
    (Section::Cpu, "cpu"),
    (Section::Modules, "modules"),
    (Section::Commandstats, "commandstats"),
    (Section::Errorstats, "errorstats"),
    (Section::Latencystats, "latencystats"),
    (Section::Cluster, "cluster"),
    (Section::Keyspace, "keyspace"),
];

/// Sections left out of a plain `INFO` (and of `INFO default`).
const NOT_DEFAULT: [Section; 2] = [Section::Commandstats, Section::Latencystats];

/// The sections `INFO args...` asks for, in output order.
fn wanted_sections(args: &[Bytes]) -> Vec<Section> {
    let mut wanted = [false; ALL_SECTIONS.len()];
    let defaults = |wanted: &mut [bool; ALL_SECTIONS.len()]| {
        for (i, (s, _)) in ALL_SECTIONS.iter().enumerate() {
            wanted[i] |= !NOT_DEFAULT.contains(s);
        }
    };
    if args.len() == 1 {
        defaults(&mut wanted);
    }
    for arg in &args[1..] {
        if is(arg, "default") {
            defaults(&mut wanted);
        } else if is(arg, "all") || is(arg, "everything") {
            wanted = [true; ALL_SECTIONS.len()];
        } else if let Some(i) = ALL_SECTIONS.iter().position(|(_, name)| is(arg, name)) {
            wanted[i] = true;
        }
    }
    ALL_SECTIONS.iter().zip(wanted).filter(|(_, w)| *w).map(|((s, _), _)| *s).collect()
}

/// Builds INFO text: `# Section` headers, `field:value` lines, CRLF line
/// ends and a blank line between sections.
#[derive(Default)]
struct InfoText {
    out: String,
}

impl InfoText {
    fn section(&mut self, title: &str) {
        if !self.out.is_empty() {
            self.out.push_str("\r\n");
        }
        let _ = write!(self.out, "# {title}\r\n");
    }

    fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}:{value}\r\n");
    }
}

fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut text = InfoText::default();
    for section in wanted_sections(args) {
        write_section(ctx, section, &mut text);
    }
    Ok(Frame::Verbatim(Bytes::from(text.out)))
}

fn write_section(ctx: &Ctx<'_>, section: Section, t: &mut InfoText) {
    match section {
        Section::Server => server_section(ctx, t),
        Section::Clients => clients_section(ctx, t),
        Section::Memory => memory_section(ctx, t),
        Section::Persistence => persistence_section(ctx, t),
        Section::Stats => stats_section(ctx, t),
        Section::Replication => replication_section(ctx, t),
        Section::Cpu => cpu_section(t),
        Section::Modules => t.section("Modules"),
        Section::Commandstats => commandstats_section(ctx, t),
        Section::Errorstats => t.section("Errorstats"),
        Section::Latencystats => t.section("Latencystats"),
        Section::Cluster => cluster_section(ctx, t),
        Section::Keyspace => keyspace_section(ctx, t),
    }
}

fn unix_now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Unix seconds when the node started.
fn start_time(started: Instant) -> u64 {
    unix_now().as_secs().saturating_sub(started.elapsed().as_secs())
}

/// `uname`-like text: kernel name, release, machine.
fn os_name() -> String {
    let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().to_string()).ok();
    match (read("/proc/sys/kernel/ostype"), read("/proc/sys/kernel/osrelease")) {
        (Some(kind), Some(release)) => format!("{kind} {release} {}", std::env::consts::ARCH),
        _ => format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

fn server_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    let (port, config_file) = {
        let s = ctx.server.settings.read();
        (s.port, s.config_file.clone())
    };
    let uptime = ctx.server.started.elapsed().as_secs();
    let executable = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    t.section("Server");
    t.field("redis_version", REDIS_VERSION);
    t.field("shoal_version", env!("CARGO_PKG_VERSION"));
    t.field("redis_git_sha1", "00000000");
    t.field("redis_git_dirty", 0);
    t.field("redis_mode", "cluster");
    t.field("os", os_name());
    t.field("arch_bits", usize::BITS);
    t.field("process_id", std::process::id());
    t.field("process_supervised", "no");
    t.field("run_id", &ctx.server.run_id);
    t.field("tcp_port", port);
    t.field("server_time_usec", unix_now().as_micros());
    t.field("uptime_in_seconds", uptime);
    t.field("uptime_in_days", uptime / 86400);
    t.field("hz", 10);
    t.field("configured_hz", 10);
    t.field("lru_clock", unix_now().as_secs() & 0xFF_FFFF);
    t.field("executable", executable);
    t.field("config_file", config_file);
    t.field("io_threads_active", 0);
}

/// Every Shoal node is a cluster node (a cluster of one by default).
fn cluster_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    t.section("Cluster");
    t.field("cluster_enabled", 1);
    let topology = ctx.server.topology();
    for (name, value) in super::cluster::info_section_fields(&topology) {
        t.field(name, value);
    }
    let info = ctx.server.rebalance_info();
    let state = topology.local().map_or("unknown", |m| super::shoal::state_name(m.state));
    t.field("shoal_state", state);
    t.field("shoal_moving_slots", super::shoal::moving_slot_count(&topology));
    t.field("shoal_slots_to_pull", info.slots_to_pull);
    t.field("shoal_under_replicated_slots", info.under_replicated);
    t.field("shoal_slots_held", info.slots_held);
}

fn clients_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    t.section("Clients");
    t.field("connected_clients", ctx.server.connected_clients());
    t.field("cluster_connections", 0);
    t.field("maxclients", ctx.server.settings.read().maxclients);
    t.field("client_recent_max_input_buffer", 0);
    t.field("client_recent_max_output_buffer", 0);
    t.field("blocked_clients", 0);
    t.field("tracking_clients", 0);
    t.field("clients_in_timeout_table", 0);
}

/// Formats a byte count as Redis's `bytesToHuman` does (`1.09M`, `512B`).
pub fn bytes_to_human(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut scale = 1024u64;
    for unit in UNITS {
        if n / scale < 1024 {
            return format!("{:.2}{unit}", n as f64 / scale as f64);
        }
        scale *= 1024;
    }
    format!("{n}B")
}

/// A `Name:  1234 kB` line of a /proc file, in bytes.
pub fn proc_kb(path: &str, name: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The process's resident set size, in bytes.
pub fn rss_bytes() -> u64 {
    proc_kb("/proc/self/status", "VmRSS")
}

fn memory_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    let store = ctx.store;
    let used = store.used_memory();
    let peak = store.peak_memory();
    let startup = store.base_memory();
    let dataset = used.saturating_sub(startup);
    let rss = rss_bytes();
    let system = proc_kb("/proc/meminfo", "MemTotal");
    let policy = store.memory_policy();
    let ratio = if used == 0 { 0.0 } else { rss as f64 / used as f64 };
    let peak_perc = if peak == 0 { 100.0 } else { used as f64 * 100.0 / peak as f64 };
    let dataset_perc = if used == 0 { 0.0 } else { dataset as f64 * 100.0 / used as f64 };
    t.section("Memory");
    t.field("used_memory", used);
    t.field("used_memory_human", bytes_to_human(used));
    t.field("used_memory_rss", rss);
    t.field("used_memory_rss_human", bytes_to_human(rss));
    t.field("used_memory_peak", peak);
    t.field("used_memory_peak_human", bytes_to_human(peak));
    t.field("used_memory_peak_perc", format!("{peak_perc:.2}%"));
    t.field("used_memory_overhead", startup);
    t.field("used_memory_startup", startup);
    t.field("used_memory_dataset", dataset);
    t.field("used_memory_dataset_perc", format!("{dataset_perc:.2}%"));
    let allocator = super::memory::AllocatorFigures::now(rss);
    t.field("allocator_allocated", allocator.stats.allocated);
    t.field("allocator_active", allocator.stats.active);
    t.field("allocator_resident", allocator.stats.resident);
    t.field("total_system_memory", system);
    t.field("total_system_memory_human", bytes_to_human(system));
    t.field("maxmemory", policy.maxmemory);
    t.field("maxmemory_human", bytes_to_human(policy.maxmemory));
    t.field("maxmemory_policy", policy.policy);
    t.field("allocator_frag_ratio", format!("{:.2}", allocator.frag_ratio()));
    t.field("allocator_frag_bytes", allocator.frag_bytes());
    t.field("allocator_rss_ratio", format!("{:.2}", allocator.rss_ratio()));
    t.field("allocator_rss_bytes", allocator.rss_bytes());
    t.field("rss_overhead_ratio", format!("{:.2}", allocator.overhead_ratio()));
    t.field("rss_overhead_bytes", allocator.overhead_bytes());
    t.field("mem_fragmentation_ratio", format!("{ratio:.2}"));
    t.field("mem_fragmentation_bytes", rss as i64 - used as i64);
    t.field("mem_not_counted_for_evict", 0);
    t.field("mem_allocator", super::memory::ALLOCATOR);
    t.field("lazyfree_pending_objects", 0);
    t.field("lazyfreed_objects", 0);
}

fn persistence_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    t.section("Persistence");
    t.field("loading", 0);
    t.field("async_loading", 0);
    t.field("rdb_changes_since_last_save", 0);
    t.field("rdb_bgsave_in_progress", 0);
    t.field("rdb_last_save_time", start_time(ctx.server.started));
    t.field("rdb_last_bgsave_status", "ok");
    t.field("rdb_last_bgsave_time_sec", -1);
    t.field("rdb_current_bgsave_time_sec", -1);
    t.field("rdb_saves", 0);
    t.field("aof_enabled", 0);
    t.field("aof_rewrite_in_progress", 0);
    t.field("aof_rewrite_scheduled", 0);
    t.field("aof_last_rewrite_time_sec", -1);
    t.field("aof_current_rewrite_time_sec", -1);
    t.field("aof_last_bgrewrite_status", "ok");
    t.field("aof_rewrites", 0);
    t.field("aof_last_write_status", "ok");
    t.field("module_fork_in_progress", 0);
}

/// How much time a new ops sample must cover before it replaces the last.
const OPS_SAMPLE_MIN_SECS: f64 = 0.1;

/// Commands per second since the previous INFO that took a sample (or since
/// start), remembered so that INFO calls in quick succession agree.
fn instantaneous_ops(ctx: &Ctx<'_>) -> u64 {
    let commands = ctx.server.stats.total_commands_processed.load(Ordering::Relaxed);
    let now = Instant::now();
    let mut sample = ctx.server.stats.ops_sample.lock();
    let (since, before, last_rate) = match *sample {
        Some(s) => (s.at, s.commands, s.rate),
        None => (ctx.server.started, 0, 0),
    };
    let secs = now.duration_since(since).as_secs_f64();
    if secs < OPS_SAMPLE_MIN_SECS {
        return last_rate;
    }
    let rate = (commands.saturating_sub(before) as f64 / secs).round() as u64;
    *sample = Some(OpsSample { at: now, commands, rate });
    rate
}

fn stats_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    let stats = &ctx.server.stats;
    let store = ctx.store.stats();
    t.section("Stats");
    t.field("total_connections_received", stats.total_connections_received.tally());
    t.field("total_commands_processed", stats.total_commands_processed.tally());
    t.field("instantaneous_ops_per_sec", instantaneous_ops(ctx));
    t.field("total_net_input_bytes", stats.net_input_bytes.tally());
    t.field("total_net_output_bytes", stats.net_output_bytes.tally());
    t.field("rejected_connections", stats.rejected_connections.tally());
    t.field("sync_full", 0);
    t.field("sync_partial_ok", 0);
    t.field("sync_partial_err", 0);
    t.field("expired_keys", store.expired_keys.tally());
    t.field("evicted_keys", store.evicted_keys.tally());
    t.field("evicted_clients", 0);
    t.field("keyspace_hits", store.keyspace_hits.tally());
    t.field("keyspace_misses", store.keyspace_misses.tally());
    t.field("pubsub_channels", 0);
    t.field("pubsub_patterns", 0);
    t.field("pubsubshard_channels", 0);
    t.field("latest_fork_usec", 0);
    t.field("total_forks", 0);
}

fn replication_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    t.section("Replication");
    t.field("role", "master");
    t.field("connected_slaves", 0);
    t.field("master_failover_state", "no-failover");
    t.field("master_replid", &ctx.server.run_id);
    t.field("master_replid2", "0".repeat(40));
    t.field("master_repl_offset", 0);
    t.field("second_repl_offset", -1);
    t.field("repl_backlog_active", 0);
    t.field("repl_backlog_size", 1048576);
    t.field("repl_backlog_first_byte_offset", 0);
    t.field("repl_backlog_histlen", 0);
}

/// Clock ticks per second of /proc/self/stat times (USER_HZ, 100 on Linux).
const CLOCK_TICKS: u64 = 100;

/// User, system, children's user and children's system CPU seconds.
fn cpu_times() -> [u64; 4] {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at
    // field 3; utime..cstime are fields 14..17.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> =
        after_name.split_whitespace().skip(11).take(4).filter_map(|f| f.parse().ok()).collect();
    let mut out = [0; 4];
    for (o, f) in out.iter_mut().zip(fields) {
        *o = f;
    }
    out
}

fn cpu_section(t: &mut InfoText) {
    let [user, sys, cuser, csys] = cpu_times();
    let secs = |ticks: u64| {
        format!("{}.{:06}", ticks / CLOCK_TICKS, ticks % CLOCK_TICKS * (1_000_000 / CLOCK_TICKS))
    };
    t.section("CPU");
    t.field("used_cpu_sys", secs(sys));
    t.field("used_cpu_user", secs(user));
    t.field("used_cpu_sys_children", secs(csys));
    t.field("used_cpu_user_children", secs(cuser));
}

/// Redis's format; `usec` is the time to answer the client, forwarding to
/// another node included. Errors count as failed calls (Shoal does not tell
/// rejected calls apart).
fn commandstats_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    t.section("Commandstats");
    for (index, spec) in super::TABLE.commands().iter().enumerate() {
        let cells = ctx.server.commands.cells(Some(index as u16));
        let latency = cells.latency();
        let calls = latency.count();
        if calls == 0 {
            continue;
        }
        let usec = latency.sum_ns / 1000;
        t.field(
            &format!("cmdstat_{}", spec.name),
            format!(
                "calls={calls},usec={usec},usec_per_call={:.2},rejected_calls=0,failed_calls={}",
                usec as f64 / calls as f64,
                cells.errors()
            ),
        );
    }
}

fn keyspace_section(ctx: &Ctx<'_>, t: &mut InfoText) {
    t.section("Keyspace");
    let (keys, expires) = ctx.store.counts();
    if keys > 0 {
        t.out.push_str(&format!("db0:keys={keys},expires={expires},avg_ttl=0\r\n"));
    }
}

// ---------------------------------------------------------------- TIME

fn time(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    let now = unix_now();
    Ok(Frame::Array(vec![
        Frame::bulk(now.as_secs().to_string()),
        Frame::bulk(now.subsec_micros().to_string()),
    ]))
}

// ---------------------------------------------------------------- CONFIG

/// Why a value was refused (the text after ` - ` in Redis's error).
type SetResult = Result<(), String>;

/// One configuration parameter under its Redis name.
struct Param {
    name: &'static str,
    get: fn(&Settings) -> String,
    /// `None` for parameters that cannot change at run time.
    set: Option<fn(&mut Settings, &[u8]) -> SetResult>,
}

const IMMUTABLE: &str = "can't set immutable config";

const POLICIES: [&str; 8] = [
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

const PARAMS: &[Param] = &[
    Param {
        name: "maxmemory",
        get: |s| s.maxmemory.to_string(),
        set: Some(|s, v| {
            s.maxmemory = memory_value(v, 0, u64::MAX)?;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-policy",
        get: |s| s.maxmemory_policy.clone(),
        set: Some(|s, v| {
            let policy = POLICIES.iter().find(|p| is(v, p)).ok_or_else(|| {
                format!("argument(s) must be one of the following: {}", POLICIES.join(", "))
            })?;
            s.maxmemory_policy = (*policy).to_string();
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-samples",
        get: |s| s.maxmemory_samples.to_string(),
        set: Some(|s, v| {
            s.maxmemory_samples = integer_value(v, 1, i32::MAX as i64)? as u64;
            Ok(())
        }),
    },
    Param {
        name: "lfu-log-factor",
        get: |s| s.lfu_log_factor.to_string(),
        set: Some(|s, v| {
            s.lfu_log_factor = integer_value(v, 0, i32::MAX as i64)? as u64;
            Ok(())
        }),
    },
    Param {
        name: "lfu-decay-time",
        get: |s| s.lfu_decay_time.to_string(),
        set: Some(|s, v| {
            s.lfu_decay_time = integer_value(v, 0, i32::MAX as i64)? as u64;
            Ok(())
        }),
    },
    Param {
        name: "maxclients",
        get: |s| s.maxclients.to_string(),
        set: Some(|s, v| {
            s.maxclients = integer_value(v, 1, u32::MAX as i64)? as u64;
            Ok(())
        }),
    },
    Param {
        name: "timeout",
        get: |s| s.timeout.to_string(),
        set: Some(|s, v| {
            s.timeout = integer_value(v, 0, i32::MAX as i64)? as u64;
            Ok(())
        }),
    },
    Param {
        name: "proto-max-bulk-len",
        get: |s| s.proto_max_bulk_len.to_string(),
        set: Some(|s, v| {
            s.proto_max_bulk_len = memory_value(v, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        }),
    },
    Param {
        name: "requirepass",
        get: |s| s.requirepass.clone(),
        set: Some(|s, v| {
            s.requirepass = text(v);
            Ok(())
        }),
    },
    Param { name: "port", get: |s| s.port.to_string(), set: None },
    Param { name: "bind", get: |s| s.bind.clone(), set: None },
    Param { name: "databases", get: |_| "1".into(), set: None },
    // Shoal keeps no data on disk: persistence may only be "turned off".
    Param {
        name: "save",
        get: |_| String::new(),
        set: Some(|_, v| if v.is_empty() { Ok(()) } else { Err(IMMUTABLE.into()) }),
    },
    Param {
        name: "appendonly",
        get: |_| "no".into(),
        set: Some(|_, v| {
            if is(v, "no") {
                Ok(())
            } else if is(v, "yes") {
                Err(IMMUTABLE.into())
            } else {
                Err("argument must be 'yes' or 'no'".into())
            }
        }),
    },
    Param { name: "cluster-enabled", get: |_| "yes".into(), set: None },
    Param { name: "cluster-port", get: |s| s.cluster_port.to_string(), set: None },
    Param { name: "cluster-announce-ip", get: |s| s.announce_ip.clone(), set: None },
    // The log filter is fixed at start (`log.level`); shown in Redis's words.
    Param { name: "loglevel", get: |s| s.loglevel.clone(), set: None },
];

fn find_param(name: &[u8]) -> Option<&'static Param> {
    PARAMS.iter().find(|p| is(name, p.name))
}

/// Parses a memory size as Redis's `memtoull`: digits then an optional unit
/// (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`, any case), then checks the range.
fn memory_value(v: &[u8], min: u64, max: u64) -> Result<u64, String> {
    const NOT_MEMORY: &str = "argument must be a memory value";
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit: u64 = match text(&v[digits..]).to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(NOT_MEMORY.into()),
    };
    if digits >= 128 {
        return Err(NOT_MEMORY.into());
    }
    // Like strtoull, an out-of-range number saturates rather than failing.
    let number = text(&v[..digits]).parse::<u64>().unwrap_or(if digits == 0 { 0 } else { u64::MAX });
    let value = number.saturating_mul(unit);
    if value < min || value > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(value)
}

/// Parses an integer parameter (strict, like `string2ll`) and checks its range.
fn integer_value(v: &[u8], min: i64, max: i64) -> Result<i64, String> {
    let value = parse_i64(v).ok_or("argument couldn't be parsed into an integer")?;
    if value < min || value > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(value)
}

fn config_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let settings = ctx.server.settings.read().clone();
    let mut found: Vec<(String, &'static Param)> = Vec::new();
    let seen =
        |found: &Vec<(String, &Param)>, name: &str| found.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    for arg in &args[2..] {
        if !arg.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
            let name = text(arg);
            if let Some(param) = find_param(arg).filter(|_| !seen(&found, &name)) {
                found.push((name, param));
            }
            continue;
        }
        for param in PARAMS {
            if !seen(&found, param.name) && glob_match(arg, param.name.as_bytes(), true) {
                found.push((param.name.to_string(), param));
            }
        }
    }
    let pairs = found.into_iter().map(|(name, p)| (Frame::bulk(name), Frame::bulk((p.get)(&settings))));
    Ok(Frame::Map(pairs.collect()))
}

fn set_failed(name: &str, reason: &str) -> CmdError {
    CmdError::err(format!("CONFIG SET failed (possibly related to argument '{name}') - {reason}"))
}

/// Sets every pair or none, checking names first as Redis does: an unknown
/// name wins over other problems, then immutable or repeated names, then
/// values in order.
fn config_set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(&Bytes, &Bytes)> = args[2..].chunks(2).map(|p| (&p[0], &p[1])).collect();
    let mut params: Vec<&'static Param> = Vec::with_capacity(pairs.len());
    let mut refused: Option<CmdError> = None;
    for (name, _) in &pairs {
        let Some(param) = find_param(name) else {
            if refused.is_none() {
                return Err(CmdError::err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{}'",
                    text(name)
                )));
            }
            continue;
        };
        if refused.is_some() {
            continue;
        }
        if param.set.is_none() {
            refused = Some(set_failed(&text(name), IMMUTABLE));
        } else if params.iter().any(|p| std::ptr::eq(*p, param)) {
            refused = Some(set_failed(&text(name), "duplicate parameter"));
        }
        params.push(param);
    }
    if let Some(err) = refused {
        return Err(err);
    }
    let mut settings = ctx.server.settings.write();
    let mut updated = settings.clone();
    for (param, (_, value)) in params.iter().zip(&pairs) {
        let set = param.set.expect("immutable parameters were refused");
        set(&mut updated, value).map_err(|reason| set_failed(param.name, &reason))?;
    }
    ctx.store.set_memory_policy(updated.memory_policy());
    *settings = updated;
    drop(settings);
    // As Redis: a lower maxmemory takes effect at once, not at the next write.
    if params.iter().any(|p| p.name == "maxmemory") {
        let _ = ctx.store.make_room(0, &|slot| super::evictable_slot(ctx.store, slot));
    }
    ok()
}

fn config_resetstat(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    ctx.server.stats.reset();
    ctx.server.commands.reset();
    ctx.store.reset_peak();
    let store = ctx.store.stats();
    for counter in [&store.expired_keys, &store.keyspace_hits, &store.keyspace_misses, &store.evicted_keys] {
        counter.store(0, Ordering::Relaxed);
    }
    store.oom_rejections.store(0, Ordering::Relaxed);
    ok()
}

fn config_rewrite(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    if ctx.server.settings.read().config_file.is_empty() {
        Err(CmdError::err("The server is running without a config file"))
    } else {
        Err(CmdError::err("Rewriting config file: not supported, edit the TOML file instead"))
    }
}

fn config_help(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}

// ---------------------------------------------------------------- SHUTDOWN

/// Stops the node: it stops accepting, answers what other connections
/// already sent, and exits. This connection closes without a reply, as
/// Redis's does. Shoal keeps nothing on disk, so SAVE and NOSAVE are the
/// same.
fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (mut save, mut nosave, mut other, mut abort) = (false, false, false, false);
    for arg in &args[1..] {
        if is(arg, "NOSAVE") {
            nosave = true;
        } else if is(arg, "SAVE") {
            save = true;
        } else if is(arg, "NOW") || is(arg, "FORCE") {
            other = true;
        } else if is(arg, "ABORT") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    tracing::info!(client = ctx.client.shared.id, "SHUTDOWN requested by a client");
    ctx.server.shutdown.cancel();
    ctx.client.close_after_reply = true;
    ctx.client.drop_reply = true;
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{TestClient, err};
    use crate::protocol::Protocol;

    fn headers(text: &str) -> Vec<&str> {
        text.split("\r\n").filter(|l| l.starts_with("# ")).collect()
    }

    #[test]
    fn info_default_sections_in_redis_order() {
        let mut h = TestClient::new();
        let text = h.text(&["INFO"]);
        assert_eq!(
            headers(&text),
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ]
        );
        assert_eq!(headers(&h.text(&["info", "default"])), headers(&text));
        for line in ["redis_version:7.2.0", "redis_mode:cluster", "loading:0", "role:master", "tcp_port:6380"]
        {
            assert!(text.contains(&format!("\r\n{line}\r\n")), "{line} missing");
        }
        assert!(text.contains(&format!("shoal_version:{}\r\n", env!("CARGO_PKG_VERSION"))));
        assert!(text.contains("\r\nconnected_clients:1\r\n"));
        assert!(text.contains("\r\n\r\n# Clients\r\n"));
        assert!(text.ends_with("# Keyspace\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn info_picks_sections_in_fixed_order() {
        let mut h = TestClient::new();
        assert_eq!(headers(&h.text(&["info", "CLIENTS", "server"])), ["# Server", "# Clients"]);
        assert_eq!(h.text(&["info", "foo"]), "");
        let view_id = h.server.topology().view_id();
        assert_eq!(
            h.text(&["info", "cluster", "foo"]),
            format!(
                "# Cluster\r\ncluster_enabled:1\r\nshoal_node_id:shoal-6380\r\nshoal_view_id:{view_id:016x}\r\nshoal_members:1\r\nshoal_slots_owned:16384\r\nshoal_state:active\r\nshoal_moving_slots:0\r\nshoal_slots_to_pull:0\r\nshoal_under_replicated_slots:0\r\nshoal_slots_held:0\r\n"
            )
        );
        assert_eq!(h.text(&["info", "keyspace"]), "# Keyspace\r\n");
        let all = h.text(&["info", "all"]);
        assert!(headers(&all).contains(&"# Commandstats"));
        assert_eq!(headers(&all).len(), 13);
        assert_eq!(headers(&h.text(&["info", "everything"])).len(), 13);
    }

    #[test]
    fn info_keyspace_counts_keys() {
        let mut h = TestClient::new();
        h.put("a", "1", 0);
        h.put("b", "2", u64::MAX / 2);
        assert_eq!(h.text(&["info", "keyspace"]), "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n");
        let memory = h.text(&["info", "memory"]);
        let used = h.store.used_memory();
        assert!(used > 0);
        assert!(memory.contains(&format!("\r\nused_memory:{used}\r\n")));
        assert!(memory.contains(&format!("\r\nused_memory_peak:{used}\r\n")));
        for field in
            ["used_memory_human", "used_memory_rss", "used_memory_rss_human", "mem_fragmentation_ratio"]
        {
            assert!(memory.contains(&format!("\r\n{field}:")), "{field}");
        }
        // jemalloc's own figures: whatever this test process allocated.
        let figure = |name: &str| -> f64 {
            let prefix = format!("{name}:");
            let line = memory.lines().find_map(|l| l.strip_prefix(&prefix));
            line.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} in {memory}"))
        };
        assert!(figure("allocator_allocated") > 0.0);
        assert!(figure("allocator_active") >= figure("allocator_allocated"));
        assert!(figure("allocator_resident") >= figure("allocator_active"));
        assert!(figure("allocator_frag_ratio") >= 1.0 && figure("allocator_rss_ratio") >= 1.0);
        for field in
            ["allocator_frag_bytes", "allocator_rss_bytes", "rss_overhead_ratio", "rss_overhead_bytes"]
        {
            figure(field);
        }
        assert!(h.text(&["info", "stats"]).contains("\r\nevicted_keys:0\r\n"));
    }

    #[test]
    fn info_is_verbatim_in_resp3() {
        let mut h = TestClient::new();
        let reply = h.run(&["info", "keyspace"]);
        assert_eq!(&reply.to_bytes(Protocol::Resp3)[..], b"=16\r\ntxt:# Keyspace\r\n\r\n");
        assert_eq!(&reply.to_bytes(Protocol::Resp2)[..], b"$12\r\n# Keyspace\r\n\r\n");
    }

    #[test]
    fn human_sizes_like_redis() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(1139344), "1.09M");
        assert_eq!(bytes_to_human(7208960), "6.88M");
        assert_eq!(bytes_to_human(25276063744), "23.54G");
        assert_eq!(bytes_to_human(u64::MAX), format!("{}B", u64::MAX));
    }

    #[test]
    fn time_is_two_bulk_numbers() {
        let mut h = TestClient::new();
        let Frame::Array(parts) = h.run(&["time"]) else { panic!() };
        let Frame::Bulk(secs) = &parts[0] else { panic!() };
        let Frame::Bulk(micros) = &parts[1] else { panic!() };
        assert!(std::str::from_utf8(secs).unwrap().parse::<u64>().unwrap() > 1_600_000_000);
        assert!(std::str::from_utf8(micros).unwrap().parse::<u64>().unwrap() < 1_000_000);
        assert_eq!(h.run(&["time", "x"]), err("ERR wrong number of arguments for 'time' command"));
    }

    fn pairs(frame: Frame) -> Vec<(String, String)> {
        let Frame::Map(pairs) = frame else { panic!("{frame:?}") };
        let s = |f: Frame| match f {
            Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        pairs.into_iter().map(|(k, v)| (s(k), s(v))).collect()
    }

    fn owned(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn config_get_by_name_and_pattern() {
        let mut h = TestClient::new();
        assert_eq!(pairs(h.run(&["config", "get", "maxmemory"])), owned(&[("maxmemory", "0")]));
        assert_eq!(pairs(h.run(&["config", "get", "MAXMEMORY", "maxmemory"])), owned(&[("MAXMEMORY", "0")]));
        assert_eq!(
            pairs(h.run(&["config", "get", "maxmemory*"])),
            owned(&[("maxmemory", "0"), ("maxmemory-policy", "noeviction"), ("maxmemory-samples", "5")])
        );
        assert_eq!(
            pairs(h.run(&["config", "get", "MaxMemory-P*", "port"])),
            owned(&[("maxmemory-policy", "noeviction"), ("port", "6380")])
        );
        assert_eq!(pairs(h.run(&["config", "get", "nosuch"])), vec![]);
        for (name, value) in [
            ("save", ""),
            ("appendonly", "no"),
            ("databases", "1"),
            ("cluster-enabled", "yes"),
            ("bind", "127.0.0.1"),
            ("cluster-port", "16380"),
            ("loglevel", "notice"),
            ("lfu-decay-time", "1"),
        ] {
            assert_eq!(pairs(h.run(&["config", "get", name])), owned(&[(name, value)]));
        }
        assert_eq!(pairs(h.run(&["config", "get", "*"])).len(), PARAMS.len());
        assert_eq!(h.run(&["config", "get"]), err("ERR wrong number of arguments for 'config|get' command"));
    }

    #[test]
    fn config_set_parses_like_redis() {
        let mut h = TestClient::new();
        let get = |h: &mut TestClient, name: &str| pairs(h.run(&["config", "get", name]))[0].1.clone();
        for (value, bytes) in [
            ("64mb", "67108864"),
            ("1GB", "1073741824"),
            ("10k", "10000"),
            ("10kb", "10240"),
            ("1m", "1000000"),
        ] {
            assert_eq!(h.run(&["config", "set", "maxmemory", value]), Frame::ok());
            assert_eq!(get(&mut h, "maxmemory"), bytes);
        }
        for (value, bytes) in
            [("", "0"), ("mb", "0"), ("01", "1"), ("18446744073709551615", "18446744073709551615")]
        {
            assert_eq!(h.run(&["config", "set", "maxmemory", value]), Frame::ok());
            assert_eq!(get(&mut h, "maxmemory"), bytes);
        }
        let not_memory = err(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
        );
        for bad in ["abc", "-1", "1.5mb", " 1", "+1", "1 mb", "1tb"] {
            assert_eq!(h.run(&["config", "set", "MAXMEMORY", bad]), not_memory, "{bad}");
        }
        assert_eq!(
            h.run(&["config", "set", "timeout", "01"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            h.run(&["config", "set", "timeout", "2147483648"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"
            )
        );
        assert_eq!(
            h.run(&["config", "set", "maxclients", "0"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive"
            )
        );
        assert_eq!(
            h.run(&["config", "set", "proto-max-bulk-len", "100"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive"
            )
        );
        assert_eq!(
            h.run(&["config", "set", "maxmemory-policy", "foo"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
            )
        );
        assert_eq!(h.run(&["config", "set", "maxmemory-policy", "ALLKEYS-LRU"]), Frame::ok());
        assert_eq!(h.server.settings.read().maxmemory_policy, "allkeys-lru");
        assert_eq!(h.store.memory_policy().policy, crate::config::MaxmemoryPolicy::AllkeysLru);
        assert_eq!(h.run(&["config", "set", "lfu-log-factor", "3", "lfu-decay-time", "0"]), Frame::ok());
        assert_eq!(
            pairs(h.run(&["config", "get", "lfu-*"])),
            owned(&[("lfu-log-factor", "3"), ("lfu-decay-time", "0")])
        );
        assert_eq!((h.store.memory_policy().lfu_log_factor, h.store.memory_policy().lfu_decay_time), (3, 0));
        assert_eq!(
            h.run(&["config", "set", "lfu-decay-time", "-1"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'lfu-decay-time') - argument must be between 0 and 2147483647 inclusive"
            )
        );
        assert_eq!(h.run(&["config", "set", "maxmemory", "64mb"]), Frame::ok());
        assert_eq!(h.store.memory_policy().maxmemory, 64 << 20);
        let memory = h.text(&["info", "memory"]);
        for line in ["maxmemory:67108864", "maxmemory_human:64.00M", "maxmemory_policy:allkeys-lru"] {
            assert!(memory.contains(&format!("\r\n{line}\r\n")), "{line} in {memory}");
        }
        assert_eq!(h.run(&["config", "set", "requirepass", "secret", "timeout", "30"]), Frame::ok());
        assert_eq!(h.server.settings.read().requirepass, "secret");
        assert_eq!(h.server.settings.read().timeout, 30);
    }

    #[test]
    fn config_set_names_are_checked_first_and_all_or_nothing() {
        let mut h = TestClient::new();
        let unknown = err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'");
        assert_eq!(h.run(&["config", "set", "foo", "bar"]), unknown);
        assert_eq!(h.run(&["config", "set", "maxmemory", "1", "foo", "2"]), unknown);
        assert_eq!(h.run(&["config", "set", "foo", "1", "databases", "1"]), unknown);
        assert_eq!(
            h.run(&["config", "set", "databases", "1", "foo", "1"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
            )
        );
        assert_eq!(
            h.run(&["config", "set", "PORT", "7000"]),
            err("ERR CONFIG SET failed (possibly related to argument 'PORT') - can't set immutable config")
        );
        assert_eq!(
            h.run(&["config", "set", "maxmemory", "1", "MaxMemory", "2"]),
            err("ERR CONFIG SET failed (possibly related to argument 'MaxMemory') - duplicate parameter")
        );
        assert_eq!(h.run(&["config", "set", "maxmemory", "1", "timeout"]), err("ERR syntax error"));
        assert_eq!(
            h.run(&["config", "set", "maxmemory", "5", "timeout", "x"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(h.server.settings.read().maxmemory, 0, "a failed CONFIG SET changes nothing");
        assert_eq!(h.run(&["config", "set", "save", ""]), Frame::ok());
        assert_eq!(h.run(&["config", "set", "appendonly", "NO"]), Frame::ok());
        assert_eq!(
            h.run(&["config", "set", "appendonly", "maybe"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"
            )
        );
        assert_eq!(
            h.run(&["config", "set", "save", "900 1"]),
            err("ERR CONFIG SET failed (possibly related to argument 'save') - can't set immutable config")
        );
    }

    #[test]
    fn config_resetstat_rewrite_help() {
        let mut h = TestClient::new();
        h.server.stats.net_input_bytes.store(10, Ordering::Relaxed);
        h.store.stats().keyspace_hits.store(3, Ordering::Relaxed);
        assert_eq!(h.run(&["config", "resetstat"]), Frame::ok());
        assert_eq!(h.server.stats.net_input_bytes.load(Ordering::Relaxed), 0);
        assert_eq!(h.store.stats().keyspace_hits.load(Ordering::Relaxed), 0);
        assert_eq!(h.run(&["config", "rewrite"]), err("ERR The server is running without a config file"));
        let Frame::Array(lines) = h.run(&["config", "help"]) else { panic!() };
        assert_eq!(lines.len(), 11);
        assert_eq!(h.run(&["config", "foo"]), err("ERR unknown subcommand 'foo'. Try CONFIG HELP."));
    }

    #[test]
    fn shutdown_stops_the_node_without_a_reply() {
        let mut h = TestClient::new();
        for bad in [&["shutdown", "foo"][..], &["shutdown", "nosave", "save"], &["shutdown", "now", "abort"]]
        {
            assert_eq!(h.run(bad), err("ERR syntax error"));
        }
        assert_eq!(h.run(&["shutdown", "abort"]), err("ERR No shutdown in progress."));
        assert!(!h.server.shutdown.is_cancelled());
        h.run(&["shutdown", "NOSAVE", "now"]);
        assert!(h.server.shutdown.is_cancelled());
        assert!(h.clients[0].drop_reply && h.clients[0].close_after_reply);
    }
}
