//! The x87 80-bit `long double` that Redis's `INCRBYFLOAT` computes with,
//! emulated in software so results match Redis on x86-64 digit for digit.
//!
//! Redis parses both operands with `strtold`, adds them in extended
//! precision (64-bit significand, 15-bit exponent) and prints the sum with
//! `%.17Lf`, trailing zeros trimmed. Doing the same in `f64` would show
//! binary noise Redis never shows (`0.1` would come back as
//! `0.10000000000000001`) and would refuse operands such as `1e400` that a
//! `long double` holds. So this module implements exactly the three steps
//! Redis relies on, each correctly rounded (to nearest, ties to even) as
//! glibc and the x87 unit do:
//!
//! - [`parse`]: `strtold` in the C locale, with Redis's extra rules (no
//!   leading space, whole text consumed, NaN and out-of-range refused);
//! - [`LongDouble::add`]: one extended-precision addition;
//! - [`LongDouble::to_human`]: `%.17Lf` with trailing zeros removed.
//!
//! Exact rational arithmetic on small big integers keeps every step exact
//! before its single rounding.
//!
//! Only Redis builds whose `long double` is the x87 format (x86-64, the
//! reference server) are matched: on aarch64 `long double` is IEEE quad
//! precision, and Redis there prints some sums with different last digits.

use std::cmp::Ordering;

/// Significand bits of the x87 extended format (explicit integer bit).
const MANT_BITS: i64 = 64;
/// Exponent of the smallest subnormal's unit: 2^-16445.
const MIN_EXP: i64 = -16445;
/// Largest exponent a finite value may have: (2^64 - 1) × 2^16320 is the
/// largest finite `long double`.
const MAX_EXP: i64 = 16320;
/// Redis refuses float texts this long or longer (`MAX_LONG_DOUBLE_CHARS`).
const MAX_TEXT: usize = 5 * 1024;
/// Fraction digits `%.17Lf` prints.
const FRACTION_DIGITS: u32 = 17;

/// A finite extended-precision value: `(-1)^negative × mant × 2^exp`.
///
/// Normal values have bit 63 of `mant` set; subnormals have
/// `exp == MIN_EXP`; zero has `mant == 0` and `exp == 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongDouble {
    negative: bool,
    mant: u64,
    exp: i64,
}

/// What `strtold` made of a text Redis accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A finite value.
    Finite(LongDouble),
    /// `inf` or `infinity` (any case, optional sign): accepted by the parser,
    /// but any sum with it is refused.
    Infinite,
}

impl LongDouble {
    /// Positive zero.
    pub const ZERO: LongDouble = LongDouble { negative: false, mant: 0, exp: 0 };

    /// The sum, rounded once; `None` when it overflows to infinity.
    pub fn add(self, other: LongDouble) -> Option<LongDouble> {
        if self.mant == 0 && other.mant == 0 {
            // IEEE: -0 + -0 = -0, any other sum of zeros is +0.
            return Some(LongDouble { negative: self.negative && other.negative, ..Self::ZERO });
        }
        if other.mant == 0 {
            return Some(self);
        }
        if self.mant == 0 {
            return Some(other);
        }
        // Normal values order by exponent first; subnormals share MIN_EXP.
        let (big, small) =
            if (self.exp, self.mant) >= (other.exp, other.mant) { (self, other) } else { (other, self) };
        // 62 guard bits: both operands fit with room for a carry, and any
        // bits of `small` shifted out only need to be known as nonzero.
        const GUARD: i64 = 62;
        let a = (big.mant as u128) << GUARD;
        let gap = big.exp - small.exp;
        let b_full = (small.mant as u128) << GUARD;
        let (b, lost) =
            if gap >= 128 { (0, true) } else { (b_full >> gap, b_full & ((1u128 << gap) - 1) != 0) };
        let exp = big.exp - GUARD;
        if big.negative == small.negative {
            return round(big.negative, a + b, exp, lost);
        }
        // Opposite signs: `big` has the larger magnitude, so a >= b, and
        // equal only without lost bits (exact cancellation gives +0). When
        // bits of `b` were lost, the true difference lies strictly between
        // a - b - 1 and a - b: that is a - b - 1 plus a sticky fraction.
        if a == b {
            return Some(Self::ZERO);
        }
        round(big.negative, a - b - lost as u128, exp, lost)
    }

