//! A real Prometheus scrapes a three-node cluster under a little load:
//! every target is up, every expression of the Grafana dashboard parses
//! and returns data, and every alert rule parses, passes its unit tests,
//! names only exported metrics and stays silent on a healthy cluster.
//!
//! Needs Debian's `prometheus` package (`prometheus` and `promtool`).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use common::cluster::Cluster;
use common::metrics::{self, PROMETHEUS_MISSING};
use common::{RespConn, free_port, http_get, wait_for};

/// Generous bound for Prometheus to start, scrape and have data.
const PROMETHEUS_DEADLINE: Duration = Duration::from_secs(40);
/// What the dashboard's variables stand for here: `$__rate_interval` as
/// Grafana computes it for a 1 s scrape interval, and "All".
const VARIABLES: [(&str, &str); 3] = [("$__rate_interval", "4s"), ("$job", "shoal"), ("$instance", ".+")];

/// A Prometheus child process, killed (by its PID) when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Prometheus {
    fn start(dir: &Path, targets: &[SocketAddr]) -> Prometheus {
        let rules = metrics::dashboards_dir().join("alerts.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: ['{}']\n\
             scrape_configs:\n  - job_name: shoal\n    static_configs:\n      - targets: [{}]\n",
            rules.display(),
            targets.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write config");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus { child, addr };
        let ready = wait_for(PROMETHEUS_DEADLINE, || {
            http_get(addr, "/-/ready").ok().filter(|(status, _)| *status == 200).map(|_| ())
        });
        let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
        assert!(ready.is_some(), "prometheus did not become ready:\n{log}");
        prometheus
    }

    /// Runs an instant query; the `data` of a successful answer.
    fn query(&self, expr: &str) -> Result<serde_json::Value, String> {
        let (status, body) = http_get(self.addr, &format!("/api/v1/query?query={}", url_encode(expr)))
            .map_err(|e| e.to_string())?;
        let answer: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
        if answer["status"] == "success" { Ok(answer["data"].clone()) } else { Err(body) }
    }

    /// Whether `expr` returns at least one sample (or a scalar).
    fn has_data(&self, expr: &str) -> Result<bool, String> {
        let data = self.query(expr)?;
        Ok(data["result"].as_array().is_some_and(|r| !r.is_empty()))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A little traffic on every node until dropped: writes with and without
/// TTL, hits and misses, so that forwarding and every rate has data.
struct Load {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    fn start(nodes: Vec<SocketAddr>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut conns: Vec<RespConn> =
                nodes.iter().map(|a| RespConn::connect(*a).expect("connect")).collect();
            // Bounded: at most this many rounds, a few milliseconds apart.
            for round in 0..20_000u32 {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let conn = &mut conns[round as usize % nodes.len()];
                let key = format!("load:{}", round % 500);
                conn.call(["SET", key.as_str(), "value", "EX", "600"]).expect("SET");
                conn.call(["GET", key.as_str()]).expect("GET");
                conn.call(["GET", "load:missing"]).expect("GET");
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        Load { stop, thread: Some(thread) }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn promtool(args: &[&str], dir: &Path) {
    let out = Command::new("promtool").args(args).current_dir(dir).output().expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn substitute(expr: &str) -> String {
    VARIABLES.iter().fold(expr.to_string(), |e, (var, value)| e.replace(var, value))
}

/// The `expr:` of every rule in an alerts file (block scalars included).
fn alert_exprs(text: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else { continue };
        let indent = line.len() - line.trim_start().len();
        let rest = rest.trim();
        if rest != "|" && rest != ">-" && rest != "|-" {
            exprs.push(rest.to_string());
            continue;
        }
        let mut block = Vec::new();
        while let Some(next) = lines.peek() {
            if next.trim().is_empty() || next.len() - next.trim_start().len() > indent {
                block.push(next.trim());
                lines.next();
            } else {
                break;
            }
        }
        exprs.push(block.join(" "));
    }
    exprs
}

#[test]
fn prometheus_scrapes_the_cluster_and_every_dashboard_expression_has_data() {
    assert!(metrics::installed("prometheus") && metrics::installed("promtool"), "{PROMETHEUS_MISSING}");
    let cluster = Cluster::start_with_metrics(3);
    let _load = Load::start(cluster.running().map(|(_, n)| n.addr()).collect());
    let targets: Vec<SocketAddr> = (0..3).map(|i| cluster.metrics_addr(i)).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let prometheus = Prometheus::start(dir.path(), &targets);

    let up = wait_for(PROMETHEUS_DEADLINE, || {
        let data = prometheus.query(r#"up{job="shoal"} == 1"#).ok()?;
        (data["result"].as_array()?.len() == targets.len()).then_some(())
    });
    assert!(up.is_some(), "not every target is up: {:?}", prometheus.query("up"));

    // Every dashboard expression parses (promtool, as recording rules)...
    let exprs: Vec<String> =
        metrics::dashboard_exprs(&metrics::dashboard()).iter().map(|e| substitute(e)).collect();
    assert!(exprs.len() > 20, "the dashboard has its panels");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard_expr_{i}\n        expr: {}\n",
            serde_json::json!(expr)
        ));
    }
    std::fs::write(dir.path().join("dashboard_rules.yml"), rules).expect("write rules");
    promtool(&["check", "rules", "dashboard_rules.yml"], dir.path());
    // ... and returns data from the live cluster.
    let mut waiting: BTreeSet<&String> = exprs.iter().collect();
    wait_for(PROMETHEUS_DEADLINE, || {
        waiting.retain(|e| !prometheus.has_data(e).unwrap_or_else(|err| panic!("query {e} failed: {err}")));
        waiting.is_empty().then_some(())
    });
    assert!(waiting.is_empty(), "dashboard expressions without data: {waiting:#?}");

    // Alert rules: they parse, pass their unit tests, name exported
    // metrics only, and a healthy cluster fires none of them.
    let dashboards = metrics::dashboards_dir();
    promtool(&["check", "rules", "alerts.yml"], &dashboards);
    promtool(&["test", "rules", "alerts_test.yml"], &dashboards);
    let alerts = std::fs::read_to_string(dashboards.join("alerts.yml")).expect("alerts.yml");
    let (_, exposition) = http_get(targets[0], "/metrics").expect("scrape");
    let exported: BTreeSet<String> = metrics::samples(&exposition).into_iter().map(|s| s.name).collect();
    let unknown: Vec<String> =
        metrics::metric_names(&alerts).into_iter().filter(|n| !exported.contains(n)).collect();
    assert!(unknown.is_empty(), "alerts.yml names metrics a node does not export: {unknown:?}");
    let exprs = alert_exprs(&alerts);
    assert_eq!(exprs.len(), alerts.matches("- alert:").count(), "one expression per alert: {exprs:?}");
    for expr in &exprs {
        assert_eq!(prometheus.has_data(expr), Ok(false), "alert fires on a healthy cluster: {expr}");
    }
    let rules = prometheus.query("ALERTS").expect("ALERTS query");
    assert_eq!(rules["result"], serde_json::json!([]), "no alert pending or firing");
}
