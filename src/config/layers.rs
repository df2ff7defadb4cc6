//! Merging the layers: defaults < file < environment < flags.
//!
//! Each layer writes keys into one TOML table and records where each key's
//! value came from, so every later error can name the key and its origin.
//! Unknown sections and keys are refused as each layer is applied; values are
//! then checked one key at a time, and the merged table becomes a `Config`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::{Table, Value};

use super::Config;
use super::error::{ConfigError, Origin};
use super::flags::Flags;
use super::schema::{self, Key};
use super::validate;

/// Prefix of environment variables that may be config.
const ENV_PREFIX: &str = "SHOAL_";

/// Separator between section and key in a config environment variable.
const ENV_SEPARATOR: &str = "__";

/// The keys set so far by file, environment and flags, with their origins.
#[derive(Debug, Default)]
pub(crate) struct Layers {
    /// `section -> key -> value` for every key set by some layer.
    table: Table,
    /// Origin of each set key, by dotted name.
    origins: BTreeMap<String, Origin>,
}

impl Layers {
    /// Sets `key` to `value`, replacing what a lower layer set.
    fn set(&mut self, key: &Key, value: Value, origin: Origin) {
        let section = self.table.entry(key.section).or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(section) = section {
            section.insert(key.name.to_string(), value);
        }
        self.origins.insert(key.dotted(), origin);
    }

    /// Parses `raw` as `key`'s kind and sets it: environment variables and
    /// flags arrive as text.
    fn set_text(&mut self, key: &Key, raw: &str, origin: Origin) -> Result<(), ConfigError> {
        let value = key.kind.parse(raw).map_err(|reason| ConfigError::InvalidValue {
            key: key.dotted(),
            origin: origin.clone(),
            reason,
        })?;
        self.set(key, value, origin);
        Ok(())
    }

    /// Applies a TOML document (the file layer).
    pub(crate) fn file(&mut self, text: &str, origin: Origin) -> Result<(), ConfigError> {
        let parsed: Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.clone(),
            message: e.to_string().trim_end().to_string(),
        })?;
        for (section, body) in parsed {
            let Value::Table(body) = body else {
                return Err(if schema::is_section(&section) {
                    ConfigError::InvalidValue {
                        reason: format!("expected a [{section}] table"),
                        key: section,
                        origin,
                    }
                } else {
                    ConfigError::UnknownKey { key: section, origin }
                });
            };
            if !schema::is_section(&section) {
                return Err(ConfigError::UnknownSection { section, origin });
            }
            for (name, value) in body {
                let key = schema::lookup(&section, &name).ok_or_else(|| ConfigError::UnknownKey {
                    key: format!("{section}.{name}"),
                    origin: origin.clone(),
                })?;
                self.set(key, value, origin.clone());
            }
        }
        Ok(())
    }

    /// Applies `SHOAL_<SECTION>__<KEY>` variables (the environment layer).
    /// Other variables, including `SHOAL_*` without `__`, are ignored.
    pub(crate) fn env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| {
                name.strip_prefix(ENV_PREFIX).is_some_and(|rest| rest.contains(ENV_SEPARATOR))
            })
            .collect();
        vars.sort();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (var, raw) in vars {
            let rest = &var[ENV_PREFIX.len()..];
            let Some((section, name)) = rest.split_once(ENV_SEPARATOR) else {
                continue;
            };
            let found = schema::lookup(&section.to_ascii_lowercase(), &name.to_ascii_lowercase());
            let Some(key) = found else {
                return Err(ConfigError::UnknownEnv { var });
            };
            if let Some(first) = seen.insert(key.dotted(), var.clone()) {
                return Err(ConfigError::DuplicateEnv { key: key.dotted(), first, second: var });
            }
            self.set_text(key, &raw, Origin::Env(var))?;
        }
        Ok(())
    }

    /// Applies the command-line flags that were given (the flags layer).
    pub(crate) fn flags(&mut self, flags: &Flags) -> Result<(), ConfigError> {
        for given in flags.values() {
            let origin = Origin::Flag(given.flag);
            let key = schema::lookup(given.section, given.name).ok_or_else(|| ConfigError::UnknownKey {
                key: format!("{}.{}", given.section, given.name),
                origin: origin.clone(),
            })?;
            self.set_text(key, &given.raw, origin)?;
        }
        Ok(())
    }

    /// Checks every set value, builds the `Config` and validates it.
    pub(crate) fn finish(self) -> Result<Config, ConfigError> {
        for (dotted, origin) in &self.origins {
            if let Some((section, name, value)) = self.get(dotted) {
                check_one(section, name, value).map_err(|reason| ConfigError::InvalidValue {
                    key: dotted.clone(),
                    origin: origin.clone(),
                    reason,
                })?;
            }
        }
        let config =
            Config::deserialize(Value::Table(self.table.clone())).map_err(|e| ConfigError::InvalidValue {
                key: "(config)".to_string(),
                origin: Origin::Default,
                reason: e.message().to_string(),
            })?;
        validate::check(&config).map_err(|invalid| {
            let key = match invalid.also {
                Some(other) if self.rank(other) > self.rank(invalid.key) => other,
                _ => invalid.key,
            };
            ConfigError::InvalidValue {
                origin: self.origin(key),
                key: key.to_string(),
                reason: invalid.reason,
            }
        })?;
        Ok(config)
    }

    /// Where the value of a dotted key came from.
    fn origin(&self, dotted: &str) -> Origin {
        self.origins.get(dotted).cloned().unwrap_or(Origin::Default)
    }

    /// How late the layer that set a key was: defaults 0 up to flags 3.
    fn rank(&self, dotted: &str) -> u8 {
        match self.origin(dotted) {
            Origin::Default => 0,
            Origin::Text | Origin::File(_) => 1,
            Origin::Env(_) => 2,
            Origin::Flag(_) => 3,
        }
    }

    /// The section, key and value set for a dotted name.
    fn get<'a>(&'a self, dotted: &'a str) -> Option<(&'a str, &'a str, &'a Value)> {
        let (section, name) = dotted.split_once('.')?;
        let value = self.table.get(section)?.get(name)?;
        Some((section, name, value))
    }
}

/// Deserializes a config holding only this key, so a type error is
/// attributed to it alone. Returns the deserializer's message on failure.
fn check_one(section: &str, name: &str, value: &Value) -> Result<(), String> {
    let mut body = Table::new();
    body.insert(name.to_string(), value.clone());
    let mut root = Table::new();
    root.insert(section.to_string(), Value::Table(body));
    Config::deserialize(Value::Table(root)).map(drop).map_err(|e| e.message().to_string())
}
