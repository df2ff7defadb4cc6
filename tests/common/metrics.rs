//! Reading Prometheus's text format and the files in `dashboards/`.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// One sample line: metric name, the label text between braces, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Sample name (a histogram's `_bucket`, `_sum`, `_count` included).
    pub name: String,
    /// `a="1",b="2"` (empty without labels).
    pub labels: String,
    /// The value.
    pub value: f64,
}

/// Every sample of a `/metrics` text.
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            Sample { name: name.to_string(), labels: labels.to_string(), value }
        })
        .collect()
}

/// The value of the sample `name` whose labels are exactly `labels`.
pub fn value(text: &str, name: &str, labels: &str) -> Option<f64> {
    samples(text).into_iter().find(|s| s.name == name && s.labels == labels).map(|s| s.value)
}

/// Sum of every sample called `name`.
pub fn sum(text: &str, name: &str) -> f64 {
    samples(text).into_iter().filter(|s| s.name == name).map(|s| s.value).sum()
}

/// The repository's `dashboards/` folder.
pub fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Every `shoal_*` name mentioned in a file of `dashboards/`.
pub fn names_in_dashboards() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dashboards_dir()).expect("dashboards/") {
        let path = entry.expect("dir entry").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        names.extend(metric_names(&text));
    }
    names
}

/// `shoal_*` metric names in a text (an expression, a file).
pub fn metric_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while let Some(found) = text[i..].find("shoal_") {
        let start = i + found;
        let mut end = start + "shoal_".len();
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase() || bytes[end].is_ascii_digit() || bytes[end] == b'_')
        {
            end += 1;
        }
        let preceded_by_word =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if end > start + "shoal_".len() && !preceded_by_word {
            names.insert(text[start..end].to_string());
        }
        i = end;
    }
    names
}

/// The expressions of every panel (rows' nested panels included) of a
/// Grafana dashboard.
pub fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<String>) {
        for panel in panels.as_array().into_iter().flatten() {
            walk(&panel["panels"], out);
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The dashboard in `dashboards/shoal.json`.
pub fn dashboard() -> serde_json::Value {
    let text = std::fs::read_to_string(dashboards_dir().join("shoal.json")).expect("dashboards/shoal.json");
    serde_json::from_str(&text).expect("dashboards/shoal.json is JSON")
}

/// The message given when Prometheus's tools are missing.
pub const PROMETHEUS_MISSING: &str = "promtool and prometheus are not installed; the metrics tests check the \
     exposition and the dashboards with them: install Debian's `prometheus` package";

/// Whether `program` runs (`program --version`).
pub fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `promtool check metrics` on `text`; the tool's output on failure.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool: {e}"))?;
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}
