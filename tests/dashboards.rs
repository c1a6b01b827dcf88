//! The Grafana dashboards in `dashboards/grafana/` are what a current Grafana (11) imports
//! without a question: valid JSON with a unique uid and title, schemaVersion 39, the data
//! source as a variable that every panel and query uses, panels with targets, and only
//! PromQL that Prometheus 2.42 (Debian) runs. Whether each query returns data is
//! `tests/e2e_prometheus.rs`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

/// PromQL that Prometheus 2.42 lacks (newer or experimental).
const TOO_NEW: [&str; 7] = [
    "limitk",
    "limit_ratio",
    "mad_over_time",
    "sort_by_label",
    "info(",
    "query_offset",
    "double_exponential",
];
/// The only Grafana variables the queries may use.
const VARIABLES: [&str; 5] = ["$instance", "$host", "$uplink", "$__rate_interval", "$__range"];

fn dashboards() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboards/grafana");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every panel, those inside rows included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut todo: Vec<&Value> = d["panels"].as_array().into_iter().flatten().collect();
    while let Some(p) = todo.pop() {
        todo.extend(p["panels"].as_array().into_iter().flatten());
        out.push(p);
    }
    out
}

fn uses_the_datasource_variable(v: &Value) -> bool {
    v["datasource"]["uid"] == "${datasource}" && v["datasource"]["type"] == "prometheus"
}

#[test]
fn four_dashboards_with_unique_uids_and_titles() {
    let all = dashboards();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["plumb-collector.json", "plumb-findings.json", "plumb-mtu.json", "plumb-nioc.json"]);
    let uids: BTreeSet<&str> = all.iter().filter_map(|(_, d)| d["uid"].as_str()).collect();
    let titles: BTreeSet<&str> = all.iter().filter_map(|(_, d)| d["title"].as_str()).collect();
    assert_eq!(uids.len(), 4);
    assert_eq!(titles.len(), 4);
    for (name, d) in &all {
        assert_eq!(d["schemaVersion"], 39, "{name}");
        assert!(d["uid"].as_str().is_some_and(|u| u.len() <= 40), "{name}: uid");
        assert!(d["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "plumb")), "{name}: tags");
    }
}

#[test]
fn every_panel_and_query_uses_the_datasource_variable() {
    for (name, d) in dashboards() {
        let vars = d["templating"]["list"].as_array().expect("templating.list");
        assert_eq!(vars[0]["type"], "datasource", "{name}: the first variable is the data source");
        assert_eq!(vars[0]["query"], "prometheus", "{name}");
        assert_eq!(vars[0]["name"], "datasource", "{name}");
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert!(uses_the_datasource_variable(v), "{name}: variable {}", v["name"]);
        }
        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("");
            assert!(ids.insert(p["id"].as_i64().expect("panel id")), "{name}: duplicate id at {title}");
            assert!(p["gridPos"]["w"].as_i64().is_some_and(|w| (1..=24).contains(&w)), "{name}: {title}");
            if matches!(p["type"].as_str(), Some("row" | "text")) {
                continue;
            }
            assert!(uses_the_datasource_variable(p), "{name}: panel {title}");
            let targets = p["targets"].as_array().filter(|t| !t.is_empty());
            let targets = targets.unwrap_or_else(|| panic!("{name}: panel {title} has no targets"));
            for t in targets {
                assert!(uses_the_datasource_variable(t), "{name}: {title} {}", t["refId"]);
                assert!(t["refId"].as_str().is_some(), "{name}: {title}");
                assert!(t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{name}: {title}");
            }
        }
    }
}

#[test]
fn queries_use_only_prometheus_2_42_and_known_variables() {
    for (name, d) in dashboards() {
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap_or("");
                for f in TOO_NEW {
                    assert!(!expr.contains(f), "{name}: {f} is not in Prometheus 2.42: {expr}");
                }
                let mut rest = expr;
                while let Some(i) = rest.find('$') {
                    rest = &rest[i..];
                    assert!(
                        VARIABLES.iter().any(|v| rest.starts_with(v)),
                        "{name}: unknown variable in {expr}"
                    );
                    rest = &rest[1..];
                }
                // The label matchers of a multi-value variable need a regex match.
                for v in ["$instance", "$host", "$uplink"] {
                    assert!(!expr.contains(&format!("=\"{v}\"")), "{name}: use =~ with {v}: {expr}");
                }
            }
        }
    }
}

#[test]
fn provisioning_points_at_the_dashboards() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboards/grafana/provisioning");
    let dashboards = std::fs::read_to_string(dir.join("dashboards/plumb.yml")).unwrap();
    assert!(dashboards.contains("apiVersion: 1") && dashboards.contains("type: file"), "{dashboards}");
    let sources = std::fs::read_to_string(dir.join("datasources/plumb.yml")).unwrap();
    assert!(sources.contains("apiVersion: 1") && sources.contains("type: prometheus"), "{sources}");
}
