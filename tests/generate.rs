//! `plumb generate` end to end: the same seed writes the same capture, and a generated day
//! sent through a running collector lands in the 24 hours of its date with its shape
//! (daily curve, heavy hitters, IPv6 share).

mod common;

use common::process::{self, Collector};

const FLOWS: u64 = 120_000;

fn generate(dir: &std::path::Path, name: &str, seed: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    let text = process::generate(&out, FLOWS, seed);
    assert!(text.contains(&format!("wrote {FLOWS} flows")), "{text}");
    out
}

fn query(data: &std::path::Path, sql: &str) -> String {
    process::query_csv(data, sql)
}

#[test]
fn a_generated_day_goes_through_the_collector_into_its_hours() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate(dir.path(), "a.pcap", "7");
    let b = generate(dir.path(), "b.pcap", "7");
    let c = generate(dir.path(), "c.pcap", "8");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "same seed, same file");
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());

    let data = dir.path().join("store");
    let collector = Collector::start(&data);
    let to = format!("127.0.0.1:{}", collector.port);
    let sent = process::run(&["replay", a.to_str().unwrap(), "--to", &to, "--rate", "20000"]);
    assert!(sent.contains(&format!("({FLOWS} flow records")), "{sent}");
    collector.wait_metrics(60, "every flow stored", |m| {
        process::sum_metric(m, "plumb_store_rows_written_total") >= FLOWS as f64
    });
    collector.stop();

    assert_eq!(
        query(
            &data,
            "SELECT count(*) AS n, count(DISTINCT hour) AS hours, min(date) AS first, max(date) AS last FROM flows"
        ),
        format!("n,hours,first,last\n{FLOWS},24,2025-03-03,2025-03-03\n")
    );
    let number = |sql: &str| query(&data, sql).lines().nth(1).unwrap().parse::<f64>().unwrap();
    let v6 =
        number("SELECT avg(CASE WHEN CAST(src_addr AS VARCHAR) LIKE '%:%' THEN 1.0 ELSE 0.0 END) FROM flows");
    assert!((0.07..0.11).contains(&v6), "IPv6 share {v6}");
    let busiest_over_quietest = number(
        "SELECT max(n) / min(n) FROM (SELECT hour, CAST(count(*) AS DOUBLE) AS n FROM flows GROUP BY hour)",
    );
    assert!(busiest_over_quietest > 4.0, "daily curve {busiest_over_quietest}");
    let top_source_share = number(&format!(
        "SELECT CAST(max(n) AS DOUBLE) / {FLOWS} FROM (SELECT src_addr, count(*) AS n FROM flows GROUP BY src_addr)"
    ));
    assert!(top_source_share > 0.01, "heaviest source {top_source_share}");
    assert_eq!(query(&data, "SELECT count(DISTINCT exporter) AS n FROM flows"), "n\n4\n");

    // The same day straight into a store that flushes every 50,000 rows: every flush
    // counts in what ingest reports.
    let config = dir.path().join("plumb.toml");
    std::fs::write(&config, "[store]\nmax_buffered_rows = 50000\n").unwrap();
    let store = dir.path().join("ingested");
    let text = process::run(&[
        "ingest",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--data",
        store.to_str().unwrap(),
        c.to_str().unwrap(),
    ]);
    assert!(text.contains(&format!("{FLOWS} flow records, {FLOWS} rows in ")), "{text}");
    assert_eq!(query(&store, "SELECT count(*) AS n FROM flows"), format!("n\n{FLOWS}\n"));
}
