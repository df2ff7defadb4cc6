//! INFO replies read as fields, for the tools that watch a server.

use std::collections::HashMap;

use super::conn::{CliError, Connection};
use super::reply::Reply;

/// The `field:value` lines of an INFO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    fields: HashMap<String, String>,
}

impl Info {
    /// Parses INFO text (section headers and blank lines are skipped).
    pub fn parse(text: &str) -> Info {
        let fields = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.trim_end().split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Info { fields }
    }

    /// Sends `INFO sections...` and parses the reply; an error reply
    /// becomes [`CliError::Io`] with its text.
    pub fn fetch(conn: &mut Connection, sections: &[&str]) -> Result<Info, CliError> {
        let mut args = vec!["INFO"];
        args.extend_from_slice(sections);
        match conn.call(&args)? {
            Reply::Error(text) => {
                Err(CliError::Io(std::io::Error::other(String::from_utf8_lossy(&text).into_owned())))
            }
            reply => Ok(Info::parse(&reply.as_text().unwrap_or_default())),
        }
    }

    /// A field's text.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// A numeric field.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.get(name)?.parse().ok()
    }

    /// Keys over every database (`dbN:keys=K,expires=E,...` lines).
    pub fn keys(&self) -> u64 {
        self.fields
            .iter()
            .filter(|(name, _)| name.starts_with("db") && name[2..].bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|(_, value)| value.split(',').find_map(|kv| kv.strip_prefix("keys=")))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }
}

/// Bytes as Redis's `*_human` fields write them: `512B`, `1.50K`, `3.25M`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_keyspace() {
        let info = Info::parse(
            "# Clients\r\nconnected_clients:3\r\n\r\n# Keyspace\r\ndb0:keys=12,expires=1,avg_ttl=0\r\ndb3:keys=5,expires=0,avg_ttl=0\r\n",
        );
        assert_eq!(info.number("connected_clients"), Some(3));
        assert_eq!(info.keys(), 17);
        assert_eq!(info.get("missing"), None);
        assert_eq!(Info::parse("").keys(), 0);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 256 * 1024), "3.25M");
        assert_eq!(human_bytes(5 << 30), "5.00G");
    }
}
