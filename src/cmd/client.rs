//! Connection management: CLIENT and its subcommands (ID, SETNAME, GETNAME,
//! SETINFO, INFO, LIST, KILL, NO-EVICT, NO-TOUCH, REPLY, HELP).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::{is, parse_i64, text};
use super::command::help_reply;
use super::{ClientShared, CmdError, CommandSpec, Ctx, TABLE, client_name_valid, ok};
use crate::protocol::Frame;

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "client",
    arity: -2,
    acl: &["@slow"],
    subcommands: SUBCOMMANDS,
    ..CommandSpec::BASE
}];

const FLAGS: &[&str] = &["noscript", "loading", "stale"];
const ACL: &[&str] = &["@slow", "@connection"];
const ADMIN_FLAGS: &[&str] = &["admin", "noscript", "loading", "stale"];
const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous", "@connection"];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "client|id", arity: 2, flags: FLAGS, acl: ACL, handler: id, ..CommandSpec::BASE },
    CommandSpec {
        name: "client|setname",
        arity: 3,
        flags: FLAGS,
        acl: ACL,
        handler: setname,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|getname",
        arity: 2,
        flags: FLAGS,
        acl: ACL,
        handler: getname,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|setinfo",
        arity: 4,
        flags: &["noscript", "loading", "stale", "sentinel"],
        acl: ACL,
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        handler: setinfo,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|info",
        arity: 2,
        flags: FLAGS,
        acl: ACL,
        tips: &["nondeterministic_output"],
        handler: info,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|list",
        arity: -2,
        flags: ADMIN_FLAGS,
        acl: ADMIN_ACL,
        tips: &["nondeterministic_output"],
        handler: list,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|kill",
        arity: -3,
        flags: ADMIN_FLAGS,
        acl: ADMIN_ACL,
        handler: kill,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|no-evict",
        arity: 3,
        flags: ADMIN_FLAGS,
        acl: ADMIN_ACL,
        handler: no_evict,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|no-touch",
        arity: 3,
        flags: FLAGS,
        acl: ACL,
        handler: no_touch,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|reply",
        arity: 3,
        flags: FLAGS,
        acl: ACL,
        handler: reply,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "client|help",
        arity: 2,
        flags: &["loading", "stale"],
        acl: ACL,
        handler: help,
        ..CommandSpec::BASE
    },
];

fn id(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.client.shared.id as i64))
}

fn setname(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    client_name_valid(&args[2])?;
    ctx.client.shared.meta.lock().name = text(&args[2]);
    ok()
}

fn getname(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    let name = ctx.client.shared.meta.lock().name.clone();
    Ok(if name.is_empty() { Frame::Null } else { Frame::bulk(name) })
}

fn setinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (attr, value) = (&args[2], &args[3]);
    let lib_name = is(attr, "lib-name");
    if !lib_name && !is(attr, "lib-ver") {
        return Err(CmdError::err(format!("Unrecognized option '{}'", text(attr))));
    }
    if client_name_valid(value).is_err() {
        return Err(CmdError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            text(attr)
        )));
    }
    let mut meta = ctx.client.shared.meta.lock();
    let slot = if lib_name { &mut meta.lib_name } else { &mut meta.lib_ver };
    *slot = text(value);
    ok()
}

/// The name `CLIENT LIST` shows in `cmd=`: the last command's full name.
/// `current` names the command running now on the asking connection (the
/// table records only the container of a subcommand).
fn last_command(client: &ClientShared, current: Option<(u64, &str)>) -> String {
    match current {
        Some((id, name)) if id == client.id => name.to_string(),
        _ => TABLE.get(client.last_cmd.load(Ordering::Relaxed)).map_or("NULL".into(), |s| s.name.to_string()),
    }
}

