//! `--scan` (list keys with SCAN) and `--bigkeys` (the biggest key of each
//! type and averages), printed as redis-cli prints them.

use std::io::Write;
use std::time::Duration;

use super::conn::{CliError, Connection};
use super::format::quoted;
use super::reply::Reply;
use super::session::Session;

/// SCAN batches between two pauses of `-i` in `--bigkeys`.
const BATCHES_PER_PAUSE: u64 = 100;

/// One `SCAN cursor [MATCH pattern]`: the next cursor and the keys.
fn scan_batch(
    conn: &mut Connection,
    cursor: &[u8],
    pattern: Option<&[u8]>,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), CliError> {
    let mut args: Vec<&[u8]> = vec![b"SCAN", cursor];
    if let Some(pattern) = pattern {
        args.extend_from_slice(&[b"MATCH", pattern]);
    }
    let reply = conn.call(&args)?;
    let parts = reply.items().filter(|p| p.len() == 2);
    let (Some(parts), false) = (parts, reply.is_error()) else {
        let text = reply.as_text().unwrap_or_else(|| "unexpected SCAN reply".to_string());
        return Err(CliError::Io(std::io::Error::other(text)));
    };
    let next = parts[0].as_bytes().unwrap_or(b"0").to_vec();
    let keys =
        parts[1].items().unwrap_or(&[]).iter().filter_map(|k| k.as_bytes().map(<[u8]>::to_vec)).collect();
    Ok((next, keys))
}

/// `--scan`: prints every key matching `pattern` (quoted on a terminal),
/// pausing `interval` after each SCAN. Returns the exit status.
pub fn scan(session: &mut Session, pattern: Option<&[u8]>, interval: Option<Duration>, tty: bool) -> i32 {
    let mut out = std::io::stdout().lock();
    let result = (|| -> Result<(), CliError> {
        let mut cursor = b"0".to_vec();
        loop {
            let (next, keys) = scan_batch(session.connection()?, &cursor, pattern)?;
            for key in keys {
                if tty {
                    writeln!(out, "{}", quoted(&key))?;
                } else {
                    out.write_all(&key)?;
                    out.write_all(b"\n")?;
                }
            }
            out.flush()?;
            if next == b"0" {
                return Ok(());
            }
            cursor = next;
            if let Some(pause) = interval {
                std::thread::sleep(pause);
            }
        }
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            if !e.is_output_closed() {
                eprintln!("{e}");
            }
            1
        }
    }
}

/// What `--bigkeys` tracks for one type.
struct TypeStats {
    name: &'static str,
    size_command: &'static str,
    unit: &'static str,
    keys: u64,
    total_size: u64,
    biggest: Option<(Vec<u8>, u64)>,
}

