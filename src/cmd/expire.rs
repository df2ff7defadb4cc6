//! Expiry commands: EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME
//! PEXPIRETIME PERSIST.
//!
//! Expiry times are absolute Unix milliseconds ([`crate::store::Entry`]'s
//! `expires_at`, 0 for none). Setting a time that is not in the future
//! deletes the key at once and still answers 1, as Redis does.

use bytes::Bytes;

use super::args::{int, is, name, text};
use super::{CmdError, CommandSpec, Ctx, sanitize};
use crate::protocol::Frame;
use crate::store::now_ms;

/// Metadata shared by the four commands that set a TTL.
const SET_EXPIRY: CommandSpec = CommandSpec {
    arity: -3,
    flags: &["write", "fast"],
    first_key: 1,
    last_key: 1,
    step: 1,
    acl: &["@keyspace", "@write", "@fast"],
    ..CommandSpec::BASE
};

/// Metadata shared by the four commands that read a TTL.
const READ_EXPIRY: CommandSpec = CommandSpec {
    arity: 2,
    flags: &["readonly", "fast"],
    first_key: 1,
    last_key: 1,
    step: 1,
    acl: &["@keyspace", "@read", "@fast"],
    ..CommandSpec::BASE
};

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "expire", handler: expire, ..SET_EXPIRY },
    CommandSpec { name: "pexpire", handler: pexpire, ..SET_EXPIRY },
    CommandSpec { name: "expireat", handler: expireat, ..SET_EXPIRY },
    CommandSpec { name: "pexpireat", handler: pexpireat, ..SET_EXPIRY },
    CommandSpec { name: "ttl", tips: &["nondeterministic_output"], handler: ttl, ..READ_EXPIRY },
    CommandSpec { name: "pttl", tips: &["nondeterministic_output"], handler: pttl, ..READ_EXPIRY },
    CommandSpec { name: "expiretime", handler: expiretime, ..READ_EXPIRY },
    CommandSpec { name: "pexpiretime", handler: pexpiretime, ..READ_EXPIRY },
    CommandSpec {
        name: "persist",
        arity: 2,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["@keyspace", "@write", "@fast"],
        handler: persist,
        ..CommandSpec::BASE
    },
];

/// The unit a time argument or reply is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

/// Whether a time argument counts from now or from the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    Now,
    Epoch,
}

fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    set_expiry(ctx, args, Unit::Seconds, Base::Now)
}

fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    set_expiry(ctx, args, Unit::Millis, Base::Now)
}

fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    set_expiry(ctx, args, Unit::Seconds, Base::Epoch)
}

fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    set_expiry(ctx, args, Unit::Millis, Base::Epoch)
}

/// The NX, XX, GT and LT options: when a new expiry may replace the
/// current one.
#[derive(Default)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Conditions {
    fn parse(options: &[Bytes]) -> Result<Conditions, CmdError> {
        let mut c = Conditions::default();
        for option in options {
            let flag = match () {
                _ if is(option, "NX") => &mut c.nx,
                _ if is(option, "XX") => &mut c.xx,
                _ if is(option, "GT") => &mut c.gt,
                _ if is(option, "LT") => &mut c.lt,
                _ => {
                    let shown = sanitize(&text(option), usize::MAX);
                    return Err(CmdError::err(format!("Unsupported option {shown}")));
                }
            };
            *flag = true;
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::err("NX and XX, GT or LT options at the same time are not compatible"));
        }
        if c.gt && c.lt {
            return Err(CmdError::err("GT and LT options at the same time are not compatible"));
        }
        Ok(c)
    }

    /// True if `new` may replace `current` (`None`: no TTL, which GT and LT
    /// treat as infinite).
    fn allow(&self, new: i64, current: Option<i64>) -> bool {
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|c| new <= c)
            || self.lt && current.is_some_and(|c| new >= c))
    }
}