/// One `CLIENT LIST` line (without the trailing newline), in Redis 7.2's
/// field order. Buffer and memory figures Shoal does not track are 0.
fn client_line(client: &ClientShared, current: Option<(u64, &str)>) -> String {
    let meta = client.meta.lock().clone();
    let age_ms = client.created.elapsed().as_millis() as u64;
    let idle_ms = age_ms.saturating_sub(client.last_active_ms.load(Ordering::Relaxed));
    let mut flags = String::new();
    if client.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if client.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let mut line = String::with_capacity(320);
    let _ = write!(
        line,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db=0 sub=0 psub=0 ssub=0 \
         multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 \
         events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        client.id,
        client.addr,
        client.laddr,
        client.fd.load(Ordering::Relaxed),
        meta.name,
        age_ms / 1000,
        idle_ms / 1000,
        last_command(client, current),
        meta.resp,
        meta.lib_name,
        meta.lib_ver,
    );
    line
}

fn info(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    let shared = &ctx.client.shared;
    let mut line = client_line(shared, Some((shared.id, "client|info")));
    line.push('\n');
    Ok(Frame::Verbatim(Bytes::from(line)))
}

/// Client types `CLIENT LIST TYPE` and `CLIENT KILL TYPE` accept; every
/// Shoal client is `normal`.
fn type_matches_all(name: &[u8]) -> Result<bool, CmdError> {
    if is(name, "normal") {
        Ok(true)
    } else if ["master", "replica", "slave", "pubsub"].iter().any(|t| is(name, t)) {
        Ok(false)
    } else {
        Err(CmdError::err(format!("Unknown client type '{}'", text(name))))
    }
}

fn list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let clients: Vec<Arc<ClientShared>> = if args.len() == 4 && is(&args[2], "TYPE") {
        if type_matches_all(&args[3])? {
            ctx.server.clients.lock().values().cloned().collect()
        } else {
            vec![]
        }
    } else if args.len() > 3 && is(&args[2], "ID") {
        let mut ids = Vec::with_capacity(args.len() - 3);
        for arg in &args[3..] {
            ids.push(parse_i64(arg).ok_or_else(|| CmdError::err("Invalid client ID"))?);
        }
        let all = ctx.server.clients.lock();
        ids.iter().filter_map(|&id| u64::try_from(id).ok().and_then(|id| all.get(&id)).cloned()).collect()
    } else if args.len() == 2 {
        ctx.server.clients.lock().values().cloned().collect()
    } else {
        return Err(CmdError::Syntax);
    };
    let current = Some((ctx.client.shared.id, "client|list"));
    let mut out = String::with_capacity(clients.len() * 320);
    for client in &clients {
        out.push_str(&client_line(client, current));
        out.push('\n');
    }
    Ok(Frame::Verbatim(Bytes::from(out)))
}

/// What `CLIENT KILL <filter> <value> ...` selects; unset filters match all.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    none_by_type: bool,
    keep_self: bool,
}

