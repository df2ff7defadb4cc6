//! Value types with units: byte sizes (`64mb`) and durations (`5s`).
//!
//! Both read from TOML either as an integer (bytes, seconds) or as a string
//! with a unit suffix, case-insensitive, and write back as the shortest exact
//! string, so a value survives a round trip through `--print-config`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Why a size or duration string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The text is not a number followed by a known size unit.
    #[error(
        "invalid size `{0}`: expected a number of bytes, optionally followed by b, kb, mb, gb \
         (powers of 1024) or k, m, g (powers of 1000), e.g. `64mb`"
    )]
    Size(String),
    /// The text is not a number followed by a known duration unit.
    #[error(
        "invalid duration `{0}`: expected a number of seconds, optionally followed by ms, s, m \
         or h, e.g. `500ms` or `5s`"
    )]
    Duration(String),
    /// The number is well formed but does not fit in 64 bits once scaled.
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Splits `text` into its leading digits and the (trimmed, lowercased) unit
/// after them. Returns `None` when there are no leading digits.
fn split_number(text: &str) -> Option<(&str, String)> {
    let text = text.trim();
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let (digits, unit) = text.split_at(end);
    Some((digits, unit.trim().to_ascii_lowercase()))
}

/// Parses `digits` and multiplies by `scale`, reporting overflow against `original`.
fn scaled(digits: &str, scale: u64, original: &str) -> Result<u64, UnitError> {
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| UnitError::Overflow(original.to_string()))
}

/// A number of bytes.
///
/// Accepted forms: an integer (bytes), or a string such as `"100b"`,
/// `"512kb"`, `"64mb"`, `"1gb"` (powers of 1024) or `"1k"`, `"1m"`, `"1g"`
/// (powers of 1000, as Redis reads them); a string of digits alone is bytes.
/// Units are case-insensitive. Written back as the largest exact unit
/// (`"512mb"`, `"1536kb"`, `"100b"`, and `"0"` for zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    /// One kibibyte (1024 bytes).
    pub const KB: u64 = 1 << 10;
    /// One mebibyte (1024 KB).
    pub const MB: u64 = 1 << 20;
    /// One gibibyte (1024 MB).
    pub const GB: u64 = 1 << 30;

    /// A size of `bytes` bytes.
    pub const fn b(bytes: u64) -> ByteSize {
        ByteSize(bytes)
    }

    /// A size of `n` mebibytes.
    pub const fn mb(n: u64) -> ByteSize {
        ByteSize(n * Self::MB)
    }

    /// The size in bytes.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<ByteSize, UnitError> {
        let (digits, unit) = split_number(text).ok_or_else(|| UnitError::Size(text.into()))?;
        let scale = match unit.as_str() {
            "" | "b" => 1,
            "k" => 1_000,
            "kb" => Self::KB,
            "m" => 1_000_000,
            "mb" => Self::MB,
            "g" => 1_000_000_000,
            "gb" => Self::GB,
            _ => return Err(UnitError::Size(text.into())),
        };
        scaled(digits, scale, text).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        for (scale, unit) in [(Self::GB, "gb"), (Self::MB, "mb"), (Self::KB, "kb")] {
            if self.0.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{}b", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ByteSize, D::Error> {
        deserializer.deserialize_any(UnitVisitor::<ByteSize>::new("a size such as 64mb or a number of bytes"))
    }
}

/// A length of time with millisecond precision.
///
/// Accepted forms: an integer (seconds), or a string such as `"500ms"`,
/// `"5s"`, `"2m"` (minutes), `"1h"`; a string of digits alone is seconds.
/// Units are case-insensitive. Written back as the largest exact unit
/// (`"30s"`, `"1500ms"`, `"2m"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigDuration {
    millis: u64,
}

impl ConfigDuration {
    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> ConfigDuration {
        ConfigDuration { millis }
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> ConfigDuration {
        ConfigDuration { millis: secs * 1000 }
    }

    /// The duration as a standard [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_millis(self.millis)
    }

    /// The duration in whole milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Whether the duration is zero.
    pub const fn is_zero(self) -> bool {
        self.millis == 0
    }
}

impl FromStr for ConfigDuration {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<ConfigDuration, UnitError> {
        let (digits, unit) = split_number(text).ok_or_else(|| UnitError::Duration(text.into()))?;
        let scale = match unit.as_str() {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(UnitError::Duration(text.into())),
        };
        scaled(digits, scale, text).map(ConfigDuration::from_millis)
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        for (scale, unit) in [(3_600_000, "h"), (60_000, "m"), (1_000, "s")] {
            if self.millis.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.millis / scale);
            }
        }
        write!(f, "{}ms", self.millis)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ConfigDuration, D::Error> {
        deserializer.deserialize_any(UnitVisitor::<ConfigDuration>::new(
            "a duration such as 500ms or 5s, or a number of seconds",
        ))
    }
}