    /// The text Redis stores and replies for this value: `%.17Lf`, then
    /// trailing zeros and a trailing dot removed; `-0` becomes `0`.
    pub fn to_human(self) -> String {
        let mut text = if self.exp >= 0 {
            // An integer: no fraction digits survive the trimming.
            let mut n = Big::from_u128(self.mant as u128);
            n.shl(self.exp as u64);
            n.to_decimal()
        } else {
            fixed_fraction(self.mant, -self.exp)
        };
        if text.contains('.') {
            let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
            text.truncate(trimmed);
        }
        if self.negative && text != "0" {
            text.insert(0, '-');
        }
        text
    }
}

/// `mant × 2^-shift` with 17 fraction digits, rounded to nearest (ties to
/// the even digit, as glibc's `printf`), without a sign.
fn fixed_fraction(mant: u64, shift: i64) -> String {
    let scale = 10u128.pow(FRACTION_DIGITS);
    // mant < 2^64 and 10^17 < 2^57, so this fits.
    let scaled = mant as u128 * scale;
    let units = if shift >= 122 {
        // scaled < 2^121, so scaled / 2^shift < 1/2: rounds to zero.
        0
    } else {
        let shift = shift as u32;
        let quotient = scaled >> shift;
        let rest = scaled & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        if rest > half || (rest == half && quotient & 1 == 1) { quotient + 1 } else { quotient }
    };
    format!("{}.{:017}", units / scale, units % scale)
}

/// Rounds `(mant + f) × 2^exp`, where `f` is a fraction in (0, 1) when
/// `sticky` and 0 otherwise, to the extended format. `None` on overflow;
/// values too small for a subnormal round to zero.
fn round(negative: bool, mant: u128, exp: i64, sticky: bool) -> Option<LongDouble> {
    if mant == 0 {
        debug_assert!(!sticky, "callers keep enough bits to round");
        return Some(LongDouble { negative, ..LongDouble::ZERO });
    }
    let bits = 128 - mant.leading_zeros() as i64;
    let shift = (bits - MANT_BITS).max(MIN_EXP - exp);
    let (mant, exp) = if shift <= 0 {
        debug_assert!(!sticky, "an exact value needs no rounding");
        ((mant << -shift) as u64, exp + shift)
    } else {
        let kept = if shift >= 128 { 0 } else { mant >> shift };
        let half_bit = shift <= 128 && (mant >> (shift - 1)) & 1 == 1;
        let below_half = shift >= 2 && mant & low_mask(shift - 1) != 0;
        let up = half_bit && (sticky || below_half || kept & 1 == 1);
        let (kept, exp) = (kept + up as u128, exp + shift);
        if kept >> MANT_BITS == 1 { (1u64 << (MANT_BITS - 1), exp + 1) } else { (kept as u64, exp) }
    };
    if mant == 0 {
        return Some(LongDouble { negative, ..LongDouble::ZERO });
    }
    (exp <= MAX_EXP).then_some(LongDouble { negative, mant, exp })
}

/// The low `n` bits set (`n` may exceed 127).
fn low_mask(n: i64) -> u128 {
    if n >= 128 { u128::MAX } else { (1u128 << n) - 1 }
}

/// Parses `text` as Redis's `string2ld` does: glibc `strtold` in the C
/// locale (decimal and hexadecimal forms, `inf`/`infinity`), refusing empty
/// or over-long texts, leading whitespace, trailing characters, NaN, and
/// values that overflow or underflow to zero. `None` = not a valid float.
pub fn parse(text: &[u8]) -> Option<Parsed> {
    if text.is_empty() || text.len() >= MAX_TEXT {
        return None;
    }
    let (negative, body) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(Parsed::Infinite);
    }
    let exact = match body {
        [b'0', b'x' | b'X', rest @ ..] => parse_hex(rest)?,
        _ => parse_decimal(body)?,
    };
    let value = match exact {
        Exact::Zero => LongDouble { negative, ..LongDouble::ZERO },
        Exact::Ratio { num, den, exp2 } => {
            let value = from_ratio(negative, num, den, exp2)?;
            if value.mant == 0 {
                return None; // underflow to zero: strtold's ERANGE
            }
            value
        }
    };
    Some(Parsed::Finite(value))
}

