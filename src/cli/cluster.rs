//! Shoal's cluster views: `--cluster-status` prints the members as one
//! node sees them (state, liveness, bump, start time, slot share, key
//! count, memory, whether each node has the same view), the view id,
//! under-replicated slots and moving slots; `--cluster-watch` refreshes it.
//!
//! Sources: `SHOAL MEMBERS` and `SHOAL RING` from the node connected to,
//! then `INFO keyspace memory cluster` from every member's client address
//! (INFO's key count is the node's own keys, unlike DBSIZE, which covers
//! the whole cluster by default). Moving slots are computed from the
//! members' states exactly as the node computes them (serving ring versus
//! target ring). Under-replicated slots are the sum of what every member's
//! `INFO cluster` reports (`shoal_under_replicated_slots`: slots it should
//! hold a copy of and has not finished copying).

use std::io::Write;
use std::time::Duration;

use super::conn::{CliError, Endpoint};
use super::info::{Info, human_bytes};
use super::reply::Reply;
use super::session::{Session, Settings};
use crate::keyslot::SLOTS;
use crate::ring::{MemberState, RingMember, RingSnapshot, moving_slots};

/// How long a member may take to answer INFO when `-t` is not given.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(3);

/// One member's row.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    /// Node id.
    pub id: String,
    /// joining, active, leaving.
    pub state: String,
    /// alive or suspect.
    pub liveness: String,
    /// Client address.
    pub addr: String,
    /// Identity bump.
    pub bump: i64,
    /// Process start, Unix ms.
    pub started_at: i64,
    /// Slots it owns in the serving ring.
    pub slots: u64,
    /// Its own keys, if it answered.
    pub keys: Option<u64>,
    /// Its `used_memory`, if it answered.
    pub memory: Option<u64>,
    /// Its view id, if it answered.
    pub view: Option<String>,
    /// Slots it should hold and has not finished copying, if it answered.
    pub under_replicated: Option<i64>,
    /// The node the CLI is connected to.
    pub local: bool,
}

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStatus {
    /// The node asked (id).
    pub seen_from: String,
    /// Its serving ring's view id.
    pub view_id: String,
    /// Virtual nodes per member.
    pub vnodes: i64,
    /// Configured replicas per slot.
    pub replicas: i64,
    /// Members in id order.
    pub members: Vec<MemberRow>,
    /// Slots whose owner or replicas change when the joins and leaves
    /// under way finish.
    pub moving_slots: usize,
    /// Under-replicated slots as the node reports them, if it does.
    pub under_replicated: Option<i64>,
}

fn text(reply: Option<&Reply>) -> String {
    reply.and_then(Reply::as_text).unwrap_or_default()
}

fn not_shoal(reply: &Reply) -> CliError {
    let why = reply.as_text().unwrap_or_else(|| "unexpected reply".to_string());
    CliError::Io(std::io::Error::other(format!("--cluster-status needs a Shoal node: {why}")))
}

fn parse_state(state: &str) -> Option<MemberState> {
    match state {
        "joining" => Some(MemberState::Joining),
        "active" => Some(MemberState::Active),
        "leaving" => Some(MemberState::Leaving),
        _ => None,
    }
}

