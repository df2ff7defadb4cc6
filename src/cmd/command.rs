//! Introspection of the command table: COMMAND and its subcommands (COUNT,
//! INFO, LIST, GETKEYS, GETKEYSANDFLAGS, DOCS, HELP).
//!
//! Every entry has Redis 7's ten fields, because cluster-aware clients
//! (redis-py's among them) parse the whole table at start-up: name, arity,
//! flags, first key, last key, step, ACL categories, tips, key
//! specifications and subcommands. Key specifications are derived from the
//! first/last/step positions (Shoal's table has no richer key metadata).

use bytes::Bytes;

use super::args::is;
use super::{CmdError, CommandSpec, Ctx, TABLE};
use crate::protocol::Frame;
use crate::util::glob::glob_match;

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "command",
    arity: -1,
    flags: &["loading", "stale"],
    acl: &["@slow", "@connection"],
    tips: &["nondeterministic_output_order"],
    handler: command_all,
    subcommands: SUBCOMMANDS,
    ..CommandSpec::BASE
}];

const SUB_FLAGS: &[&str] = &["loading", "stale"];
const SUB_ACL: &[&str] = &["@slow", "@connection"];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "command|count",
        arity: 2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        handler: count,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "command|docs",
        arity: -2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        tips: &["nondeterministic_output_order"],
        handler: docs,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "command|getkeys",
        arity: -4,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        handler: getkeys,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "command|getkeysandflags",
        arity: -4,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        handler: getkeysandflags,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "command|help",
        arity: 2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        handler: help,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "command|info",
        arity: -2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        tips: &["nondeterministic_output_order"],
        handler: info,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "command|list",
        arity: -2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        tips: &["nondeterministic_output_order"],
        handler: list,
        ..CommandSpec::BASE
    },
];

/// The reply of a container's `HELP` subcommand, shaped as Redis's: a title
/// line, the given lines, then the `HELP` entry, each a simple string.
pub fn help_reply(container: &str, lines: &[&str]) -> Frame {
    let title = format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(Frame::Simple(title));
    out.extend(lines.iter().map(|l| Frame::Simple((*l).to_string())));
    out.push(Frame::Simple("HELP".into()));
    out.push(Frame::Simple("    Prints this help.".into()));
    Frame::Array(out)
}

/// Table flags that `COMMAND` does not list.
const UNREPORTED_FLAGS: [&str; 2] = ["sentinel", "only_sentinel"];

/// The `COMMAND INFO` entry of a command or subcommand.
pub fn command_entry(spec: &CommandSpec) -> Frame {
    let simple = |items: &[&str]| {
        // Redis keeps `sentinel` in its table but never reports it.
        let shown = items.iter().filter(|s| !UNREPORTED_FLAGS.contains(s));
        Frame::Set(shown.map(|s| Frame::Simple((*s).to_string())).collect())
    };
    let subcommands = if spec.subcommands.is_empty() {
        Frame::Set(vec![])
    } else {
        Frame::Array(spec.subcommands.iter().map(command_entry).collect())
    };
    Frame::Array(vec![
        Frame::bulk(spec.name),
        Frame::Integer(spec.arity as i64),
        simple(spec.flags),
        Frame::Integer(spec.first_key as i64),
        Frame::Integer(spec.last_key as i64),
        Frame::Integer(spec.step as i64),
        simple(spec.acl),
        Frame::Set(spec.tips.iter().map(Frame::bulk).collect()),
        Frame::Set(key_specs(spec)),
        subcommands,
    ])
}

/// Redis's key-spec access flags, approximated from the command's flags.
fn key_flags(spec: &CommandSpec) -> &'static [&'static str] {
    if spec.is_write() { &["RW", "access", "update"] } else { &["RO", "access"] }
}

fn bulk_map(pairs: Vec<(&str, Frame)>) -> Frame {
    Frame::Map(pairs.into_iter().map(|(k, v)| (Frame::bulk(k), v)).collect())
}