/// An exactly parsed magnitude: `num / den × 2^exp2`, or zero.
enum Exact {
    Zero,
    Ratio { num: Big, den: Big, exp2: i64 },
}

/// `digits [. digits] [e|E [sign] digits]` with at least one digit.
fn parse_decimal(body: &[u8]) -> Option<Exact> {
    let Mantissa { significant, frac_len, exp: exp10 } = split_mantissa(body, u8::is_ascii_digit, b'e')?;
    let trailing_zeros = significant.iter().rev().take_while(|&&d| d == b'0').count();
    let digits = &significant[..significant.len() - trailing_zeros];
    if digits.is_empty() {
        return Some(Exact::Zero);
    }
    // value = digits × 10^exp10
    let exp10 = exp10 - frac_len as i64 + trailing_zeros as i64;
    let magnitude = digits.len() as i64 + exp10; // value < 10^magnitude
    if magnitude - 1 > 4932 || magnitude <= -4951 {
        // At least 1e4933 (past the largest long double, about 1.19e4932),
        // or below 1e-4951 (under half the smallest subnormal, 3.6e-4951).
        return None;
    }
    let mut num = Big::from_decimal(digits);
    let mut den = Big::from_u128(1);
    if exp10 >= 0 {
        num.mul_pow10(exp10 as u32);
    } else {
        den.mul_pow10((-exp10) as u32);
    }
    Some(Exact::Ratio { num, den, exp2: 0 })
}

/// After `0x`: `hexdigits [. hexdigits] [p|P [sign] digits]` with at least
/// one hex digit (`strtold` would stop before the `x` otherwise, leaving
/// trailing text, which Redis refuses).
fn parse_hex(rest: &[u8]) -> Option<Exact> {
    let Mantissa { significant, frac_len, exp: exp2 } = split_mantissa(rest, u8::is_ascii_hexdigit, b'p')?;
    if significant.is_empty() {
        return Some(Exact::Zero);
    }
    let exp2 = exp2 - 4 * frac_len as i64;
    let num = Big::from_hex(&significant);
    // 2^(top-1) <= value < 2^top: at least 2^16384 overflows, below
    // 2^-16446 (half the smallest subnormal) rounds to zero.
    let top = num.bit_len() as i64 + exp2;
    if !(MIN_EXP - 1..=16384).contains(&top) {
        return None;
    }
    Some(Exact::Ratio { num, den: Big::from_u128(1), exp2 })
}

/// The parts of `digits [. digits] [marker [sign] digits]`.
struct Mantissa {
    /// The digits before and after the point, leading zeros dropped.
    significant: Vec<u8>,
    /// How many digits followed the point.
    frac_len: usize,
    /// The exponent after the marker, 0 without one.
    exp: i64,
}

/// Splits a mantissa whose digits are those `is_digit` accepts (at least
/// one) and whose exponent follows `marker` in either case; `None` for
/// anything else.
fn split_mantissa(text: &[u8], is_digit: fn(&u8) -> bool, marker: u8) -> Option<Mantissa> {
    let (int_digits, rest) = split_digits(text, is_digit);
    let (frac_digits, rest) = match rest {
        [b'.', rest @ ..] => split_digits(rest, is_digit),
        _ => (&[][..], rest),
    };
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let exp = match rest {
        [] => 0,
        [m, exp @ ..] if m.to_ascii_lowercase() == marker => parse_exponent(exp)?,
        _ => return None,
    };
    let all = int_digits.iter().chain(frac_digits).copied();
    let significant = all.skip_while(|&d| d == b'0').collect();
    Some(Mantissa { significant, frac_len: frac_digits.len(), exp })
}

