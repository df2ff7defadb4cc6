//! Connection commands: PING ECHO QUIT SELECT AUTH HELLO.

use bytes::Bytes;

use super::args::{int, is, name, parse_i64};
use super::{CmdError, CommandSpec, Ctx, ok};
use crate::protocol::{Frame, Protocol};

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "ping",
        arity: -1,
        flags: &["fast", "sentinel"],
        acl: &["@fast", "@connection"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        handler: ping,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "echo",
        arity: 2,
        flags: &["fast"],
        acl: &["@fast", "@connection"],
        handler: echo,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "quit",
        arity: -1,
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        acl: &["@fast", "@connection"],
        handler: quit,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "select",
        arity: 2,
        flags: &["loading", "stale", "fast"],
        acl: &["@fast", "@connection"],
        handler: select,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "auth",
        arity: -2,
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "sentinel", "allow_busy"],
        acl: &["@fast", "@connection"],
        handler: auth,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "hello",
        arity: -1,
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "sentinel", "allow_busy"],
        acl: &["@fast", "@connection"],
        handler: hello,
        ..CommandSpec::BASE
    },
];

/// The Redis version Shoal's semantics follow (reported by HELLO and INFO).
pub const REDIS_VERSION: &str = "7.2.0";

fn ping(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    match args.len() {
        1 => Ok(Frame::Simple("PONG".into())),
        2 => Ok(Frame::Bulk(args[1].clone())),
        _ => Err(CmdError::WrongArity(name(args))),
    }
}

fn echo(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Bulk(args[1].clone()))
}

fn quit(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Result<Frame, CmdError> {
    ctx.client.close_after_reply = true;
    ok()
}

fn select(_: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    match int(&args[1])? {
        0 => ok(),
        _ => Err(CmdError::err("DB index is out of range")),
    }
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Checks a username/password pair against `requirepass` (the only user is
/// `default`).
fn check_password(ctx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> Result<(), CmdError> {
    let settings = ctx.server.settings.read();
    let configured = settings.requirepass.as_bytes();
    let user_ok = user == b"default";
    let pass_ok = configured.is_empty() || constant_time_eq(configured, pass);
    if user_ok && pass_ok { Ok(()) } else { Err(CmdError::Other(WRONGPASS.into())) }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (user, pass) = match args.len() {
        2 => (&b"default"[..], &args[1][..]),
        3 => (&args[1][..], &args[2][..]),
        _ => return Err(CmdError::Syntax),
    };
    if args.len() == 2 && ctx.server.settings.read().requirepass.is_empty() {
        return Err(CmdError::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    check_password(ctx, user, pass)?;
    ctx.client.authenticated = true;
    ok()
}

fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut protocol = ctx.client.protocol;
    let mut next = 1;
    if let Some(ver) = args.get(1) {
        protocol = match parse_i64(ver) {
            None => {
                return Err(CmdError::err("Protocol version is not an integer or out of range"));
            }
            Some(2) => Protocol::Resp2,
            Some(3) => Protocol::Resp3,
            Some(_) => {
                return Err(CmdError::Other("NOPROTO unsupported protocol version".into()));
            }
        };
        next = 2;
    }
    let mut credentials = None;
    let mut setname = None;
    while next < args.len() {
        let more = args.len() - next - 1;
        if is(&args[next], "AUTH") && more >= 2 {
            credentials = Some((&args[next + 1], &args[next + 2]));
            next += 3;
        } else if is(&args[next], "SETNAME") && more >= 1 {
            setname = Some(&args[next + 1]);
            next += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[next])
            )));
        }
    }
    if let Some((user, pass)) = credentials {
        check_password(ctx, user, pass)?;
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Err(CmdError::Other(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
        ));
    }
    if let Some(name) = setname {
        super::client_name_valid(name)?;
        ctx.client.shared.meta.lock().name = String::from_utf8_lossy(name).into_owned();
    }
    ctx.client.protocol = protocol;
    ctx.client.shared.meta.lock().resp = if protocol == Protocol::Resp3 { 3 } else { 2 };
    Ok(Frame::Map(vec![
        (Frame::bulk("server"), Frame::bulk("redis")),
        (Frame::bulk("version"), Frame::bulk(REDIS_VERSION)),
        (Frame::bulk("proto"), Frame::Integer(if protocol == Protocol::Resp3 { 3 } else { 2 })),
        (Frame::bulk("id"), Frame::Integer(ctx.client.shared.id as i64)),
        // Every Shoal node is a cluster node (a cluster of one by default).
        (Frame::bulk("mode"), Frame::bulk("cluster")),
        (Frame::bulk("role"), Frame::bulk("master")),
        (Frame::bulk("modules"), Frame::Array(vec![])),
    ]))
}
