//! Tests of loading: precedence of the layers, errors naming key and origin,
//! derived values, and agreement between the schema list and the structs.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use super::*;

/// Environment pairs from string literals.
fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Flags parsed from arguments (without the program name).
fn flags(args: &[&str]) -> Flags {
    Flags::parse_from(std::iter::once("shoal").chain(args.iter().copied()))
}

/// A temporary config file holding `text`.
fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write temp file");
    f
}

#[test]
fn no_layers_give_the_defaults() {
    let config = Config::load(&Flags::default(), env(&[])).expect("load");
    assert_eq!(config, Config::default());
    assert_eq!(config.server.port, 6380);
    assert_eq!(config.store.maxmemory, ByteSize::b(0));
    assert_eq!(config.server.proto_max_bulk_len.as_u64(), 512 << 20);
    assert_eq!(config.peer.max_frame_bytes, ByteSize::mb(520));
    assert_eq!(config.cluster.bootstrap_timeout.as_duration(), std::time::Duration::from_secs(30));
    assert_eq!(config.store.maxmemory_policy, MaxmemoryPolicy::NoEviction);
    assert_eq!(config.gossip.profile, GossipProfile::Lan);
    assert_eq!(config.gossip_port(), 16380);
}

#[test]
fn precedence_is_default_file_env_flags() {
    let f = file("[server]\nport = 7000\nmaxclients = 50\n[store]\nmaxmemory = \"1gb\"\n");
    let path = f.path().to_str().expect("utf-8 temp path");

    let file_only = Config::load(&flags(&["--config", path]), env(&[])).expect("file");
    assert_eq!(file_only.server.port, 7000);
    assert_eq!(file_only.server.maxclients, 50);
    assert_eq!(file_only.store.maxmemory, ByteSize::b(1 << 30));

    let vars = env(&[("SHOAL_SERVER__PORT", "7100"), ("SHOAL_STORE__MAXMEMORY", "64mb")]);
    let with_env = Config::load(&flags(&["--config", path]), vars.clone()).expect("env");
    assert_eq!(with_env.server.port, 7100);
    assert_eq!(with_env.server.maxclients, 50, "file value kept");
    assert_eq!(with_env.store.maxmemory, ByteSize::mb(64));

    let with_flags = Config::load(&flags(&["--config", path, "--port", "7200"]), vars).expect("flags");
    assert_eq!(with_flags.server.port, 7200);
    assert_eq!(with_flags.store.maxmemory, ByteSize::mb(64), "env value kept");
    assert_eq!(with_flags.server.maxclients, 50, "file value kept");
}

#[test]
fn env_is_case_insensitive_and_typed_by_key() {
    let config = Config::load(
        &Flags::default(),
        env(&[
            ("SHOAL_cluster__Seeds", "a:1, b:2"),
            ("SHOAL_SERVER__REQUIREPASS", "12345"),
            ("SHOAL_NODE__ID", "7"),
            ("SHOAL_STORE__MAXMEMORY_POLICY", "allkeys-lru"),
            ("SHOAL_PEER__REQUEST_TIMEOUT", "500ms"),
            ("SHOAL_SERVER__TIMEOUT", "60"),
        ]),
    )
    .expect("load");
    assert_eq!(config.cluster.seeds, ["a:1", "b:2"]);
    assert_eq!(config.server.requirepass, "12345");
    assert_eq!(config.node_id(), "7");
    assert_eq!(config.store.maxmemory_policy, MaxmemoryPolicy::AllkeysLru);
    assert_eq!(config.peer.request_timeout, ConfigDuration::from_millis(500));
    assert_eq!(config.server.timeout, 60);
}

#[test]
fn other_shoal_variables_are_ignored() {
    let vars = env(&[("SHOAL_FOO", "1"), ("SHOAL_", "x"), ("PATH", "/bin"), ("shoal_store__nope", "1")]);
    assert_eq!(Config::load(&Flags::default(), vars).expect("load"), Config::default());
}