/// Splits off the leading run of bytes matching `pred`.
fn split_digits(text: &[u8], pred: fn(&u8) -> bool) -> (&[u8], &[u8]) {
    let n = text.iter().take_while(|b| pred(b)).count();
    text.split_at(n)
}

/// `[sign] digits` of an exponent, saturating far beyond any finite range.
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0i64, |acc, &d| (acc * 10 + (d - b'0') as i64).min(1 << 40));
    Some(if negative { -value } else { value })
}

/// Rounds `num / den × 2^exp2` (both positive) to the extended format.
fn from_ratio(negative: bool, mut num: Big, mut den: Big, exp2: i64) -> Option<LongDouble> {
    // Scale so the quotient has 66 or 67 bits: 64 kept, the rest and the
    // remainder decide the rounding.
    let scale = 66 - (num.bit_len() as i64 - den.bit_len() as i64);
    if scale > 0 {
        num.shl(scale as u64);
    } else {
        den.shl((-scale) as u64);
    }
    let (quotient, remainder) = num.div_small_quotient(&den, 68);
    round(negative, quotient, exp2 - scale, remainder)
}

/// A non-negative big integer, little-endian 32-bit words, no zero words
/// at the top.
#[derive(Clone, Debug)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut words = Vec::new();
        while v != 0 {
            words.push(v as u32);
            v >>= 32;
        }
        Big(words)
    }

    fn from_decimal(digits: &[u8]) -> Big {
        let mut n = Big(Vec::new());
        for chunk in digits.chunks(9) {
            let value = chunk.iter().fold(0u32, |acc, &d| acc * 10 + (d - b'0') as u32);
            n.mul_add(10u32.pow(chunk.len() as u32), value);
        }
        n
    }

    fn from_hex(digits: &[u8]) -> Big {
        let mut n = Big(Vec::new());
        for chunk in digits.chunks(7) {
            let value = chunk.iter().fold(0u32, |acc, &d| acc * 16 + (d as char).to_digit(16).unwrap_or(0));
            n.mul_add(1 << (4 * chunk.len()), value);
        }
        n
    }

    /// self = self × m + a.
    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = a as u64;
        for w in &mut self.0 {
            let v = *w as u64 * m as u64 + carry;
            *w = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut k: u32) {
        while k >= 9 {
            self.mul_add(1_000_000_000, 0);
            k -= 9;
        }
        self.mul_add(10u32.pow(k), 0);
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => self.0.len() as u64 * 32 - top.leading_zeros() as u64,
        }
    }

    fn shl(&mut self, bits: u64) {
        if self.0.is_empty() {
            return;
        }
        let (words, bits) = ((bits / 32) as usize, (bits % 32) as u32);
        if bits != 0 {
            let mut carry = 0u32;
            for w in &mut self.0 {
                let v = ((*w as u64) << bits) | carry as u64;
                *w = v as u32;
                carry = (v >> 32) as u32;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        self.0.splice(0..0, std::iter::repeat_n(0, words));
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for w in self.0.iter_mut().rev() {
            let next = *w & 1;
            *w = (*w >> 1) | (carry << 31);
            carry = next;
        }
        self.trim();
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// self -= other, for self >= other.
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, w) in self.0.iter_mut().enumerate() {
            let v = *w as i64 - other.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            borrow = (v < 0) as i64;
            *w = v.rem_euclid(1 << 32) as u32;
        }
        self.trim();
    }

    /// Quotient of self / den, known to be below 2^bits (bits <= 128), and
    /// whether a remainder is left. Binary long division: the quotient is
    /// short even when the operands are long.
    fn div_small_quotient(mut self, den: &Big, bits: u32) -> (u128, bool) {
        let mut shifted = den.clone();
        shifted.shl(bits as u64 - 1);
        let mut quotient = 0u128;
        for i in (0..bits).rev() {
            if self.cmp(&shifted) != Ordering::Less {
                self.sub(&shifted);
                quotient |= 1 << i;
            }
            shifted.shr1();
        }
        (quotient, !self.0.is_empty())
    }

    /// Decimal digits ("0" for zero).
    fn to_decimal(&self) -> String {
        let mut n = self.0.clone();
        let mut chunks = Vec::new();
        while !n.is_empty() {
            let mut rest = 0u64;
            for w in n.iter_mut().rev() {
                let v = (rest << 32) | *w as u64;
                *w = (v / 1_000_000_000) as u32;
                rest = v % 1_000_000_000;
            }
            while n.last() == Some(&0) {
                n.pop();
            }
            chunks.push(rest as u32);
        }
        let mut text = chunks.pop().map_or_else(|| "0".to_string(), |top| top.to_string());
        for chunk in chunks.iter().rev() {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> LongDouble {
        match parse(text.as_bytes()) {
            Some(Parsed::Finite(v)) => v,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn sum(a: &str, b: &str) -> String {
        value(a).add(value(b)).expect("finite").to_human()
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        // Every expectation below is what redis-server 7.0 (x86-64) replies.
        assert_eq!(sum("0", "10.5"), "10.5");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("5", "10.5"), "15.5");
        assert_eq!(sum("15.5", "3.0e3"), "3015.5");
        assert_eq!(sum("3015.5", "0x10"), "3031.5");
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("0", "-0"), "0");
        assert_eq!(sum("0", "1e-4940"), "0");
        assert_eq!(sum("1", "-1"), "0");
        assert_eq!(sum("-5", "2"), "-3");
        assert_eq!(
            sum("0", "1e400"),
            "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"
        );
        assert!(
            sum("0", "1e4932").starts_with("1000000000000000000006018949387963891323837774254533114773785")
        );
        assert!(
            sum("0", "0x1.fffffffffffffffep16383")
                .starts_with("1189731495357231765021263853030970205169063322")
        );
    }

    #[test]
    fn parses_what_strtold_accepts() {
        for ok in ["+.5", "5.", "-0", "1e+2", "0x1p-3", "0X.8", "0x1P+2", "007", "1E5", "0e99999999999"] {
            assert!(matches!(parse(ok.as_bytes()), Some(Parsed::Finite(_))), "{ok}");
        }
        for inf in ["inf", "INF", "-Infinity", "+inf"] {
            assert_eq!(parse(inf.as_bytes()), Some(Parsed::Infinite), "{inf}");
        }
        for bad in [
            "",
            ".",
            "0x",
            "0x1p",
            "1e",
            "1e+",
            " 1",
            "1 ",
            "infin",
            "nan",
            "-nan",
            "1_0",
            "--1",
            "1\0",
            "1e-5000",
            "1.2e4932",
            "0x1p16384",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse("1".repeat(MAX_TEXT).as_bytes()), None);
        assert!(parse("1".repeat(MAX_TEXT - 1).as_bytes()).is_none(), "about 1e5118 overflows");
    }

    #[test]
    fn rounds_to_nearest_even() {
        // 2^64 + 1 is a tie between 2^64 and 2^64 + 2: rounds to even.
        assert_eq!(value("18446744073709551617"), value("18446744073709551616"));
        // 2^64 + 3 is a tie between 2^64 + 2 and 2^64 + 4: rounds to 2^64 + 4.
        assert_eq!(value("18446744073709551619").to_human(), "18446744073709551620");
        assert_eq!(sum("18446744073709551616", "1"), "18446744073709551616");
        assert_eq!(sum("18446744073709551616", "1.0000001"), "18446744073709551618");
        // 2^-18 has 18 fraction digits; the 17-digit rounding is a tie.
        assert_eq!(value("0.000003814697265625").to_human(), "0.00000381469726562");
        assert_eq!(value("-0.000000000000000001").to_human(), "0");
    }

    #[test]
    fn subnormals_and_overflow() {
        let tiny = value("0x1p-16445");
        assert_eq!((tiny.mant, tiny.exp), (1, MIN_EXP));
        assert_eq!(parse(b"0x1p-16446"), None, "a tie with zero rounds to zero");
        assert_eq!(value("0x3p-16447"), tiny, "three quarters rounds up");
        let max = value("0x1.fffffffffffffffep16383");
        assert_eq!(max.add(max), None);
        assert_eq!(max.add(value("-0x1p16320")).map(|v| v.mant), Some(u64::MAX - 1));
    }
}