/// Asks the node `session` is connected to, then every member.
pub fn gather(session: &mut Session) -> Result<ClusterStatus, CliError> {
    let conn = session.connection()?;
    let members = conn.call(&["SHOAL", "MEMBERS"])?;
    let ring = conn.call(&["SHOAL", "RING"])?;
    let (Some(entries), Some(_)) = (members.items(), ring.pairs()) else {
        return Err(not_shoal(if members.is_error() { &members } else { &ring }));
    };
    let slot_counts: Vec<(String, u64)> = ring
        .field("slots")
        .and_then(Reply::pairs)
        .unwrap_or_default()
        .into_iter()
        .map(|(id, n)| (id.as_text().unwrap_or_default(), n.as_int().unwrap_or(0).max(0) as u64))
        .collect();
    let mut rows = Vec::new();
    for entry in entries {
        let id = text(entry.field("node-id"));
        let local = matches!(entry.field("local"), Some(Reply::Boolean(true)) | Some(Reply::Integer(1)));
        let mut row = MemberRow {
            slots: slot_counts.iter().find(|(owner, _)| *owner == id).map_or(0, |(_, n)| *n),
            id,
            state: text(entry.field("state")),
            liveness: text(entry.field("liveness")),
            addr: text(entry.field("client-addr")),
            bump: entry.field("bump").and_then(Reply::as_int).unwrap_or(0),
            started_at: entry.field("started-at").and_then(Reply::as_int).unwrap_or(0),
            keys: None,
            memory: None,
            view: None,
            under_replicated: None,
            local,
        };
        let info = if local {
            Info::fetch(session.connection()?, SECTIONS).ok()
        } else {
            member_info(session.settings(), &row.addr)
        };
        if let Some(info) = info {
            row.keys = Some(info.keys());
            row.memory = info.number("used_memory");
            row.view = info.get("shoal_view_id").map(str::to_string);
            row.under_replicated = info.number("shoal_under_replicated_slots").map(|n| n as i64);
        }
        rows.push(row);
    }
    let vnodes = ring.field("vnodes").and_then(Reply::as_int).unwrap_or(0);
    let replicas = ring.field("replicas").and_then(Reply::as_int).unwrap_or(0);
    let moving_slots = match ring.field("moving-slots").and_then(Reply::as_int) {
        Some(n) => n.max(0) as usize,
        None => moving(&rows, vnodes, replicas),
    };
    Ok(ClusterStatus {
        seen_from: rows.iter().find(|r| r.local).map(|r| r.id.clone()).unwrap_or_default(),
        view_id: text(ring.field("view-id")),
        vnodes,
        replicas,
        moving_slots,
        under_replicated: rows
            .iter()
            .filter_map(|r| r.under_replicated)
            .reduce(|a, b| a + b)
            .or_else(|| ring.field("under-replicated-slots").and_then(Reply::as_int)),
        members: rows,
    })
}

const SECTIONS: &[&str] = &["keyspace", "memory", "cluster"];

fn member_info(settings: &Settings, addr: &str) -> Option<Info> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let timeout = settings.endpoint.timeout.or(Some(MEMBER_TIMEOUT));
    let endpoint = Endpoint { host, port: port.parse().ok()?, timeout };
    let mut member =
        Session::new(Settings { endpoint, db: 0, resp: None, cluster_mode: false, ..settings.clone() });
    let conn = member.connection().ok()?;
    Info::fetch(conn, SECTIONS).ok()
}

/// Slots whose owner or replicas differ between the serving ring and the
/// target ring of these members.
fn moving(rows: &[MemberRow], vnodes: i64, replicas: i64) -> usize {
    let members: Vec<RingMember> =
        rows.iter().filter_map(|r| Some(RingMember::new(r.id.clone(), parse_state(&r.state)?))).collect();
    let (vnodes, replicas) = (vnodes.max(1) as u32, replicas.max(0) as usize);
    let serving = RingSnapshot::serving(&members, vnodes, replicas);
    let target = RingSnapshot::target(&members, vnodes, replicas);
    moving_slots(&serving, &target).len()
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for Unix milliseconds.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian), by eras
    // of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The status as a table.