impl KillFilter {
    fn parse(args: &[Bytes]) -> Result<KillFilter, CmdError> {
        let mut filter = KillFilter { keep_self: true, ..KillFilter::default() };
        let mut i = 2;
        while i < args.len() {
            let Some(value) = args.get(i + 1) else {
                return Err(CmdError::Syntax);
            };
            let option = &args[i];
            if is(option, "ID") {
                let id = parse_i64(value).filter(|&id| id > 0);
                filter.id =
                    Some(id.ok_or_else(|| CmdError::err("client-id should be greater than 0"))? as u64);
            } else if is(option, "TYPE") {
                filter.none_by_type = !type_matches_all(value)?;
            } else if is(option, "ADDR") {
                filter.addr = Some(text(value));
            } else if is(option, "LADDR") {
                filter.laddr = Some(text(value));
            } else if is(option, "USER") {
                if value.as_ref() != b"default" {
                    return Err(CmdError::err(format!("No such user '{}'", text(value))));
                }
            } else if is(option, "SKIPME") {
                filter.keep_self = if is(value, "yes") {
                    true
                } else if is(value, "no") {
                    false
                } else {
                    return Err(CmdError::Syntax);
                };
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
        Ok(filter)
    }

    fn selects(&self, client: &ClientShared, me: u64) -> bool {
        !self.none_by_type
            && self.id.is_none_or(|id| id == client.id)
            && self.addr.as_ref().is_none_or(|a| *a == client.addr.to_string())
            && self.laddr.as_ref().is_none_or(|a| *a == client.laddr.to_string())
            && !(self.keep_self && client.id == me)
    }
}

/// Closes `victim`'s connection: itself after this reply, another at once.
fn close_client(ctx: &mut Ctx<'_>, victim: &ClientShared) {
    if victim.id == ctx.client.shared.id {
        ctx.client.close_after_reply = true;
    } else {
        victim.kill.cancel();
        ctx.server.unregister_client(victim.id);
    }
}

fn kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let clients: Vec<Arc<ClientShared>> = ctx.server.clients.lock().values().cloned().collect();
    if args.len() == 3 {
        // The old form: CLIENT KILL ip:port.
        let addr = text(&args[2]);
        let victim = clients.iter().find(|c| c.addr.to_string() == addr);
        let victim = victim.ok_or_else(|| CmdError::err("No such client"))?;
        close_client(ctx, victim);
        return ok();
    }
    let filter = KillFilter::parse(args)?;
    let me = ctx.client.shared.id;
    let mut killed = 0;
    for victim in clients.iter().filter(|c| filter.selects(c, me)) {
        close_client(ctx, victim);
        killed += 1;
    }
    Ok(Frame::Integer(killed))
}

/// Parses the ON|OFF argument of NO-EVICT and NO-TOUCH.
fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "ON") {
        Ok(true)
    } else if is(arg, "OFF") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

fn no_evict(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    ctx.client.shared.no_evict.store(on_off(&args[2])?, Ordering::Relaxed);
    ok()
}

fn no_touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    ctx.client.shared.no_touch.store(on_off(&args[2])?, Ordering::Relaxed);
    ok()
}

/// Only ON is supported: Shoal always answers.
fn reply(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    if is(&args[2], "ON") {
        ok()
    } else if is(&args[2], "OFF") || is(&args[2], "SKIP") {
        Err(CmdError::err("CLIENT REPLY OFF|SKIP is not supported"))
    } else {
        Err(CmdError::Syntax)
    }
}

fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{TestClient, err};
    use crate::protocol::Protocol;

    #[test]
    fn id_and_names() {
        let mut h = TestClient::with_clients(2);
        assert_eq!(h.run(&["client", "id"]), Frame::Integer(1));
        assert_eq!(h.run_as(1, &["CLIENT", "ID"]), Frame::Integer(2));
        assert_eq!(h.run(&["client", "getname"]), Frame::Null);
        assert_eq!(
            h.run(&["client", "setname", "a b"]),
            err("ERR Client names cannot contain spaces, newlines or special characters.")
        );
        assert_eq!(h.run(&["client", "setname", "worker-1"]), Frame::ok());
        assert_eq!(h.run(&["client", "getname"]), Frame::bulk("worker-1"));
        assert_eq!(h.run(&["client", "setname", ""]), Frame::ok());
        assert_eq!(h.run(&["client", "getname"]), Frame::Null);
        assert_eq!(
            h.run(&["client", "id", "x"]),
            err("ERR wrong number of arguments for 'client|id' command")
        );
        assert_eq!(h.run(&["client"]), err("ERR wrong number of arguments for 'client' command"));
        assert_eq!(h.run(&["client", "foo"]), err("ERR unknown subcommand 'foo'. Try CLIENT HELP."));
    }

    #[test]
    fn setinfo_validates_like_redis_7_2() {
        let mut h = TestClient::with_clients(2);
        assert_eq!(h.run(&["client", "setinfo", "LIB-NAME", "redis-py"]), Frame::ok());
        assert_eq!(h.run(&["client", "setinfo", "lib-ver", "5.0"]), Frame::ok());
        assert_eq!(h.run(&["client", "setinfo", "lib-foo", "x"]), err("ERR Unrecognized option 'lib-foo'"));
        assert_eq!(
            h.run(&["client", "setinfo", "Lib-Name", "a b"]),
            err("ERR Lib-Name cannot contain spaces, newlines or special characters.")
        );
        let line = h.text(&["client", "info"]);
        assert!(line.ends_with(" lib-name=redis-py lib-ver=5.0\n"), "{line}");
        assert_eq!(h.run(&["client", "setinfo", "lib-ver", ""]), Frame::ok());
        assert!(h.text(&["client", "info"]).ends_with(" lib-name=redis-py lib-ver=\n"));
    }

    #[test]
    fn info_line_has_redis_shape() {
        let mut h = TestClient::with_clients(2);
        let line = h.text(&["client", "info"]);
        assert_eq!(
            line,
            "id=1 addr=127.0.0.1:5000 laddr=127.0.0.1:6380 fd=-1 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 \
             ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 \
             events=r cmd=client|info user=default redir=-1 resp=2 lib-name= lib-ver=\n"
        );
        let verbatim = h.run(&["client", "info"]).to_bytes(Protocol::Resp3);
        assert!(verbatim.starts_with(b"="));
    }

    #[test]
    fn no_touch_keeps_reads_from_touching_keys_but_touch_still_does() {
        let mut h = TestClient::with_clients(2);
        assert_eq!(h.run(&["config", "set", "maxmemory-policy", "allkeys-lfu"]), Frame::ok());
        h.run(&["set", "k", "v"]);
        // A new key's LFU counter is 5; the first read always raises it.
        assert_eq!(h.run(&["object", "freq", "k"]), Frame::Integer(5));
        assert_eq!(h.run_as(1, &["client", "no-touch", "on"]), Frame::ok());
        h.run_as(1, &["get", "k"]);
        h.run_as(1, &["multi"]);
        h.run_as(1, &["get", "k"]);
        h.run_as(1, &["exec"]);
        assert_eq!(h.run(&["object", "freq", "k"]), Frame::Integer(5), "reads under NO-TOUCH");
        h.run_as(1, &["touch", "k"]);
        assert_eq!(h.run(&["object", "freq", "k"]), Frame::Integer(6), "TOUCH touches regardless");
        h.run(&["set", "j", "v"]);
        h.run(&["get", "j"]);
        assert_eq!(h.run(&["object", "freq", "j"]), Frame::Integer(6), "other clients still touch");
    }

    #[test]
    fn list_shows_every_client_and_its_last_command() {
        let mut h = TestClient::with_clients(2);
        h.run_as(1, &["ping"]);
        h.run_as(1, &["client", "no-evict", "on"]);
        h.run_as(1, &["client", "no-touch", "ON"]);
        let list = h.text(&["client", "list"]);
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(list.ends_with('\n'));
        assert!(lines[0].starts_with("id=1 ") && lines[0].contains(" cmd=client|list "));
        assert!(lines[1].starts_with("id=2 addr=127.0.0.1:5001 ") && lines[1].contains(" flags=eT "));
        // The table records the container of a subcommand.
        assert!(lines[1].contains(" cmd=client "), "{}", lines[1]);
        h.run_as(1, &["client", "no-evict", "off"]);
        h.run_as(1, &["client", "no-touch", "off"]);
        h.run_as(1, &["ping"]);
        let list = h.text(&["client", "list", "id", "2"]);
        assert!(list.contains(" flags=N ") && list.contains(" cmd=ping "), "{list}");
        assert_eq!(h.text(&["client", "list", "TYPE", "normal"]).lines().count(), 2);
        assert_eq!(h.text(&["client", "list", "type", "pubsub"]), "");
        assert_eq!(h.text(&["client", "list", "id", "2", "1", "2", "9", "-1"]).lines().count(), 3);
        assert_eq!(h.run(&["client", "list", "type", "foo"]), err("ERR Unknown client type 'foo'"));
        assert_eq!(h.run(&["client", "list", "id", "x"]), err("ERR Invalid client ID"));
        for bad in [
            &["client", "list", "id"][..],
            &["client", "list", "foo"],
            &["client", "list", "type", "normal", "id", "1"],
        ] {
            assert_eq!(h.run(bad), err("ERR syntax error"));
        }
    }

    #[test]
    fn kill_closes_other_connections() {
        let mut h = TestClient::with_clients(2);
        let other = h.clients[1].shared.clone();
        assert_eq!(h.run(&["client", "kill", "id", "2"]), Frame::Integer(1));
        assert!(other.kill.is_cancelled());
        assert_eq!(h.server.connected_clients(), 1);
        assert_eq!(h.run(&["client", "kill", "id", "2"]), Frame::Integer(0));
        assert_eq!(h.run(&["client", "kill", "127.0.0.1:5001"]), err("ERR No such client"));
        // SKIPME defaults to yes.
        assert_eq!(h.run(&["client", "kill", "addr", "127.0.0.1:5000"]), Frame::Integer(0));
        assert!(!h.clients[0].close_after_reply);
        assert_eq!(h.run(&["client", "kill", "laddr", "127.0.0.1:6380", "skipme", "NO"]), Frame::Integer(1));
        assert!(h.clients[0].close_after_reply);
    }

    #[test]
    fn kill_old_form_and_errors() {
        let mut h = TestClient::with_clients(2);
        assert_eq!(h.run(&["client", "kill", "127.0.0.1:5001"]), Frame::ok());
        assert!(h.clients[1].shared.kill.is_cancelled());
        assert_eq!(h.run(&["client", "kill", "127.0.0.1:5000"]), Frame::ok());
        assert!(h.clients[0].close_after_reply);
        let mut h = TestClient::with_clients(2);
        assert_eq!(h.run(&["client", "kill", "id"]), err("ERR No such client"));
        for id in ["0", "x", "-5"] {
            assert_eq!(h.run(&["client", "kill", "id", id]), err("ERR client-id should be greater than 0"));
        }
        assert_eq!(h.run(&["client", "kill", "type", "foo"]), err("ERR Unknown client type 'foo'"));
        assert_eq!(h.run(&["client", "kill", "user", "bob"]), err("ERR No such user 'bob'"));
        assert_eq!(h.run(&["client", "kill", "type", "normal", "skipme", "maybe"]), err("ERR syntax error"));
        assert_eq!(h.run(&["client", "kill", "foo", "bar"]), err("ERR syntax error"));
        assert_eq!(h.run(&["client", "kill", "id", "1", "id"]), err("ERR syntax error"));
        assert_eq!(h.run(&["client", "kill", "type", "pubsub"]), Frame::Integer(0));
        assert_eq!(h.run(&["client", "kill", "user", "default"]), Frame::Integer(1));
    }

    #[test]
    fn switches_and_help() {
        let mut h = TestClient::with_clients(2);
        assert_eq!(h.run(&["client", "no-evict", "maybe"]), err("ERR syntax error"));
        assert_eq!(h.run(&["client", "no-touch", "maybe"]), err("ERR syntax error"));
        assert_eq!(h.run(&["client", "reply", "ON"]), Frame::ok());
        assert_eq!(h.run(&["client", "reply", "foo"]), err("ERR syntax error"));
        assert!(h.run(&["client", "reply", "off"]).is_error());
        let Frame::Array(lines) = h.run(&["client", "help"]) else { panic!() };
        assert_eq!(
            lines[0],
            Frame::Simple("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into())
        );
    }
}
