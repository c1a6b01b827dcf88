//! `plumb replay` into a running `plumb collect`, against `plumb ingest` of the same file,
//! and `--rewrite-sequence`: a looped file that looks like one live exporter.

mod common;

use common::process::{self, Collector};

/// The flow-export rows of a store (a capture's other packets are `pcap` rows, which only
/// `plumb ingest` makes). An sFlow sample's only time is when it arrived (the capture's
/// time in ingest, the clock in collect), so its rows are compared without times.
fn export_rows(data: &std::path::Path) -> String {
    process::query_csv(
        data,
        "SELECT source_kind, count(*) AS n, sum(bytes) AS bytes, sum(packets) AS packets, \
         CASE WHEN source_kind = 'sflow' THEN NULL ELSE min(flow_start) END AS first, \
         CASE WHEN source_kind = 'sflow' THEN NULL ELSE max(flow_end) END AS last, \
         count(DISTINCT src_addr) AS sources, count(DISTINCT tunnel_src_port) AS tunnel_ports \
         FROM flows WHERE source_kind <> 'pcap' GROUP BY 1 ORDER BY 1",
    )
}

#[test]
fn replay_into_collect_stores_what_ingest_stores() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = common::ovs("ovs-export.pcap");
    let ingested = dir.path().join("ingested");
    process::run(&["ingest", "--quiet", "--data", ingested.to_str().unwrap(), pcap.to_str().unwrap()]);

    let c = Collector::start(&dir.path().join("collected"));
    process::run(&["replay", pcap.to_str().unwrap(), "--to", &format!("127.0.0.1:{}", c.port)]);
    c.wait_metrics(30, "rows committed", |m| {
        process::metric_value(m, "plumb_store_rows_written_total{table=\"flows\"}") >= 873.0
    });
    let data = c.data.clone();
    c.stop();
    let (replayed, direct) = (export_rows(&data), export_rows(&ingested));
    assert!(direct.lines().count() >= 3, "{direct}");
    assert_eq!(replayed, direct);
}

/// Sequence loss and resets a collector counted for `loops` of the capture.
fn sequence_counts(loops: &str, rewrite: bool) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("store"));
    let pcap = common::ovs("ovs-export.pcap");
    let to = format!("127.0.0.1:{}", c.port);
    let mut args = vec!["replay", pcap.to_str().unwrap(), "--to", &to, "--loop", loops];
    if rewrite {
        args.push("--rewrite-sequence");
    }
    process::run(&args);
    // 72 IPFIX, 16 NetFlow v5 and 785 sFlow rows a loop.
    let expect = 873.0 * loops.parse::<f64>().unwrap();
    c.wait_metrics(30, "every record", |m| process::sum_metric(m, "plumb_flow_records_total") >= expect);
    // Loss and resets are published once a second, after the records: wait for the next.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let m = c.metrics();
    let counts = (
        process::sum_metric(&m, "plumb_flow_records_total"),
        process::sum_metric(&m, "plumb_sequence_lost_total"),
        process::sum_metric(&m, "plumb_sequence_resets_total"),
    );
    c.stop();
    counts
}

#[test]
fn rewrite_sequence_makes_a_looped_file_one_live_stream() {
    // The capture itself misses 1,068 of the sFlow agent's datagrams (it was trimmed).
    let (once_records, once_lost, once_resets) = sequence_counts("1", false);
    assert_eq!((once_records, once_lost, once_resets), (873.0, 1068.0, 0.0));
    // Looped as it is, every loop starts the numbers over: the collector sees restarts.
    let (_, _, resets) = sequence_counts("3", false);
    assert!(resets >= 2.0, "{resets} resets");
    // Rewritten, the three loops are one stream: no loss but the file's own, nothing
    // restarted.
    assert_eq!(sequence_counts("3", true), (2619.0, 3.0 * 1068.0, 0.0));
}