/// The absolute expiry in milliseconds for `time`, or `None` if computing
/// it overflows (Redis then answers "invalid expire time").
fn absolute_ms(time: i64, unit: Unit, base: Base, now: i64) -> Option<i64> {
    let ms = match unit {
        Unit::Seconds => time.checked_mul(1000)?,
        Unit::Millis => time,
    };
    match base {
        Base::Now => ms.checked_add(now),
        Base::Epoch => Some(ms),
    }
}

fn set_expiry(ctx: &mut Ctx<'_>, args: &[Bytes], unit: Unit, base: Base) -> Result<Frame, CmdError> {
    let conditions = Conditions::parse(&args[3..])?;
    let time = int(&args[2])?;
    let now = now_ms() as i64;
    let when = absolute_ms(time, unit, base, now).ok_or_else(|| CmdError::InvalidExpireTime(name(args)))?;
    let key = &args[1];
    let mut db = ctx.store.lock(key);
    let Some(entry) = db.get(key) else {
        return Ok(Frame::Integer(0));
    };
    let current = (entry.expires_at != 0).then_some(entry.expires_at as i64);
    if !conditions.allow(when, current) {
        return Ok(Frame::Integer(0));
    }
    if when <= now {
        db.delete(key);
    } else {
        db.update(key, |e| e.expires_at = when as u64);
    }
    Ok(Frame::Integer(1))
}

fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    read_expiry(ctx, &args[1], Unit::Seconds, Base::Now)
}

fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    read_expiry(ctx, &args[1], Unit::Millis, Base::Now)
}

fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    read_expiry(ctx, &args[1], Unit::Seconds, Base::Epoch)
}

fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    read_expiry(ctx, &args[1], Unit::Millis, Base::Epoch)
}

/// -2 for a missing key, -1 for no TTL, else the remaining time (`Now`) or
/// the expiry time (`Epoch`); seconds are rounded to the nearest.
fn read_expiry(ctx: &mut Ctx<'_>, key: &[u8], unit: Unit, base: Base) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(key);
    let Some(entry) = db.read_untouched(key) else {
        return Ok(Frame::Integer(-2));
    };
    if entry.expires_at == 0 {
        return Ok(Frame::Integer(-1));
    }
    let at = entry.expires_at as i64;
    let ms = match base {
        Base::Now => at.saturating_sub(now_ms() as i64).max(0),
        Base::Epoch => at,
    };
    Ok(Frame::Integer(match unit {
        Unit::Millis => ms,
        Unit::Seconds => ms / 1000 + i64::from(ms % 1000 >= 500),
    }))
}

fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let key = &args[1];
    let mut db = ctx.store.lock(key);
    let had_ttl = db.get(key).is_some_and(|e| e.expires_at != 0);
    if had_ttl {
        db.update(key, |e| e.expires_at = 0);
    }
    Ok(Frame::Integer(had_ttl as i64))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestClient, err, int};
    use crate::protocol::Frame;
    use crate::store::now_ms;

    fn integer(frame: Frame) -> i64 {
        match frame {
            Frame::Integer(n) => n,
            other => panic!("not an integer: {other:?}"),
        }
    }

    #[test]
    fn expire_sets_a_relative_ttl() {
        let mut c = TestClient::with_keys(&["k"]);
        assert_eq!(c.run(&["expire", "k", "100"]), int(1));
        let ttl = integer(c.run(&["pttl", "k"]));
        assert!((99_000..=100_000).contains(&ttl), "{ttl}");
        assert_eq!(c.run(&["ttl", "k"]), int(100));
        assert_eq!(c.run(&["pexpire", "k", "1400"]), int(1));
        assert_eq!(c.run(&["ttl", "k"]), int(1));
        assert_eq!(c.run(&["pexpire", "k", "1600"]), int(1));
        assert_eq!(c.run(&["ttl", "k"]), int(2));
        assert_eq!(c.run(&["expire", "nokey", "100"]), int(0));
        assert_eq!(c.run(&["expire", "k", "abc"]), err("ERR value is not an integer or out of range"));
        assert_eq!(c.run(&["expire", "k"]), err("ERR wrong number of arguments for 'expire' command"));
    }

    #[test]
    fn absolute_times() {
        let mut c = TestClient::with_keys(&["k"]);
        let at = now_ms() / 1000 + 1000;
        assert_eq!(c.run(&["expireat", "k", &at.to_string()]), int(1));
        assert_eq!(c.expires_at("k"), Some(at * 1000));
        assert_eq!(c.run(&["expiretime", "k"]), int(at as i64));
        assert_eq!(c.run(&["pexpiretime", "k"]), int(at as i64 * 1000));
        assert_eq!(c.run(&["pexpireat", "k", &(at * 1000 + 1).to_string()]), int(1));
        assert_eq!(c.run(&["pexpiretime", "k"]), int(at as i64 * 1000 + 1));
        assert_eq!(c.run(&["pexpireat", "k", &(at * 1000 + 499).to_string()]), int(1));
        assert_eq!(c.run(&["expiretime", "k"]), int(at as i64));
        assert_eq!(c.run(&["pexpireat", "k", &(at * 1000 + 500).to_string()]), int(1));
        assert_eq!(c.run(&["expiretime", "k"]), int(at as i64 + 1));
        assert_eq!(c.run(&["pexpireat", "k", "9223372036854775807"]), int(1));
        assert_eq!(c.run(&["pexpiretime", "k"]), int(i64::MAX));
        assert_eq!(c.run(&["expiretime", "k"]), int(i64::MAX / 1000 + 1));
    }

    #[test]
    fn times_not_in_the_future_delete_the_key() {
        for args in [
            ["expire", "k", "0"],
            ["expire", "k", "-5"],
            ["pexpire", "k", "-9223372036854775808"],
            ["expireat", "k", "1"],
            ["pexpireat", "k", "0"],
            ["pexpireat", "k", "-1"],
        ] {
            let mut c = TestClient::with_keys(&["k"]);
            assert_eq!(c.run(&args), int(1), "{args:?}");
            assert_eq!(c.run(&["exists", "k"]), int(0), "{args:?}");
        }
    }

    #[test]
    fn overflow_is_an_invalid_expire_time() {
        let mut c = TestClient::with_keys(&["k"]);
        for (cmd, time) in [
            ("expire", "9223372036854775807"),
            ("expire", "9223372036854775"),
            ("expire", "9223372036854774"),
            ("expire", "-9223372036854775808"),
            ("expire", "-9223372036854776"),
            ("pexpire", "9223372036854775807"),
            ("expireat", "9223372036854775807"),
            ("expireat", "-9223372036854776"),
        ] {
            assert_eq!(
                c.run(&[cmd, "k", time]),
                err(&format!("ERR invalid expire time in '{cmd}' command")),
                "{cmd} {time}"
            );
        }
        assert_eq!(
            c.run(&["EXPIRE", "k", "9223372036854775807"]),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(c.run(&["ttl", "k"]), int(-1));
    }

    #[test]
    fn option_errors() {
        let mut c = TestClient::with_keys(&["k"]);
        let nx_err = err("ERR NX and XX, GT or LT options at the same time are not compatible");
        assert_eq!(c.run(&["expire", "k", "10", "nx", "xx"]), nx_err);
        assert_eq!(c.run(&["expire", "k", "10", "gt", "NX"]), nx_err);
        assert_eq!(c.run(&["expire", "k", "10", "nx", "lt"]), nx_err);
        assert_eq!(
            c.run(&["pexpire", "k", "10", "gt", "lt"]),
            err("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(c.run(&["expire", "k", "10", "foo"]), err("ERR Unsupported option foo"));
        assert_eq!(c.run(&["expire", "k", "10", "nx", "a\r\nb"]), err("ERR Unsupported option a  b"));
        // Options are checked before the time.
        assert_eq!(c.run(&["expire", "k", "abc", "foo"]), err("ERR Unsupported option foo"));
        assert_eq!(c.run(&["expire", "k", "abc", "nx"]), err("ERR value is not an integer or out of range"));
        assert_eq!(c.run(&["ttl", "k"]), int(-1));
    }

    #[test]
    fn nx_and_xx() {
        let mut c = TestClient::with_keys(&["k"]);
        assert_eq!(c.run(&["expire", "k", "10", "xx"]), int(0));
        assert_eq!(c.run(&["expire", "k", "10", "nx", "nx"]), int(1));
        assert_eq!(c.run(&["expire", "k", "20", "nx"]), int(0));
        assert_eq!(c.run(&["expire", "k", "20", "xx"]), int(1));
        assert_eq!(c.run(&["ttl", "k"]), int(20));
        assert_eq!(c.run(&["expire", "nokey", "20", "nx"]), int(0));
    }

    #[test]
    fn gt_and_lt_treat_no_ttl_as_infinite() {
        let mut c = TestClient::with_keys(&["k"]);
        assert_eq!(c.run(&["expire", "k", "10", "gt"]), int(0));
        assert_eq!(c.run(&["expire", "k", "100", "lt"]), int(1));
        assert_eq!(c.run(&["expire", "k", "200", "lt"]), int(0));
        assert_eq!(c.run(&["expire", "k", "50", "LT"]), int(1));
        assert_eq!(c.run(&["expire", "k", "10", "gt"]), int(0));
        assert_eq!(c.run(&["expire", "k", "100", "gt", "xx"]), int(1));
        assert_eq!(c.run(&["ttl", "k"]), int(100));
        let at = c.expires_at("k").unwrap();
        assert_eq!(c.run(&["pexpireat", "k", &at.to_string(), "gt"]), int(0));
        assert_eq!(c.run(&["pexpireat", "k", &at.to_string(), "lt"]), int(0));
        assert_eq!(c.run(&["expire", "k", "-1", "gt"]), int(0));
        assert_eq!(c.run(&["expire", "k", "-1", "lt"]), int(1));
        assert_eq!(c.run(&["exists", "k"]), int(0));
    }

    #[test]
    fn ttl_replies() {
        let mut c = TestClient::with_keys(&["k"]);
        for cmd in ["ttl", "pttl", "expiretime", "pexpiretime"] {
            assert_eq!(c.run(&[cmd, "k"]), int(-1), "{cmd}");
            assert_eq!(c.run(&[cmd, "nokey"]), int(-2), "{cmd}");
        }
        c.set_expiry("k", now_ms() - 1);
        assert_eq!(c.run(&["pttl", "k"]), int(-2));
        let mut c = TestClient::with_keys(&["k"]);
        c.set_expiry("k", now_ms() + 60_000);
        assert_eq!(c.run(&["ttl", "k"]), int(60));
    }

    #[test]
    fn persist_removes_the_ttl() {
        let mut c = TestClient::with_keys(&["k"]);
        assert_eq!(c.run(&["persist", "k"]), int(0));
        assert_eq!(c.run(&["persist", "nokey"]), int(0));
        assert_eq!(c.run(&["expire", "k", "100"]), int(1));
        assert_eq!(c.run(&["persist", "k"]), int(1));
        assert_eq!(c.run(&["ttl", "k"]), int(-1));
        assert_eq!(c.store.counts(), (1, 0));
    }

    #[test]
    fn ttl_changes_stamp_new_versions() {
        let mut c = TestClient::with_keys(&["k"]);
        let v0 = c.store.lock(b"k").get(b"k").unwrap().version;
        c.run(&["expire", "k", "100"]);
        let v1 = c.store.lock(b"k").get(b"k").unwrap().version;
        c.run(&["persist", "k"]);
        let v2 = c.store.lock(b"k").get(b"k").unwrap().version;
        assert!(v0 < v1 && v1 < v2);
    }
}
