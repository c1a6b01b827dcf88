//! plumb's dashboards and alerts against a real Prometheus (Debian's 2.42). A collector
//! with the demo topology (`dashboards/demo/plumb.toml`) is fed the incident scenario
//! (`plumb generate --scenario incident`: NIOC contention, oversize and fragmented VXLAN,
//! frag-needed, DF drops, a lost export) by `plumb replay`; Prometheus scrapes it every
//! second with the shipped rules loaded (`dashboards/demo/prometheus.yml`). Then every
//! PromQL expression of the Grafana dashboards and of the rules file is evaluated through
//! Prometheus's HTTP API:
//!
//! - each dashboard query (and each template variable's `label_values`) returns data;
//! - each alert's expression returns data in its `bool` form (comparisons with a number
//!   give 0 or 1 instead of filtering), so every metric and label it names exists;
//! - as written, the alerts of what the scenario breaks return data and are pending or
//!   firing, and those of what it leaves healthy (socket drops, sink drops, a silent
//!   exporter, failing analysis, black holes) return none.
//!
//! `promtool check metrics` passes on the scraped text. Prometheus must be installed
//! (`scripts/test.sh` installs it); the test fails without it.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{Collector, free_port, have, http_get, metric_value, run};
use serde_json::Value;

/// What the scenario breaks: these alerts' expressions must return data as written.
const BROKEN: [&str; 4] =
    ["PlumbExporterLoss", "PlumbDfDrops", "PlumbNiocContention", "PlumbReservationAtRisk"];
