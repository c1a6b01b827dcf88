//! `plumb analyze` on stores filled by `plumb ingest`: the ICMP frag-needed of a real SMTP
//! capture, and devices reporting DF drops (an sFlow drop notification with reason 262, an
//! IPFIX record with forwardingStatus 133) beside controls that must say nothing. The
//! kernel-made MTU scenarios are analysed in `e2e_mtu.rs`.

mod common;

use std::path::Path;
use std::process::Output;

use common::process::{Collector, metric_value, plumb, query_csv, run};

fn analyze(data: &Path) -> (Output, Vec<serde_json::Value>) {
    let out = plumb()
        .args(["analyze", "--since", "all", "--format", "json", "--data", data.to_str().unwrap()])
        .output()
        .expect("running plumb");
    let found: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out, found.as_array().unwrap().clone())
}

fn ingest(data: &Path, files: &[&Path]) {
    let mut args = vec!["ingest", "--quiet", "--exporter", "192.0.2.7", "--data", data.to_str().unwrap()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    run(&args);
}

#[test]
fn icmp_frag_needed_in_a_real_capture_names_the_hop_the_sender_and_the_mtu() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ingest(&data, &[&common::public("zeek/Traces/smtp.pcap")]);
    let (out, found) = analyze(&data);
    assert!(out.status.success(), "a warning is below the default --fail-on critical");
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!((f["kind"].as_str(), f["severity"].as_str()), (Some("mtu.frag_needed"), Some("warning")));
    assert_eq!(f["subject"], "path from 10.10.1.4 through 192.168.1.1");
    assert_eq!(f["evidence"][0]["name"], "next_hop_mtu");
    assert_eq!(f["evidence"][0]["value"], 1492.0);
    assert_eq!(f["evidence"][1]["value"], 4.0, "the capture's four messages");
}

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// An sFlow v5 datagram from 192.0.2.7 with one dropped-packet notification of `reason`:
/// a 1500-byte DF TCP packet from 10.0.0.1 to 10.0.0.2, dropped from interface 3 to 4.
fn sflow_drop(reason: u32) -> Vec<u8> {
    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    frame.extend([0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    frame.extend([0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    frame.resize(128, 0);
    let mut record = words(&[1, 1518, 4, frame.len() as u32]);
    record.extend(&frame);
    let mut body = words(&[1, 0, 3, 7, 3, 4, reason, 1, 1, record.len() as u32]);
    body.extend(&record);
    let mut d = words(&[5, 1, 0xc000_0207, 0, 1, 1000, 1, 5, body.len() as u32]);
    d.extend(&body);
    d
}

/// An IPFIX message (template and data) with one record of `forwarding_status`: 10
/// packets from 10.0.0.1 to 10.0.0.2 towards interface 4.
fn ipfix(forwarding_status: u8) -> Vec<u8> {
    let mut template = vec![0, 2, 0, 32, 1, 0, 0, 6];
    for (id, len) in [(8u16, 4u16), (12, 4), (1, 8), (2, 8), (89, 1), (14, 4)] {
        template.extend(id.to_be_bytes());
        template.extend(len.to_be_bytes());
    }
    let mut data = vec![1, 0, 0, 33, 10, 0, 0, 1, 10, 0, 0, 2];
    data.extend(15_000u64.to_be_bytes());
    data.extend(10u64.to_be_bytes());
    data.push(forwarding_status);
    data.extend(4u32.to_be_bytes());
    let mut m = vec![0, 10, 0, 0];
    m.extend(words(&[1_700_000_000, 1, 1]));
    m.extend(template);
    m.extend(data);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

fn df_drop_store(dir: &Path, reason: u32, forwarding_status: u8) -> std::path::PathBuf {
    let (sflow, ipfix_file) = (dir.join("drop.sflow"), dir.join("fwd.ipfix"));
    std::fs::write(&sflow, sflow_drop(reason)).unwrap();
    std::fs::write(&ipfix_file, ipfix(forwarding_status)).unwrap();
    let data = dir.join("data");
    ingest(&data, &[&sflow, &ipfix_file]);
    data
}

#[test]
fn devices_that_report_mtu_drops_are_df_drop_findings_and_other_drops_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = df_drop_store(dir.path(), 262, 0x85);
    let (out, found) = analyze(&data);
    assert_eq!(out.status.code(), Some(1), "critical findings fail the run");
    let rules: Vec<_> =
        found.iter().map(|f| (f["kind"].as_str().unwrap(), f["rule"].as_str().unwrap())).collect();
    assert_eq!(rules, [("mtu.df_drop", "sflow_drop"), ("mtu.df_drop", "forwarding_status")], "{found:#?}");
    let sflow = &found[0];
    assert_eq!(sflow["subject"], "device 192.0.2.7 from interface 3 to 4");
    assert!(sflow["explanation"].as_str().unwrap().contains("(pkt_too_big)"), "{sflow:#?}");
    let evidence = |f: &serde_json::Value, name: &str| {
        f["evidence"].as_array().unwrap().iter().find(|e| e["name"] == name).map(|e| e["value"].clone())
    };
    assert_eq!(evidence(sflow, "largest_ip_len"), Some(1500.0.into()));
    // One notification: the agent's running count says nothing of this window.
    assert_eq!(evidence(sflow, "suppressed"), None);
    assert_eq!(evidence(&found[1], "packets"), Some(10.0.into()));

    // Control: a host-unreachable notification and a forwarded record.
    let control = tempfile::tempdir().unwrap();
    let data = df_drop_store(control.path(), 1, 0x40);
    let (out, found) = analyze(&data);
    assert!(out.status.success() && found.is_empty(), "{found:#?}");
    let rows = common::process::query_csv(&data, "SELECT reason, count(*) FROM drops GROUP BY reason");
    assert_eq!(rows.lines().nth(1), Some("host_unreachable,1"), "the control's notification is stored");
}

#[test]
fn a_collector_fed_mtu_drops_by_replay_finds_them_and_stores_the_findings() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("drops.pcap");
    run(&["generate", "--scenario", "mtu-drops", "--out", pcap.to_str().unwrap()]);
    let config = dir.path().join("plumb.toml");
    std::fs::write(&config, "[analyzer]\ninterval_secs = 1\n").unwrap();
    let data = dir.path().join("data");
    let c =
        Collector::start_with(&data, common::process::free_port(), &["--config", config.to_str().unwrap()]);
    run(&["replay", pcap.to_str().unwrap(), "--to", &format!("127.0.0.1:{}", c.port)]);
    let series = r#"plumb_findings_total{kind="mtu.df_drop",severity="critical"}"#;
    c.wait_metrics(60, "the analyzer's two df_drop findings", |m| metric_value(m, series) >= 2.0);
    c.stop();
    let rows = query_csv(
        &data,
        "SELECT rule, subject, evidence FROM findings WHERE kind = 'mtu.df_drop' ORDER BY rule, time_received",
    );
    let lines: Vec<&str> = rows.lines().collect();
    // Replayed from loopback: the sFlow agent is the address in its datagrams, the IPFIX
    // exporter the replay's 127.0.0.N.
    assert_eq!(lines.len(), 3, "one finding each, not one per analysis run: {rows}");
    assert!(lines[1].starts_with("forwarding_status,device 127.0.0."), "{rows}");
    assert!(lines[1].ends_with(r#" towards interface 4,"{""packets"":100.0}""#), "{rows}");
    assert_eq!(
        lines[2],
        r#"sflow_drop,device 192.0.2.21 from interface 3 to 4,"{""largest_ip_len"":1500.0,""packets"":10.0,""suppressed"":27.0}""#
    );
}