/// One key specification covering first..last by step, as Redis reports a
/// range spec (its `lastkey` is relative to the first key when positive).
fn key_specs(spec: &CommandSpec) -> Vec<Frame> {
    if spec.first_key <= 0 {
        return vec![];
    }
    let lastkey = if spec.last_key < 0 { spec.last_key } else { spec.last_key - spec.first_key };
    let flags = key_flags(spec).iter().map(|f| Frame::Simple((*f).to_string())).collect();
    vec![bulk_map(vec![
        ("flags", Frame::Set(flags)),
        (
            "begin_search",
            bulk_map(vec![
                ("type", Frame::bulk("index")),
                ("spec", bulk_map(vec![("index", Frame::Integer(spec.first_key as i64))])),
            ]),
        ),
        (
            "find_keys",
            bulk_map(vec![
                ("type", Frame::bulk("range")),
                (
                    "spec",
                    bulk_map(vec![
                        ("lastkey", Frame::Integer(lastkey as i64)),
                        ("keystep", Frame::Integer(spec.step as i64)),
                        ("limit", Frame::Integer(0)),
                    ]),
                ),
            ]),
        ),
    ])]
}

/// The command or subcommand with this full name (`get`, `client|list`),
/// any case.
pub fn find_command(name: &[u8]) -> Option<&'static CommandSpec> {
    let split = name.iter().position(|&b| b == b'|');
    let container = TABLE.lookup(&name[..split.unwrap_or(name.len())])?.1;
    match split {
        None => Some(container),
        Some(_) => container.subcommands.iter().find(|s| name.eq_ignore_ascii_case(s.name.as_bytes())),
    }
}

/// Every command with its subcommands after it, as `COMMAND LIST` orders them.
fn all_with_subcommands() -> impl Iterator<Item = &'static CommandSpec> {
    TABLE.commands().iter().flat_map(|c| std::iter::once(*c).chain(c.subcommands.iter()))
}

fn command_all(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Array(TABLE.commands().iter().map(|c| command_entry(c)).collect()))
}

fn count(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(TABLE.commands().len() as i64))
}

fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    if args.len() == 2 {
        return command_all(ctx, args);
    }
    let entries =
        args[2..].iter().map(|name| find_command(name).map_or(Frame::Null, command_entry)).collect();
    Ok(Frame::Array(entries))
}

/// How `COMMAND LIST FILTERBY` selects names.
enum Filter<'a> {
    All,
    Module,
    AclCategory(&'a [u8]),
    Pattern(&'a [u8]),
}

impl Filter<'_> {
    fn keeps(&self, spec: &CommandSpec) -> bool {
        match self {
            Filter::All => true,
            Filter::Module => false,
            Filter::AclCategory(cat) => {
                spec.acl.iter().any(|a| a.strip_prefix('@').unwrap_or(a).as_bytes().eq_ignore_ascii_case(cat))
            }
            Filter::Pattern(pattern) => glob_match(pattern, spec.name.as_bytes(), true),
        }
    }
}