/// What it leaves healthy: these must return nothing as written.
const HEALTHY: [&str; 5] = [
    "PlumbSocketDrops",
    "PlumbSinkBatchesDropped",
    "PlumbExporterSilent",
    "PlumbAnalysisFailing",
    "PlumbMtuBlackhole",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Prometheus server on loopback, killed by PID when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    fn start(config: &Path, dir: &Path) -> Prometheus {
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting prometheus");
        let p = Prometheus { child, port, log };
        p.wait(30, "Prometheus to be ready", || p.get("/-/ready").is_some());
        p
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path`; the body when it answered 200.
    fn get(&self, path: &str) -> Option<String> {
        http_get(self.port, path)
    }

    fn api(&self, path: &str) -> Value {
        let body = self.get(path).unwrap_or_else(|| panic!("GET {path} failed:\n{}", self.log_text()));
        let v: Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
        assert_eq!(v["status"], "success", "{path}: {body}");
        v["data"].clone()
    }

    /// The series an instant query returns.
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let path = format!("/api/v1/query?query={}", encode(expr));
        let body = self.get(&path).ok_or_else(|| format!("no answer (is the expression valid?):\n{expr}"))?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        match v["data"]["result"].as_array() {
            Some(series) => Ok(series.clone()),
            None => Err(format!("{expr}: {body}")),
        }
    }

    fn wait(&self, secs: u64, what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encoding of a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A dashboard expression as Grafana sends it with "All" chosen in every variable.
fn as_grafana_sends(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("${instance}", ".*")
        .replace("$instance", ".*")
        .replace("${host}", ".*")
        .replace("$host", ".*")
        .replace("${uplink}", ".*")
        .replace("$uplink", ".*")
}

/// A rule's expression with `bool` after each comparison with a number, so it returns
/// every series it compares instead of those that pass.
fn with_bool(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find(['>', '<', '=', '!']) {
        let op_len = match &rest[i..] {
            r if r.starts_with(">=") || r.starts_with("<=") || r.starts_with("==") || r.starts_with("!=") => {
                2
            }
            r if r.starts_with('>') || r.starts_with('<') => 1,
            _ => {
                // `=` or `!` inside a label matcher (`=~`, `!~`, `a="b"`).
                let end = i + rest[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
                continue;
            }
        };
        let after = &rest[i + op_len..];
        let number = after.trim_start().starts_with(|c: char| c.is_ascii_digit() || c == '-');
        out.push_str(&rest[..i + op_len]);
        if number && !after.trim_start().starts_with("bool") {
            out.push_str(" bool");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Every (where, expression) of a Grafana dashboard: panel targets (rows included) and
/// query variables (`label_values(metric, label)` as the PromQL it stands for).
fn dashboard_exprs(file: &Path) -> Vec<(String, String)> {
    let d: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = d["panels"].as_array().into_iter().flatten().collect();
    while let Some(p) = panels.pop() {
        panels.extend(p["panels"].as_array().into_iter().flatten());
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((format!("{name}: panel \"{}\"", p["title"].as_str().unwrap_or("")), e.to_string()));
            }
        }
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten().filter(|v| v["type"] == "query") {
        let q = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap_or("");
        let inner = q.strip_prefix("label_values(").and_then(|r| r.strip_suffix(')'));
        let promql = match inner.and_then(|i| i.rsplit_once(',')) {
            Some((metric, label)) => format!("count by ({}) ({})", label.trim(), metric.trim()),
            None => q.to_string(),
        };
        out.push((format!("{name}: variable {}", v["name"]), promql));
    }
    out
}

#[test]
fn every_dashboard_and_rule_expression_returns_data() {
    assert!(have("prometheus"), "prometheus is missing: run scripts/test.sh, which installs it");
    let dir = tempfile::tempdir().unwrap();
    // The demo topology, with the analyzer every 3 s and a short overlap (capture
    // timeouts of 1 s), so MTU evidence is counted about 35 s after it arrives.
    let demo = std::fs::read_to_string(root().join("dashboards/demo/plumb.toml")).unwrap();
    assert!(demo.contains("interval_secs = 15"), "the demo's analyzer interval moved");
    let config = dir.path().join("plumb.toml");
    std::fs::write(
        &config,
        demo.replace("interval_secs = 15", "interval_secs = 3")
            + "\n[capture]\nidle_timeout_secs = 1\nactive_timeout_secs = 1\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let c = Collector::start_with(&data, free_port(), &["--config", config.to_str().unwrap()]);

    let demo = std::fs::read_to_string(root().join("dashboards/demo/prometheus.yml")).unwrap();
    let rules = root().join("dashboards/prometheus/plumb.rules.yml");
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        demo.replace("15s", "1s")
            .replace("127.0.0.1:9464", &format!("127.0.0.1:{}", c.metrics_port))
            .replace("../prometheus/plumb.rules.yml", rules.to_str().unwrap()),
    )
    .unwrap();
    let p = Prometheus::start(&prom_config, dir.path());
    p.wait(30, "the first scrape", || p.query("up{job=\"plumb\"} == 1").is_ok_and(|s| !s.is_empty()));

    let pcap = dir.path().join("incident.pcap");
    run(&["generate", "--scenario", "incident", "--out", pcap.to_str().unwrap()]);
    // Slow enough that Prometheus scrapes the exporter before its lost export.
    let to = format!("127.0.0.1:{}", c.port);
    run(&["replay", pcap.to_str().unwrap(), "--to", &to, "--rate", "10"]);

    let evidence = |m: &str, kind: &str| {
        m.lines().any(|l| l.starts_with(&format!("plumb_mtu_evidence_packets_total{{kind=\"{kind}\"")))
    };
    c.wait_metrics(180, "the analyzer's gauges and MTU evidence", |m| {
        metric_value(m, r#"plumb_nioc_contention{host="esx01",uplink="vmnic0"}"#) == 1.0
            && metric_value(m, r#"plumb_nioc_reservation_at_risk{class="vsan",host="esx01",uplink="vmnic0"}"#)
                == 1.0
            && ["mtu.oversize_encap", "mtu.fragmentation", "mtu.frag_needed", "mtu.df_drop"]
                .iter()
                .all(|k| evidence(m, k))
    });
    p.wait(30, "Prometheus to scrape the evidence", || {
        p.query("count(plumb_mtu_evidence_packets_total)").is_ok_and(|s| {
            s.first().and_then(|v| v["value"][1].as_str()?.parse::<f64>().ok()).is_some_and(|n| n >= 4.0)
        })
    });
    // A few more scrapes, so every rate has two samples of the newest series.
    std::thread::sleep(Duration::from_secs(3));

    let mut failures = Vec::new();
    let dashboards: Vec<PathBuf> = std::fs::read_dir(root().join("dashboards/grafana"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(dashboards.len(), 4, "{dashboards:?}");
    let mut evaluated = 0;
    for file in &dashboards {
        for (place, expr) in dashboard_exprs(file) {
            evaluated += 1;
            match p.query(&as_grafana_sends(&expr)) {
                Ok(s) if !s.is_empty() => {}
                Ok(_) => failures.push(format!("{place}: no data for\n    {expr}")),
                Err(e) => failures.push(format!("{place}: {e}")),
            }
        }
    }

    let groups = p.api("/api/v1/rules");
    let rules: Vec<&Value> =
        groups["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    let names: BTreeSet<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
    let expected: BTreeSet<&str> = BROKEN.iter().chain(&HEALTHY).copied().collect();
    assert_eq!(names, expected, "the rules Prometheus loaded are not the ones this test knows");
    for r in &rules {
        let (name, expr) = (r["name"].as_str().unwrap(), r["query"].as_str().unwrap());
        assert_eq!(r["health"], "ok", "{name}: {r}");
        evaluated += 2;
        match p.query(&with_bool(expr)) {
            Ok(s) if !s.is_empty() => {}
            Ok(_) => failures.push(format!("rule {name}: no data in its bool form\n    {}", with_bool(expr))),
            Err(e) => failures.push(format!("rule {name}: {e}")),
        }
        let fired = p.query(expr).map(|s| !s.is_empty());
        let should = BROKEN.contains(&name);
        if fired != Ok(should) {
            failures.push(format!("rule {name}: returns data {fired:?}, expected {should}\n    {expr}"));
        }
    }
    let alerts = p.api("/api/v1/alerts");
    let active: BTreeSet<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str())
        .collect();
    for name in BROKEN {
        if !active.contains(name) {
            failures.push(format!("alert {name} is neither pending nor firing: {active:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {evaluated} evaluations failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let scraped = dir.path().join("scraped.txt");
    std::fs::write(&scraped, c.metrics()).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", scraped.display()))
        .output()
        .expect("running promtool");
    assert!(out.status.success(), "promtool check metrics:\n{}", String::from_utf8_lossy(&out.stderr));
    c.stop();
}

#[test]
fn a_comparison_with_a_number_gets_bool() {
    assert_eq!(with_bool("sum(x) > 0"), "sum(x) > bool 0");
    assert_eq!(with_bool(r#"x{a=~"b|c"} == 1"#), r#"x{a=~"b|c"} == bool 1"#);
    assert_eq!(with_bool("a / clamp_min(b, 1)\n  > 0.01"), "a / clamp_min(b, 1)\n  > bool 0.01");
    assert_eq!(
        with_bool("time() - x > 300 and time() - x < 86400"),
        "time() - x > bool 300 and time() - x < bool 86400"
    );
    assert_eq!(with_bool("a > b"), "a > b");
}
