//! `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the
//! longest common subsequence of two strings, as Redis 7 computes it.
//!
//! The classic dynamic-programming table of `(len1 + 1) × (len2 + 1)`
//! 32-bit cells is built, then walked back from its last cell; ties go the
//! way Redis's walk goes, so the subsequence and the match ranges are the
//! ones Redis returns. The table is transient memory, refused as Redis
//! refuses it when it would exceed `proto-max-bulk-len`. It is computed
//! after the keys' lock is released (the values are shared, not copied).

use bytes::Bytes;

use super::string_of;
use crate::cmd::args::{int, is};
use crate::cmd::{CmdError, CommandSpec, Ctx};
use crate::protocol::Frame;

/// LCS's entry in the command table (Redis 7's metadata).
pub const COMMAND: CommandSpec = CommandSpec {
    name: "lcs",
    arity: -3,
    flags: &["readonly"],
    first_key: 1,
    last_key: 2,
    step: 1,
    acl: &["@read", "@string", "@slow"],
    handler: lcs,
    ..CommandSpec::BASE
};

/// What the caller asked for.
#[derive(Default)]
struct Options {
    len: bool,
    idx: bool,
    min_match_len: usize,
    with_match_len: bool,
}

impl Options {
    fn parse(args: &[Bytes]) -> Result<Options, CmdError> {
        let mut options = Options::default();
        let mut rest = args.iter();
        while let Some(option) = rest.next() {
            if is(option, "IDX") {
                options.idx = true;
            } else if is(option, "LEN") {
                options.len = true;
            } else if is(option, "WITHMATCHLEN") {
                options.with_match_len = true;
            } else if is(option, "MINMATCHLEN") && rest.len() > 0 {
                let n = int(rest.next().map_or(&[][..], |a| &a[..]))?;
                options.min_match_len = usize::try_from(n).unwrap_or(0);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        if options.idx && options.len {
            return Err(CmdError::err("If you want both the length and indexes, please just use IDX."));
        }
        Ok(options)
    }
}

fn lcs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (a, b) = {
        let mut db = ctx.store.lock_keys(&args[1..3]);
        let a = db.read(&args[1]).map(|e| string_of(e).cloned());
        let b = db.read(&args[2]).map(|e| string_of(e).cloned());
        match (a.transpose(), b.transpose()) {
            (Ok(a), Ok(b)) => (a.unwrap_or_default(), b.unwrap_or_default()),
            _ => return Err(CmdError::err("The specified keys must contain string values")),
        }
    };
    let options = Options::parse(&args[3..])?;
    let max = ctx.server.settings.read().proto_max_bulk_len;
    let table = Table::build(&a, &b, max)?;
    if options.len {
        return Ok(Frame::Integer(table.length() as i64));
    }
    let walk = table.walk_back(&a, &b, options.min_match_len);
    if !options.idx {
        return Ok(Frame::Bulk(Bytes::from(walk.subsequence)));
    }
    let matches = walk.ranges.iter().map(|m| {
        let pair = |start: usize, end: usize| Frame::Array(vec![int_frame(start), int_frame(end)]);
        let mut entry = vec![pair(m.a.0, m.a.1), pair(m.b.0, m.b.1)];
        if options.with_match_len {
            entry.push(int_frame(m.len));
        }
        Frame::Array(entry)
    });
    Ok(Frame::Map(vec![
        (Frame::bulk("matches"), Frame::Array(matches.collect())),
        (Frame::bulk("len"), int_frame(table.length())),
    ]))
}

fn int_frame(n: usize) -> Frame {
    Frame::Integer(n as i64)
}

/// The dynamic-programming table: cell (i, j) is the LCS length of the
/// first i bytes of `a` and the first j bytes of `b`.
struct Table {
    cells: Vec<u32>,
    width: usize,
}

/// One common run, as inclusive (start, end) byte ranges in each string.
struct Match {
    a: (usize, usize),
    b: (usize, usize),
    len: usize,
}

/// What walking the table back gives.
struct Walk {
    subsequence: Vec<u8>,
    /// Runs from the end of the strings to their start, as Redis lists them.
    ranges: Vec<Match>,
}

impl Table {
    fn build(a: &[u8], b: &[u8], max_bytes: u64) -> Result<Table, CmdError> {
        let width = b.len() + 1;
        let cells = (a.len() as u64 + 1).saturating_mul(width as u64);
        if cells.saturating_mul(4) > max_bytes {
            return Err(CmdError::err(
                "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            ));
        }
        let mut table = Vec::new();
        table
            .try_reserve_exact(cells as usize)
            .map_err(|_| CmdError::err("Insufficient memory, failed allocating transient memory for LCS"))?;
        table.resize(cells as usize, 0u32);
        for i in 1..=a.len() {
            let (above, row) = table[(i - 1) * width..(i + 1) * width].split_at_mut(width);
            for j in 1..width {
                row[j] = if a[i - 1] == b[j - 1] { above[j - 1] + 1 } else { above[j].max(row[j - 1]) };
            }
        }
        Ok(Table { cells: table, width })
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// Length of the whole LCS.
    fn length(&self) -> usize {
        self.cells[self.cells.len() - 1] as usize
    }

    /// Walks from the last cell to an edge: a byte common to both
    /// positions belongs to the LCS; otherwise step back in `a` when that
    /// keeps a strictly longer LCS, else in `b`. Runs shorter than
    /// `min_len` are left out of the ranges (0 keeps all).
    fn walk_back(&self, a: &[u8], b: &[u8], min_len: usize) -> Walk {
        let mut subsequence = vec![0u8; self.length()];
        let mut next = subsequence.len();
        let mut ranges = Vec::new();
        let mut run: Option<Match> = None;
        let keep = |run: Match, ranges: &mut Vec<Match>| {
            if run.len >= min_len {
                ranges.push(run);
            }
        };
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                next -= 1;
                subsequence[next] = a[i - 1];
                let run = run.get_or_insert(Match { a: (i, i - 1), b: (j, j - 1), len: 0 });
                run.a.0 = i - 1;
                run.b.0 = j - 1;
                run.len += 1;
                i -= 1;
                j -= 1;
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                if let Some(done) = run.take() {
                    keep(done, &mut ranges);
                }
            }
        }
        if let Some(done) = run.take() {
            keep(done, &mut ranges);
        }
        Walk { subsequence, ranges }
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing::{TestClient, bulk, err, int};
    use crate::protocol::{Frame, Protocol};

    fn range(a: (i64, i64), b: (i64, i64), len: Option<i64>) -> Frame {
        let pair = |(s, e): (i64, i64)| Frame::Array(vec![int(s), int(e)]);
        let mut entry = vec![pair(a), pair(b)];
        entry.extend(len.map(int));
        Frame::Array(entry)
    }

    fn idx_reply(matches: Vec<Frame>, len: i64) -> Frame {
        Frame::Map(vec![(bulk("matches"), Frame::Array(matches)), (bulk("len"), int(len))])
    }

    #[test]
    fn lcs_like_redis() {
        let mut c = TestClient::new();
        c.put("key1", "ohmytext", 0);
        c.put("key2", "mynewtext", 0);
        assert_eq!(c.run(&["LCS", "key1", "key2"]), bulk("mytext"));
        assert_eq!(c.run(&["LCS", "key1", "key2", "LEN"]), int(6));
        assert_eq!(
            c.run(&["LCS", "key1", "key2", "IDX"]),
            idx_reply(vec![range((4, 7), (5, 8), None), range((2, 3), (0, 1), None)], 6)
        );
        assert_eq!(
            c.run(&["LCS", "key1", "key2", "idx", "minmatchlen", "4", "withmatchlen"]),
            idx_reply(vec![range((4, 7), (5, 8), Some(4))], 6)
        );
        assert_eq!(
            c.run(&["LCS", "key1", "key2", "minmatchlen", "-5", "IDX", "WITHMATCHLEN"]),
            idx_reply(vec![range((4, 7), (5, 8), Some(4)), range((2, 3), (0, 1), Some(2))], 6)
        );
        assert_eq!(c.run(&["LCS", "key1", "key2", "withmatchlen"]), bulk("mytext"));
        assert_eq!(c.run(&["LCS", "key1", "nokey"]), bulk(""));
        assert_eq!(c.run(&["LCS", "nokey", "nokey2", "IDX"]), idx_reply(vec![], 0));
        let wire = c.run(&["LCS", "key1", "key2", "IDX"]).to_bytes(Protocol::Resp2);
        assert!(wire.starts_with(b"*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n"), "{wire:?}");
    }

    #[test]
    fn lcs_errors() {
        let mut c = TestClient::new();
        c.put("a", "abc", 0);
        c.run(&["HSET", "h", "f", "v"]);
        let not_strings = err("ERR The specified keys must contain string values");
        assert_eq!(c.run(&["LCS", "a", "h"]), not_strings);
        assert_eq!(c.run(&["LCS", "h", "a", "bogus"]), not_strings, "types are checked first");
        assert_eq!(
            c.run(&["LCS", "a", "a", "LEN", "IDX"]),
            err("ERR If you want both the length and indexes, please just use IDX.")
        );
        assert_eq!(c.run(&["LCS", "a", "a", "MINMATCHLEN"]), err("ERR syntax error"));
        assert_eq!(
            c.run(&["LCS", "a", "a", "MINMATCHLEN", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(c.run(&["LCS", "a", "a", "bogus"]), err("ERR syntax error"));
        assert_eq!(c.run(&["LCS", "a"]), err("ERR wrong number of arguments for 'lcs' command"));
    }

    #[test]
    fn lcs_table_is_bounded() {
        let mut c = TestClient::new();
        c.put("a", &"x".repeat(1000), 0);
        c.put("b", &"y".repeat(1000), 0);
        // 1001 × 1001 cells of 4 bytes.
        c.server.settings.write().proto_max_bulk_len = 4_008_004;
        assert_eq!(c.run(&["LCS", "a", "b", "LEN"]), int(0));
        c.put("b", &"x".repeat(1001), 0);
        assert_eq!(
            c.run(&["LCS", "a", "b"]),
            err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
        );
    }
}