fn list(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let filter = match args.len() {
        2 => Filter::All,
        5 if is(&args[2], "FILTERBY") => {
            if is(&args[3], "MODULE") {
                Filter::Module
            } else if is(&args[3], "ACLCAT") {
                Filter::AclCategory(&args[4])
            } else if is(&args[3], "PATTERN") {
                Filter::Pattern(&args[4])
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let names = all_with_subcommands().filter(|s| filter.keeps(s)).map(|s| Frame::bulk(s.name)).collect();
    Ok(Frame::Array(names))
}

/// The spec and key positions of the command given in `args[2..]`, with
/// Redis's errors for `GETKEYS`.
fn keys_of(args: &[Bytes]) -> Result<(&'static CommandSpec, Vec<usize>), CmdError> {
    let argv = &args[2..];
    let spec = super::resolve(argv).map_err(|_| CmdError::err("Invalid command specified"))?.1;
    Ok((spec, key_positions(spec, argv.len())?))
}

/// Where the keys are in a call of `spec` with `argc` arguments (name
/// included), checked in Redis's order: keys at all, then arity.
fn key_positions(spec: &CommandSpec, argc: usize) -> Result<Vec<usize>, CmdError> {
    if spec.first_key <= 0 && !spec.has_flag("movablekeys") {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !spec.arity_ok(argc) {
        return Err(CmdError::err("Invalid number of arguments specified for command"));
    }
    let positions: Vec<usize> = spec.key_positions(argc).collect();
    if positions.is_empty() && !spec.has_flag("no_mandatory_keys") {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok(positions)
}

fn getkeys(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (_, positions) = keys_of(args)?;
    Ok(Frame::Array(positions.into_iter().map(|i| Frame::Bulk(args[2 + i].clone())).collect()))
}

fn getkeysandflags(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (spec, positions) = keys_of(args)?;
    let flags = || Frame::Set(key_flags(spec).iter().map(|f| Frame::Simple((*f).to_string())).collect());
    let entries =
        positions.into_iter().map(|i| Frame::Array(vec![Frame::Bulk(args[2 + i].clone()), flags()]));
    Ok(Frame::Array(entries.collect()))
}

/// Shoal keeps no command documentation. An error (rather than empty
/// documents) makes redis-cli fall back to its built-in help, which is
/// complete; empty documents would leave its help entries without a
/// summary or group.
fn docs(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Err(CmdError::err("COMMAND DOCS is not supported"))
}

fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{TestClient, err};
    use crate::protocol::Protocol;

    fn noop(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
        Ok(Frame::ok())
    }

    const GET: CommandSpec = CommandSpec {
        name: "get",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["@read", "@string", "@fast"],
        handler: noop,
        ..CommandSpec::BASE
    };

    const MSET: CommandSpec = CommandSpec {
        name: "mset",
        arity: -3,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: -1,
        step: 2,
        acl: &["@write", "@string", "@slow"],
        tips: &["request_policy:multi_shard", "response_policy:all_succeeded"],
        handler: noop,
        ..CommandSpec::BASE
    };

    /// `COMMAND INFO get` from redis-server 7.0, both protocols.
    const REDIS_GET_RESP2: &[u8] = b"*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
    const REDIS_GET_RESP3: &[u8] = b"*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n";

    #[test]
    fn entries_match_redis_byte_for_byte() {
        assert_eq!(&command_entry(&GET).to_bytes(Protocol::Resp2)[..], REDIS_GET_RESP2);
        assert_eq!(&command_entry(&GET).to_bytes(Protocol::Resp3)[..], REDIS_GET_RESP3);
        let mset = command_entry(&MSET).to_bytes(Protocol::Resp2);
        let text = String::from_utf8_lossy(&mset);
        assert!(text.contains("$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n"), "{text}");
        assert!(text.contains("*3\r\n+RW\r\n+access\r\n+update\r\n"), "{text}");
        assert!(text.contains("$26\r\nrequest_policy:multi_shard\r\n"), "{text}");
    }

    #[test]
    fn subcommand_entries_match_redis() {
        let mut h = TestClient::new();
        // `COMMAND INFO client|setname` from redis-server 7.0 in RESP3.
        let redis: &[u8] = b"*1\r\n*10\r\n$14\r\nclient|setname\r\n:3\r\n~3\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n~2\r\n+@slow\r\n+@connection\r\n~0\r\n~0\r\n~0\r\n";
        let reply = h.run(&["COMMAND", "INFO", "CLIENT|SETNAME"]);
        assert_eq!(&reply.to_bytes(Protocol::Resp3)[..], redis);
        let Frame::Array(entries) = h.run(&["command", "info", "config", "nosuch"]) else { panic!() };
        assert_eq!(entries[1], Frame::Null);
        let Frame::Array(config) = &entries[0] else { panic!() };
        assert_eq!(config[0], Frame::bulk("config"));
        let Frame::Array(subs) = &config[9] else { panic!("subcommands are an array") };
        assert!(subs.iter().any(|s| matches!(s, Frame::Array(f) if f[0] == Frame::bulk("config|set"))));
    }

    #[test]
    fn every_entry_has_ten_fields() {
        let mut h = TestClient::new();
        let Frame::Array(all) = h.run(&["COMMAND"]) else { panic!() };
        assert_eq!(all.len(), TABLE.commands().len());
        assert_eq!(h.run(&["command", "count"]), Frame::Integer(all.len() as i64));
        for entry in all {
            let Frame::Array(fields) = entry else { panic!() };
            assert_eq!(fields.len(), 10);
            if let Frame::Array(subs) = &fields[9] {
                assert!(subs.iter().all(|s| matches!(s, Frame::Array(f) if f.len() == 10)));
            }
        }
        assert_eq!(h.run(&["command", "info"]), h.run(&["command"]));
    }

    #[test]
    fn sentinel_flag_is_not_reported() {
        let spec = CommandSpec { name: "x", flags: &["fast", "sentinel"], ..CommandSpec::BASE };
        let Frame::Array(fields) = command_entry(&spec) else { panic!() };
        assert_eq!(fields[2], Frame::Set(vec![Frame::Simple("fast".into())]));
    }

    #[test]
    fn list_and_filters() {
        let mut h = TestClient::new();
        let Frame::Array(names) = h.run(&["command", "list"]) else { panic!() };
        let total: usize = TABLE.commands().iter().map(|c| 1 + c.subcommands.len()).sum();
        assert_eq!(names.len(), total);
        let Frame::Array(names) = h.run(&["command", "list", "filterby", "pattern", "COMMAND|*"]) else {
            panic!()
        };
        assert_eq!(names.len(), SUBCOMMANDS.len());
        assert!(names.contains(&Frame::bulk("command|getkeys")));
        let Frame::Array(names) = h.run(&["command", "list", "FILTERBY", "aclcat", "CONNECTION"]) else {
            panic!()
        };
        assert!(names.contains(&Frame::bulk("command|count")));
        assert!(names.contains(&Frame::bulk("command")));
        assert_eq!(h.run(&["command", "list", "filterby", "aclcat", "@connection"]), Frame::Array(vec![]));
        assert_eq!(h.run(&["command", "list", "filterby", "module", "x"]), Frame::Array(vec![]));
        for bad in [
            &["command", "list", "foo"][..],
            &["command", "list", "filterby", "pattern"],
            &["command", "list", "filterby", "foo", "x"],
        ] {
            assert_eq!(h.run(bad), err("ERR syntax error"));
        }
    }

    #[test]
    fn getkeys_errors_come_in_redis_order() {
        let mut h = TestClient::new();
        assert_eq!(
            h.run(&["command", "getkeys"]),
            err("ERR wrong number of arguments for 'command|getkeys' command")
        );
        assert_eq!(h.run(&["command", "getkeys", "nosuch", "a"]), err("ERR Invalid command specified"));
        assert_eq!(h.run(&["command", "getkeys", "client", "foo"]), err("ERR Invalid command specified"));
        assert_eq!(
            h.run(&["command", "getkeys", "client|kill", "x", "y"]),
            err("ERR Invalid command specified")
        );
        assert_eq!(
            h.run(&["command", "getkeys", "ping", "a", "b"]),
            err("ERR The command has no key arguments")
        );
        assert_eq!(
            h.run(&["command", "getkeys", "config", "get", "x"]),
            err("ERR The command has no key arguments")
        );
        let arity = CmdError::err("Invalid number of arguments specified for command");
        assert_eq!(key_positions(&GET, 3), Err(arity.clone()));
        assert_eq!(key_positions(&MSET, 2), Err(arity));
        assert_eq!(key_positions(&GET, 2), Ok(vec![1]));
        assert_eq!(key_positions(&MSET, 5), Ok(vec![1, 3]));
        assert_eq!(key_positions(&MSET, 4), Ok(vec![1, 3]));
    }

    #[test]
    fn docs_errors_so_redis_cli_uses_its_own_help() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["command", "docs"]), err("ERR COMMAND DOCS is not supported"));
    }

    #[test]
    fn help_has_redis_shape() {
        let mut h = TestClient::new();
        let Frame::Array(lines) = h.run(&["command", "help"]) else { panic!() };
        assert_eq!(lines.len(), 21);
        assert_eq!(
            lines[0],
            Frame::Simple("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into())
        );
        assert_eq!(lines[20], Frame::Simple("    Prints this help.".into()));
        assert_eq!(h.run(&["command", "foo"]), err("ERR unknown subcommand 'foo'. Try COMMAND HELP."));
    }
}
