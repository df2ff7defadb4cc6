//! The shipped config files: `config/shoal.toml` documents exactly the
//! defaults, and every file under `config/` is a valid configuration.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use shoal::config::Config;

/// The `config/` directory of this crate.
fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Reads a file, failing the test with its path.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Whether `text` is a `[section]` header.
fn is_section_header(text: &str) -> bool {
    text.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
}

/// Whether `text` is a `key = value` line.
fn is_setting(text: &str) -> bool {
    text.split_once(" = ").is_some_and(|(key, value)| {
        !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !value.is_empty()
    })
}

/// The template with every `# [section]` and `# key = value` line
/// uncommented. Panics on a line that is neither blank, a `##`
/// explanation, nor such a commented-out setting.
fn uncomment(template: &str) -> String {
    let mut out = String::new();
    for (number, line) in template.lines().enumerate() {
        let line = line.trim_end();
        let kept = match line.strip_prefix("# ") {
            Some(rest) if is_section_header(rest) || is_setting(rest) => rest,
            _ if line.is_empty() || line == "##" || line.starts_with("## ") => line,
            _ => panic!(
                "config/shoal.toml line {}: `{line}` is neither `## ` text nor a commented-out setting",
                number + 1
            ),
        };
        out.push_str(kept);
        out.push('\n');
    }
    out
}

/// `section.key` for every key in a TOML document of sections.
fn dotted_keys(value: &toml::Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (section, body) in value.as_table().expect("top-level table") {
        for key in body.as_table().expect("section table").keys() {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}

#[test]
fn template_uncommented_equals_the_defaults() {
    let template = read(&config_dir().join("shoal.toml"));
    let text = uncomment(&template);
    let parsed = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("uncommented template: {e}"));
    assert_eq!(parsed, Config::default());

    let listed: toml::Value = toml::from_str(&text).expect("uncommented template is TOML");
    let defaults = toml::Value::try_from(Config::default()).expect("serialize defaults");
    assert_eq!(dotted_keys(&listed), dotted_keys(&defaults), "every non-derived key is listed once");
}

#[test]
fn template_explains_derived_keys_in_their_sections() {
    let template = read(&config_dir().join("shoal.toml"));
    let mut section = String::new();
    let mut explained = BTreeSet::new();
    for line in template.lines() {
        if let Some(header) = line.strip_prefix("# ").filter(|rest| is_section_header(rest)) {
            section = header.trim_matches(['[', ']']).to_string();
        } else if let Some((key, _)) = line.strip_prefix("## ").and_then(|rest| rest.split_once(" = ")) {
            explained.insert(format!("{section}.{key}"));
        }
    }
    for key in [
        "node.id",
        "node.advertise_addr",
        "gossip.port",
        "gossip.probe_period",
        "gossip.probe_rtt",
        "gossip.suspect_to_down_after",
        "gossip.max_packet_size",
    ] {
        assert!(explained.contains(key), "config/shoal.toml explains how `{key}` is derived");
    }
}

/// Every `.toml` file under `dir`, recursively, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(toml_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_config_file_parses_and_round_trips() {
    let files = toml_files(&config_dir());
    assert!(files.len() >= 4, "found {files:?}");
    for path in files {
        let config =
            Config::from_toml_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let printed = config.to_toml();
        let back = Config::from_toml_str(&printed)
            .unwrap_or_else(|e| panic!("{} printed: {e}\n{printed}", path.display()));
        assert_eq!(back, config.resolved(), "{}", path.display());
    }
}

#[test]
fn defaults_print_and_read_back() {
    let config = Config::default();
    let printed = config.to_toml();
    let back = Config::from_toml_str(&printed).expect("printed defaults read back");
    assert_eq!(back, config.resolved());
    assert_eq!(back.to_toml(), printed);
    assert_eq!(back.node_id(), config.node_id());
    assert_eq!(back.gossip_port(), 16380);
}

#[test]
fn local_three_node_cluster_is_consistent() {
    let dir = config_dir().join("local-3node");
    let nodes: Vec<Config> = (1..=3)
        .map(|i| Config::from_toml_str(&read(&dir.join(format!("node{i}.toml")))).expect("node file"))
        .collect();
    let mut ports = BTreeSet::new();
    for (i, node) in nodes.iter().enumerate() {
        let n = i as u16 + 1;
        assert_eq!(node.node_id(), format!("n{n}"));
        assert_eq!(node.server.port, 7000 + n);
        assert_eq!(node.peer.port, 17000 + n);
        assert_eq!(node.gossip_port(), 17000 + n);
        assert_eq!(node.metrics.port, 9100 + n);
        assert!(
            ports.insert(node.server.port) && ports.insert(node.peer.port) && ports.insert(node.metrics.port)
        );
        let expected_seeds: Vec<String> =
            if n == 1 { Vec::new() } else { vec!["127.0.0.1:17001".to_string()] };
        assert_eq!(node.cluster.seeds, expected_seeds);
    }
}