/// A unit type that can also be built from a bare non-negative integer.
trait FromInteger: FromStr<Err = UnitError> {
    /// Builds the value from an integer in the type's base unit (bytes, seconds).
    fn from_integer(n: u64) -> Option<Self>;
}

impl FromInteger for ByteSize {
    fn from_integer(n: u64) -> Option<ByteSize> {
        Some(ByteSize(n))
    }
}

impl FromInteger for ConfigDuration {
    fn from_integer(n: u64) -> Option<ConfigDuration> {
        n.checked_mul(1000).map(ConfigDuration::from_millis)
    }
}

/// Serde visitor shared by the unit types: integer or string.
struct UnitVisitor<T> {
    expecting: &'static str,
    marker: std::marker::PhantomData<T>,
}

impl<T> UnitVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        UnitVisitor { expecting, marker: std::marker::PhantomData }
    }
}

impl<T: FromInteger> Visitor<'_> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        T::from_integer(n).ok_or_else(|| E::custom(UnitError::Overflow(n.to_string())))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(n), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_case_insensitively() {
        let cases = [
            ("0", 0),
            ("100", 100),
            ("100b", 100),
            ("512kb", 512 * 1024),
            ("64mb", 64 << 20),
            ("64MB", 64 << 20),
            ("1Gb", 1 << 30),
            ("1k", 1000),
            ("2m", 2_000_000),
            ("1g", 1_000_000_000),
            (" 64 mb ", 64 << 20),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize::b(bytes)), "{text}");
        }
    }

    #[test]
    fn bad_sizes_are_rejected() {
        for text in ["", "mb", "64xb", "-1", "1.5gb", "64 m b"] {
            assert!(matches!(text.parse::<ByteSize>(), Err(UnitError::Size(_))), "{text}");
        }
        assert!(matches!("99999999999999999999gb".parse::<ByteSize>(), Err(UnitError::Overflow(_))));
        assert!(matches!("17179869184gb".parse::<ByteSize>(), Err(UnitError::Overflow(_))));
    }

    #[test]
    fn sizes_display_in_the_largest_exact_unit() {
        assert_eq!(ByteSize::b(0).to_string(), "0");
        assert_eq!(ByteSize::mb(512).to_string(), "512mb");
        assert_eq!(ByteSize::b(1536 * 1024).to_string(), "1536kb");
        assert_eq!(ByteSize::b(3 << 30).to_string(), "3gb");
        assert_eq!(ByteSize::b(1000).to_string(), "1000b");
        for n in [0, 1, 1000, 1024, 1 << 20, (1 << 30) + 1] {
            let size = ByteSize::b(n);
            assert_eq!(size.to_string().parse::<ByteSize>(), Ok(size));
        }
    }

    #[test]
    fn durations_parse_with_units() {
        let cases = [
            ("500ms", 500),
            ("5s", 5_000),
            ("5", 5_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1H", 3_600_000),
            ("0", 0),
        ];
        for (text, millis) in cases {
            assert_eq!(text.parse::<ConfigDuration>(), Ok(ConfigDuration::from_millis(millis)), "{text}");
        }
        for text in ["", "s", "5d", "1.5s", "-5s", "5 sec"] {
            assert!(matches!(text.parse::<ConfigDuration>(), Err(UnitError::Duration(_))), "{text}");
        }
    }

    #[test]
    fn durations_display_in_the_largest_exact_unit() {
        assert_eq!(ConfigDuration::from_secs(30).to_string(), "30s");
        assert_eq!(ConfigDuration::from_millis(1500).to_string(), "1500ms");
        assert_eq!(ConfigDuration::from_secs(120).to_string(), "2m");
        assert_eq!(ConfigDuration::from_secs(7200).to_string(), "2h");
        assert_eq!(ConfigDuration::from_millis(0).to_string(), "0s");
        assert_eq!(ConfigDuration::from_millis(1500).as_duration(), Duration::from_millis(1500));
    }

    #[derive(Debug, PartialEq, Deserialize, Serialize)]
    struct Both {
        size: ByteSize,
        wait: ConfigDuration,
    }

    #[test]
    fn serde_reads_integers_and_strings_and_writes_strings() {
        let from_ints: Both = toml::from_str("size = 1024\nwait = 3").expect("integers");
        assert_eq!(from_ints.size, ByteSize::b(1024));
        assert_eq!(from_ints.wait, ConfigDuration::from_secs(3));
        let from_strings: Both = toml::from_str("size = \"1kb\"\nwait = \"3000ms\"").expect("strings");
        assert_eq!(from_strings, from_ints);
        let text = toml::to_string(&from_ints).expect("serialize");
        assert_eq!(text, "size = \"1kb\"\nwait = \"3s\"\n");
        assert!(toml::from_str::<Both>("size = -1\nwait = 1").is_err());
        assert!(toml::from_str::<Both>("size = 1\nwait = true").is_err());
    }
}