impl TypeStats {
    fn new(name: &'static str, size_command: &'static str, unit: &'static str) -> TypeStats {
        TypeStats { name, size_command, unit, keys: 0, total_size: 0, biggest: None }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

fn average(total: u64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { total as f64 / count as f64 }
}

/// `--bigkeys`: scans the keyspace (keys matching `pattern`), asks each
/// key's type and size (pipelined per SCAN batch), reports each new
/// biggest key as found, then a summary. Returns the exit status.
pub fn bigkeys(session: &mut Session, pattern: Option<&[u8]>, interval: Option<Duration>) -> i32 {
    let mut out = std::io::stdout().lock();
    match find_big_keys(session, pattern, interval, &mut out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = out.flush();
            if !e.is_output_closed() {
                eprintln!("{e}");
            }
            1
        }
    }
}

fn find_big_keys(
    session: &mut Session,
    pattern: Option<&[u8]>,
    interval: Option<Duration>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut types = [
        TypeStats::new("string", "STRLEN", "bytes"),
        TypeStats::new("list", "LLEN", "items"),
        TypeStats::new("set", "SCARD", "members"),
        TypeStats::new("zset", "ZCARD", "members"),
        TypeStats::new("hash", "HLEN", "fields"),
        TypeStats::new("stream", "XLEN", "entries"),
    ];
    let conn = session.connection()?;
    let total_keys = conn.call(&["DBSIZE"])?.as_int().unwrap_or(0).max(0) as u64;
    write!(
        out,
        "\n# Scanning the entire keyspace to find biggest keys as well as\n\
         # average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
         # per 100 SCAN commands (not usually needed).\n\n"
    )?;
    let (mut sampled, mut key_bytes, mut batches) = (0u64, 0u64, 0u64);
    let mut cursor = b"0".to_vec();
    loop {
        let (next, keys) = scan_batch(conn, &cursor, pattern)?;
        let kinds = pipeline(conn, keys.iter().map(|k| vec![b"TYPE".to_vec(), k.clone()]).collect())?;
        let known: Vec<(usize, &Vec<u8>)> = keys
            .iter()
            .zip(&kinds)
            .filter_map(|(key, kind)| {
                let kind = kind.as_bytes()?;
                types.iter().position(|t| t.name.as_bytes() == kind).map(|i| (i, key))
            })
            .collect();
        let sizes = pipeline(
            conn,
            known
                .iter()
                .map(|(i, key)| vec![types[*i].size_command.as_bytes().to_vec(), (*key).clone()])
                .collect(),
        )?;
        for ((i, key), size) in known.into_iter().zip(sizes) {
            let size = size.as_int().unwrap_or(0).max(0) as u64;
            let stats = &mut types[i];
            stats.keys += 1;
            stats.total_size += size;
            if stats.biggest.as_ref().is_none_or(|(_, biggest)| size > *biggest) {
                writeln!(
                    out,
                    "[{:05.2}%] Biggest {:<6} found so far '{}' with {} {}",
                    percent(sampled, total_keys),
                    stats.name,
                    quoted(key),
                    size,
                    stats.unit
                )?;
                stats.biggest = Some((key.clone(), size));
            }
        }
        sampled += keys.len() as u64;
        key_bytes += keys.iter().map(|k| k.len() as u64).sum::<u64>();
        out.flush()?;
        batches += 1;
        if next == b"0" {
            break;
        }
        cursor = next;
        if let Some(pause) = interval.filter(|_| batches.is_multiple_of(BATCHES_PER_PAUSE)) {
            std::thread::sleep(pause);
        }
    }
    write!(out, "\n-------- summary -------\n\n")?;
    writeln!(out, "Sampled {sampled} keys in the keyspace!")?;
    writeln!(out, "Total key length in bytes is {key_bytes} (avg len {:.2})\n", average(key_bytes, sampled))?;
    for stats in &types {
        if let Some((key, size)) = &stats.biggest {
            writeln!(out, "Biggest {:>6} found '{}' has {} {}", stats.name, quoted(key), size, stats.unit)?;
        }
    }
    writeln!(out)?;
    for stats in &types {
        writeln!(
            out,
            "{} {}s with {} {} ({:05.2}% of keys, avg size {:.2})",
            stats.keys,
            stats.name,
            stats.total_size,
            stats.unit,
            percent(stats.keys, sampled),
            average(stats.total_size, stats.keys)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Sends every command, then reads every reply, in order.
fn pipeline(conn: &mut Connection, commands: Vec<Vec<Vec<u8>>>) -> Result<Vec<Reply>, CliError> {
    let mut wire = Vec::new();
    for command in &commands {
        wire.extend_from_slice(&super::conn::encode_command(command));
    }
    conn.write_all(&wire)?;
    commands.iter().map(|_| conn.read_reply()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_averages_never_divide_by_zero() {
        assert_eq!(percent(1, 0), 0.0);
        assert_eq!(average(5, 0), 0.0);
        assert_eq!(format!("{:05.2}", percent(1, 8)), "12.50");
        assert_eq!(format!("{:05.2}", percent(0, 8)), "00.00");
    }
}
