//! Counters: INCR DECR INCRBY DECRBY INCRBYFLOAT. All keep the key's TTL.

use bytes::Bytes;

use super::long_double::{self, LongDouble, Parsed};
use super::string_of;
use crate::cmd::args::{int, parse_i64};
use crate::cmd::{CmdError, Ctx};
use crate::protocol::Frame;
use crate::store::Value;

pub(super) fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    add_integer(ctx, &args[1], 1)
}

pub(super) fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    add_integer(ctx, &args[1], -1)
}

pub(super) fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let by = int(&args[2])?;
    add_integer(ctx, &args[1], by)
}

pub(super) fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let by = int(&args[2])?;
    let negated = by.checked_neg().ok_or_else(|| CmdError::err("decrement would overflow"))?;
    add_integer(ctx, &args[1], negated)
}

/// Adds `by` to the integer stored at `key` (0 if absent) and stores the
/// result as its decimal text.
fn add_integer(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> Result<Frame, CmdError> {
    let mut db = ctx.store.lock(key);
    let current = match db.get(key) {
        Some(entry) => Some(parse_i64(string_of(entry)?).ok_or(CmdError::NotInteger)?),
        None => None,
    };
    let value = current.unwrap_or(0).checked_add(by).ok_or(CmdError::Overflow)?;
    let text = Value::Str(Bytes::copy_from_slice(itoa::Buffer::new().format(value).as_bytes()));
    if current.is_some() {
        db.update(key, |entry| entry.value = text);
    } else {
        db.set(key, text, 0);
    }
    Ok(Frame::Integer(value))
}

/// INCRBYFLOAT, computed as Redis computes it on x86-64: in 80-bit
/// extended precision, printed with `%.17Lf` and trailing zeros trimmed
/// (see [`long_double`]). The stored text is the printed result.
pub(super) fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    let key = &args[1];
    // Parsed before locking (long texts cost a little), but its error comes
    // after the stored value's checks, in Redis's order.
    let increment = float_value(&args[2]);
    let mut db = ctx.store.lock(key);
    let (current, exists) = match db.get(key) {
        Some(entry) => (float_value(string_of(entry)?)?, true),
        None => (Parsed::Finite(LongDouble::ZERO), false),
    };
    let increment = increment?;
    let nan_or_infinity = || CmdError::err("increment would produce NaN or Infinity");
    let (Parsed::Finite(current), Parsed::Finite(increment)) = (current, increment) else {
        return Err(nan_or_infinity());
    };
    let text = current.add(increment).ok_or_else(nan_or_infinity)?.to_human();
    let value = Value::Str(Bytes::copy_from_slice(text.as_bytes()));
    if exists {
        db.update(key, |entry| entry.value = value);
    } else {
        db.set(key, value, 0);
    }
    Ok(Frame::bulk(text))
}

fn float_value(text: &[u8]) -> Result<Parsed, CmdError> {
    long_double::parse(text).ok_or(CmdError::NotFloat)
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing::{TestClient, bulk, err, ok};
    use crate::protocol::Frame;
    use crate::store::now_ms;

    #[test]
    fn incr_and_decr() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["INCR", "n"]), Frame::Integer(1));
        assert_eq!(h.run(&["INCR", "n"]), Frame::Integer(2));
        assert_eq!(h.run(&["DECR", "n"]), Frame::Integer(1));
        assert_eq!(h.run(&["DECR", "m"]), Frame::Integer(-1));
        assert_eq!(h.run(&["INCRBY", "n", "-10"]), Frame::Integer(-9));
        assert_eq!(h.run(&["DECRBY", "n", "-10"]), Frame::Integer(1));
        assert_eq!(h.run(&["GET", "n"]), bulk("1"));
    }

    #[test]
    fn integer_errors() {
        let mut h = TestClient::new();
        let not_int = err("ERR value is not an integer or out of range");
        for stored in ["abc", "", " 1", "1 ", "01", "+1", "-0", "1.0", "9223372036854775808"] {
            h.put("s", stored, 0);
            assert_eq!(h.run(&["INCR", "s"]), not_int, "{stored:?}");
        }
        assert_eq!(h.run(&["INCRBY", "n", "1.5"]), not_int);
        assert_eq!(h.run(&["INCRBY", "n", "9223372036854775808"]), not_int);
        h.put("n", "9223372036854775807", 0);
        let overflow = err("ERR increment or decrement would overflow");
        assert_eq!(h.run(&["INCR", "n"]), overflow);
        assert_eq!(h.run(&["INCRBY", "n", "1"]), overflow);
        assert_eq!(h.run(&["DECRBY", "n", "-1"]), overflow);
        assert_eq!(h.run(&["GET", "n"]), bulk("9223372036854775807"));
        h.put("n", "-9223372036854775808", 0);
        assert_eq!(h.run(&["DECR", "n"]), overflow);
        assert_eq!(h.run(&["DECRBY", "x", "-9223372036854775808"]), err("ERR decrement would overflow"));
        assert_eq!(h.run(&["DECRBY", "x", "9223372036854775807"]), Frame::Integer(-9223372036854775807));
        assert_eq!(h.run(&["DECR", "x"]), Frame::Integer(i64::MIN));
    }

    #[test]
    fn counters_keep_the_ttl() {
        let mut h = TestClient::new();
        let at = now_ms() + 100_000;
        h.put("n", "5", at);
        assert_eq!(h.run(&["INCRBY", "n", "5"]), Frame::Integer(10));
        assert_eq!(h.run(&["INCRBYFLOAT", "n", "0.5"]), bulk("10.5"));
        assert_eq!(h.expires_at("n"), Some(at));
    }

    #[test]
    fn incrbyfloat() {
        let mut h = TestClient::new();
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "10.5"]), bulk("10.5"));
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
        assert_eq!(h.run(&["GET", "f"]), bulk("10.6"));
        assert_eq!(h.run(&["SET", "f", "5"]), ok());
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "10.5"]), bulk("15.5"));
        assert_eq!(h.run(&["SET", "f", "5"]), ok());
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "3.0e3"]), bulk("3005"));
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "-3005"]), bulk("0"));
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "-1.25"]), bulk("-1.25"));
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "0x10"]), bulk("14.75"));
        assert_eq!(h.run(&["SET", "f", "5.0e3"]), ok());
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "0"]), bulk("5000"));
        assert_eq!(h.run(&["GET", "f"]), bulk("5000"));
    }

    #[test]
    fn incrbyfloat_errors() {
        let mut h = TestClient::new();
        let not_float = err("ERR value is not a valid float");
        let nan_inf = err("ERR increment would produce NaN or Infinity");
        for bad in ["abc", "nan", " 1", "1 ", "", "1e-5000", "1e5000"] {
            assert_eq!(h.run(&["INCRBYFLOAT", "f", bad]), not_float, "{bad:?}");
        }
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "inf"]), nan_inf);
        assert_eq!(h.run(&["GET", "f"]), Frame::Null);
        h.put("f", "x", 0);
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "1"]), not_float);
        h.put("f", "inf", 0);
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "1"]), nan_inf);
        h.put("f", "1.1e4932", 0);
        assert_eq!(h.run(&["INCRBYFLOAT", "f", "1.1e4932"]), nan_inf);
    }
}