pub fn render(status: &ClusterStatus) -> String {
    let mut out = format!(
        "Shoal cluster as seen from {}: view {}, {} members, {} vnodes, {} replica(s) per slot\n\n",
        status.seen_from,
        status.view_id,
        status.members.len(),
        status.vnodes,
        status.replicas
    );
    let header = [
        "NODE",
        "STATE",
        "LIVENESS",
        "ADDRESS",
        "BUMP",
        "STARTED (UTC)",
        "SLOTS",
        "SHARE",
        "KEYS",
        "MEMORY",
        "VIEW",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    let unknown = || "?".to_string();
    for m in &status.members {
        rows.push(vec![
            if m.local { format!("{} *", m.id) } else { m.id.clone() },
            m.state.clone(),
            m.liveness.clone(),
            m.addr.clone(),
            m.bump.to_string(),
            utc(m.started_at),
            m.slots.to_string(),
            format!("{:.2}%", m.slots as f64 * 100.0 / SLOTS as f64),
            m.keys.map_or_else(unknown, |k| k.to_string()),
            m.memory.map_or_else(unknown, human_bytes),
            match &m.view {
                None => "unreachable".to_string(),
                Some(v) if *v == status.view_id => "same".to_string(),
                Some(v) => v.clone(),
            },
        ]);
    }
    let slots: u64 = status.members.iter().map(|m| m.slots).sum();
    let keys: Option<u64> = status.members.iter().map(|m| m.keys).sum();
    let mut total = vec![String::new(); header.len()];
    total[0] = "total".to_string();
    total[6] = slots.to_string();
    total[7] = format!("{:.2}%", slots as f64 * 100.0 / SLOTS as f64);
    total[8] = keys.map_or_else(unknown, |k| k.to_string());
    rows.push(total);
    let widths: Vec<usize> =
        (0..header.len()).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let numeric = [4, 6, 7, 8, 9];
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if numeric.contains(&c) {
                    format!("{cell:>w$}", w = widths[c])
                } else {
                    format!("{cell:<w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str("(* = the node asked)\n\n");
    match status.under_replicated {
        Some(n) => out.push_str(&format!("under-replicated slots: {n}\n")),
        None => out.push_str("under-replicated slots: n/a (no member reported them)\n"),
    }
    if status.moving_slots == 0 {
        out.push_str("moves in progress: none\n");
    } else {
        out.push_str(&format!(
            "moves in progress: {} slots change owner or replicas when the joining/leaving members finish\n",
            status.moving_slots
        ));
    }
    out
}

/// `--cluster-status`: prints the table once. Returns the exit status.
pub fn status(session: &mut Session) -> i32 {
    match gather(session) {
        Ok(status) => {
            let mut out = std::io::stdout();
            // A closed standard output (`| head`) is not worth a message.
            let _ = out.write_all(render(&status).as_bytes()).and_then(|()| out.flush());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// `--cluster-watch`: prints the table every `interval` (clearing the
/// screen on a terminal), `times` times (`None`: until interrupted). A
/// node that stops answering is reported and retried; the exit status is
/// 1 when the last attempt failed.
pub fn watch(session: &mut Session, interval: Duration, times: Option<i64>, tty: bool) -> i32 {
    let mut out = std::io::stdout();
    let mut shown = 0;
    loop {
        let gathered = gather(session);
        let failed = gathered.is_err();
        let text = match gathered {
            Ok(status) => render(&status),
            Err(e) => {
                session.disconnect();
                format!("{e}\n")
            }
        };
        let frame = if tty { format!("\x1b[H\x1b[2J{text}") } else { format!("{text}\n") };
        if out.write_all(frame.as_bytes()).and_then(|()| out.flush()).is_err() {
            return 1;
        }
        shown += 1;
        if times.is_some_and(|n| n > 0 && shown >= n) {
            return i32::from(failed);
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20");
    }

    fn row(id: &str, state: &str, slots: u64) -> MemberRow {
        MemberRow {
            id: id.into(),
            state: state.into(),
            liveness: "alive".into(),
            addr: "127.0.0.1:7001".into(),
            bump: 5,
            started_at: 1_700_000_000_000,
            slots,
            keys: Some(10),
            memory: Some(2048),
            view: Some("abc".into()),
            under_replicated: Some(0),
            local: id == "n1",
        }
    }

    #[test]
    fn moving_slots_follow_member_states() {
        assert_eq!(moving(&[row("n1", "active", 0), row("n2", "active", 0)], 16, 1), 0);
        assert!(moving(&[row("n1", "active", 0), row("n2", "joining", 0)], 16, 1) > 0);
    }

    #[test]
    fn table_lists_members_and_totals() {
        let status = ClusterStatus {
            seen_from: "n1".into(),
            view_id: "abc".into(),
            vnodes: 256,
            replicas: 1,
            members: vec![
                row("n1", "active", 8192),
                MemberRow { view: None, keys: None, ..row("n2", "active", 8192) },
            ],
            moving_slots: 0,
            under_replicated: None,
        };
        let table = render(&status);
        assert!(table.contains("view abc, 2 members"), "{table}");
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[2].starts_with("NODE   STATE"), "{table}");
        assert!(
            lines[3].starts_with("n1 *")
                && lines[3].contains("8192")
                && lines[3].contains("50.00%")
                && lines[3].ends_with("same")
        );
        assert!(lines[4].ends_with("unreachable"), "{table}");
        assert!(lines[5].starts_with("total") && lines[5].contains("16384") && lines[5].contains("100.00%"));
        assert!(table.contains("under-replicated slots: n/a"));
        assert!(table.contains("moves in progress: none"));
    }
}