#[test]
fn unknown_env_key_names_the_variable() {
    let err = Config::load(&Flags::default(), env(&[("SHOAL_STORE__NOPE", "1")])).expect_err("unknown key");
    assert!(matches!(&err, ConfigError::UnknownEnv { var } if var == "SHOAL_STORE__NOPE"));
    assert!(err.to_string().contains("SHOAL_STORE__NOPE"), "{err}");
    let err =
        Config::load(&Flags::default(), env(&[("SHOAL_NOPE__PORT", "1")])).expect_err("unknown section");
    assert!(err.to_string().contains("SHOAL_NOPE__PORT"), "{err}");
}

#[test]
fn duplicate_env_keys_are_refused() {
    let vars = env(&[("SHOAL_SERVER__PORT", "1"), ("SHOAL_server__port", "2")]);
    let err = Config::load(&Flags::default(), vars).expect_err("duplicate");
    assert!(matches!(err, ConfigError::DuplicateEnv { .. }), "{err}");
}

#[test]
fn unknown_file_key_names_key_and_file() {
    let f = file("[store]\nmaxmemory = \"1mb\"\nnope = 1\n");
    let path = f.path().to_path_buf();
    let err = Config::load(&flags(&["--config", path.to_str().expect("utf-8")]), env(&[]))
        .expect_err("unknown key");
    assert!(
        matches!(&err, ConfigError::UnknownKey { key, origin: Origin::File(p) } if key == "store.nope" && *p == path),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("store.nope") && text.contains(&path.display().to_string()), "{text}");

    let err = Config::from_toml_str("[nope]\nx = 1\n").expect_err("unknown section");
    assert!(matches!(&err, ConfigError::UnknownSection { section, .. } if section == "nope"));
    let err = Config::from_toml_str("port = 1\n").expect_err("key outside a section");
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "port"));
}

#[test]
fn bad_values_name_key_and_origin() {
    let err = Config::from_toml_str("[server]\nport = 70000\n").expect_err("port range");
    assert!(
        matches!(&err, ConfigError::InvalidValue { key, origin: Origin::Text, .. } if key == "server.port")
    );

    let err =
        Config::load(&Flags::default(), env(&[("SHOAL_STORE__MAXMEMORY", "64xb")])).expect_err("bad size");
    assert!(
        matches!(&err, ConfigError::InvalidValue { key, origin: Origin::Env(var), .. }
            if key == "store.maxmemory" && var == "SHOAL_STORE__MAXMEMORY"),
        "{err:?}"
    );
    assert!(err.to_string().contains("64xb"), "{err}");

    let err = Config::load(&flags(&["--maxmemory", "lots"]), env(&[])).expect_err("bad flag");
    assert!(matches!(&err, ConfigError::InvalidValue { origin: Origin::Flag("--maxmemory"), .. }), "{err:?}");

    let err = Config::load(&flags(&["--gossip-profile", "lan2"]), env(&[])).expect_err("bad enum");
    assert!(err.to_string().contains("gossip.profile"), "{err}");

    let err = Config::load(&Flags::default(), env(&[("SHOAL_SERVER__PORT", "x")])).expect_err("int");
    assert!(err.to_string().contains("SHOAL_SERVER__PORT"), "{err}");

    let err = Config::from_toml_str("[ring]\nvnodes = 0\n").expect_err("range");
    assert!(matches!(&err, ConfigError::InvalidValue { key, .. } if key == "ring.vnodes"));

    let err = Config::load(&flags(&["--port", "16380"]), env(&[])).expect_err("port clash");
    assert!(
        matches!(&err, ConfigError::InvalidValue { key, origin: Origin::Flag("--port"), .. } if key == "server.port"),
        "the key set last is blamed: {err:?}"
    );
    let err = Config::from_toml_str("[peer]\nport = 6380\n").expect_err("port clash");
    assert!(
        matches!(&err, ConfigError::InvalidValue { key, origin: Origin::Text, .. } if key == "peer.port"),
        "{err:?}"
    );

    let err = Config::from_toml_str("[server\n").expect_err("syntax");
    assert!(matches!(err, ConfigError::Syntax { .. }));

    let missing = PathBuf::from("/nonexistent/shoal.toml");
    let err = Config::load(&flags(&["--config", "/nonexistent/shoal.toml"]), env(&[])).expect_err("read");
    assert!(matches!(&err, ConfigError::Read { path, .. } if *path == missing));
}

