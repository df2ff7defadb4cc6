//! The options of `SET` and `GETEX`, and expire times, with Redis's rules.

use bytes::Bytes;

use crate::cmd::CmdError;
use crate::cmd::args::{int, is};

/// Which command's options are being read: `SET` takes NX XX GET KEEPTTL,
/// `GETEX` takes PERSIST; both take EX PX EXAT PXAT.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Set,
    GetEx,
}

/// How an expire argument is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ExpireUnit {
    /// Seconds from now.
    Ex,
    /// Milliseconds from now.
    Px,
    /// Unix time in seconds.
    ExAt,
    /// Unix time in milliseconds.
    PxAt,
}

impl ExpireUnit {
    fn is_absolute(self) -> bool {
        matches!(self, ExpireUnit::ExAt | ExpireUnit::PxAt)
    }
}

/// Options as given; the expire argument is not read yet, because Redis
/// checks it later than the option syntax (after the key's type for GETEX).
#[derive(Default)]
pub(super) struct Options<'a> {
    pub nx: bool,
    pub xx: bool,
    pub get: bool,
    pub keepttl: bool,
    pub persist: bool,
    pub expire: Option<(ExpireUnit, &'a Bytes)>,
}

impl Options<'_> {
    fn has_expire(&self) -> bool {
        self.expire.is_some()
    }
}

/// Reads the options in `args` (after the fixed arguments). Options may
/// come in any order and any case, and may repeat (the last expire wins),
/// but a conflicting or unknown option is `ERR syntax error`, as in Redis.
pub(super) fn parse(args: &[Bytes], family: Family) -> Result<Options<'_>, CmdError> {
    let set = family == Family::Set;
    let mut opts = Options::default();
    let mut i = 0;
    while i < args.len() {
        let opt = &args[i];
        let next = args.get(i + 1);
        if set && is(opt, "NX") && !opts.xx {
            opts.nx = true;
        } else if set && is(opt, "XX") && !opts.nx {
            opts.xx = true;
        } else if set && is(opt, "GET") {
            opts.get = true;
        } else if set && is(opt, "KEEPTTL") && !opts.has_expire() {
            opts.keepttl = true;
        } else if !set && is(opt, "PERSIST") && !opts.has_expire() {
            opts.persist = true;
        } else if let (Some(unit), Some(value)) = (expire_unit(opt), next) {
            let other_unit = opts.expire.is_some_and(|(u, _)| u != unit);
            if opts.keepttl || opts.persist || other_unit {
                return Err(CmdError::Syntax);
            }
            opts.expire = Some((unit, value));
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(opts)
}

fn expire_unit(opt: &[u8]) -> Option<ExpireUnit> {
    [("EX", ExpireUnit::Ex), ("PX", ExpireUnit::Px), ("EXAT", ExpireUnit::ExAt), ("PXAT", ExpireUnit::PxAt)]
        .into_iter()
        .find(|(name, _)| is(opt, name))
        .map(|(_, unit)| unit)
}

/// An expire time as absolute Unix milliseconds, checked as Redis does:
/// not an integer -> `ERR value is not an integer or out of range`; zero,
/// negative, or overflowing once converted to milliseconds and made
/// absolute -> `ERR invalid expire time in '<command>' command`.
///
/// The result may lie in the past (EXAT/PXAT): see [`is_past`].
pub(super) fn expire_at_ms(
    unit: ExpireUnit,
    arg: &[u8],
    now_ms: u64,
    command: &str,
) -> Result<u64, CmdError> {
    let invalid = || CmdError::InvalidExpireTime(command.to_string());
    let value = int(arg)?;
    if value <= 0 {
        return Err(invalid());
    }
    let ms = match unit {
        ExpireUnit::Ex | ExpireUnit::ExAt => value.checked_mul(1000).ok_or_else(invalid)?,
        ExpireUnit::Px | ExpireUnit::PxAt => value,
    };
    let at = if unit.is_absolute() { ms } else { ms.checked_add(now_ms as i64).ok_or_else(invalid)? };
    Ok(at as u64)
}

/// True when an absolute expire time has already passed, so the key must
/// go at once (Redis deletes it instead of storing it).
pub(super) fn is_past(expires_at: u64, now_ms: u64) -> bool {
    expires_at <= now_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<Bytes> {
        text.split_whitespace().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    fn set_ok(text: &str) -> bool {
        parse(&args(text), Family::Set).is_ok()
    }

    #[test]
    fn set_options_follow_redis_conflict_rules() {
        for ok in [
            "",
            "nx",
            "NX nx",
            "xx GET",
            "nx get",
            "ex 10 ex 20",
            "EX 1 get nx",
            "keepttl xx",
            "Px 5",
            "exat 1",
            "pxat 1 GET",
        ] {
            assert!(set_ok(ok), "{ok}");
        }
        for bad in [
            "nx xx",
            "xx nx",
            "ex",
            "ex 1 px 1",
            "keepttl ex 1",
            "ex 1 keepttl",
            "persist",
            "pxat 1 exat 2",
            "foo",
            "get get2",
        ] {
            assert!(!set_ok(bad), "{bad}");
        }
        let a = args("EX abc ex 7");
        let opts = parse(&a, Family::Set).unwrap();
        assert_eq!(
            opts.expire.map(|(u, v)| (u, v.clone())),
            Some((ExpireUnit::Ex, Bytes::from_static(b"7")))
        );
    }

    #[test]
    fn getex_options() {
        let getex_ok = |text: &str| parse(&args(text), Family::GetEx).is_ok();
        for ok in ["", "persist", "PERSIST persist", "ex 1", "pxat 5"] {
            assert!(getex_ok(ok), "{ok}");
        }
        for bad in ["nx", "xx", "get", "keepttl", "persist ex 1", "ex 1 persist", "ex 1 px 2"] {
            assert!(!getex_ok(bad), "{bad}");
        }
    }

    #[test]
    fn expire_times_are_checked_and_made_absolute() {
        let now = 1_700_000_000_000;
        let at = |unit, arg: &str| expire_at_ms(unit, arg.as_bytes(), now, "set");
        assert_eq!(at(ExpireUnit::Ex, "10"), Ok(now + 10_000));
        assert_eq!(at(ExpireUnit::Px, "10"), Ok(now + 10));
        assert_eq!(at(ExpireUnit::ExAt, "10"), Ok(10_000));
        assert_eq!(at(ExpireUnit::PxAt, "9223372036854775807"), Ok(i64::MAX as u64));
        assert_eq!(at(ExpireUnit::Ex, "abc"), Err(CmdError::NotInteger));
        let invalid = Err(CmdError::InvalidExpireTime("set".into()));
        for (unit, arg) in [
            (ExpireUnit::Ex, "0"),
            (ExpireUnit::Px, "-1"),
            (ExpireUnit::Ex, "9223372036854776"),
            (ExpireUnit::ExAt, "9223372036854776"),
            (ExpireUnit::Ex, "9223372036854775"),
            (ExpireUnit::Px, "9223372036854775807"),
        ] {
            assert_eq!(at(unit, arg), invalid, "{unit:?} {arg}");
        }
        assert!(is_past(10_000, now) && !is_past(now + 1, now));
    }
}