#[test]
fn derived_values() {
    let mut config = Config::default();
    assert!(config.node_id().ends_with("-6380"), "{}", config.node_id());
    assert_eq!(config.advertise_addr(), "127.0.0.1".parse::<std::net::IpAddr>().expect("ip"));
    config.node.bind = "0.0.0.0".parse().expect("ip");
    assert!(!config.advertise_addr().is_unspecified());

    let config = Config::load(&flags(&["--peer-port", "17005"]), env(&[])).expect("load");
    assert_eq!(config.gossip_port(), 17005, "gossip follows the effective peer port");
    let config = Config::load(
        &flags(&["--peer-port", "17005", "--gossip-port", "17006", "--node-id", "n9"]),
        env(&[]),
    )
    .expect("load");
    assert_eq!(config.gossip_port(), 17006);
    assert_eq!(config.node_id(), "n9");
}

#[test]
fn to_toml_fills_derived_values_and_reads_back() {
    let mut config = Config::default();
    config.cluster.seeds = vec!["127.0.0.1:17001".into()];
    config.gossip.probe_period = Some(ConfigDuration::from_millis(1500));
    config.gossip.max_packet_size = Some(ByteSize::b(1400));
    let text = config.to_toml();
    assert!(text.contains("[node]\nid = "), "{text}");
    assert!(text.contains("advertise_addr = "), "{text}");
    assert!(text.contains("probe_period = \"1500ms\""), "{text}");
    let back = Config::from_toml_str(&text).expect("reads back");
    assert_eq!(back, config.resolved());
    assert_eq!(back.to_toml(), text);
}

/// A config with every optional key set, so serializing it shows every key.
fn every_key_set() -> Config {
    let mut config = Config::default().resolved();
    config.gossip.probe_period = Some(ConfigDuration::from_secs(1));
    config.gossip.probe_rtt = Some(ConfigDuration::from_millis(500));
    config.gossip.suspect_to_down_after = Some(ConfigDuration::from_secs(3));
    config.gossip.max_packet_size = Some(ByteSize::b(1400));
    config
}

#[test]
fn schema_list_matches_the_structs() {
    let value = toml::Value::try_from(every_key_set()).expect("serialize");
    let mut from_structs = Vec::new();
    for (section, body) in value.as_table().expect("table") {
        for name in body.as_table().expect("section table").keys() {
            from_structs.push(format!("{section}.{name}"));
        }
    }
    let mut from_schema: Vec<String> = schema::KEYS.iter().map(|k| k.dotted()).collect();
    from_structs.sort();
    from_schema.sort();
    assert_eq!(from_structs, from_schema);
}

#[test]
fn every_key_is_settable_from_the_environment() {
    let resolved = every_key_set();
    let value = toml::Value::try_from(&resolved).expect("serialize");
    let mut vars = Vec::new();
    for key in schema::KEYS {
        let v = &value[key.section][key.name];
        let text = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Array(items) => {
                items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(",")
            }
            other => panic!("unexpected value {other}"),
        };
        let name = format!("SHOAL_{}__{}", key.section.to_uppercase(), key.name.to_uppercase());
        vars.push((name, text));
    }
    let loaded = Config::load(&Flags::default(), vars).expect("every key from env");
    assert_eq!(loaded, resolved);
}
