//! NIOC contention through the whole path: IPFIX records of vMotion and VM traffic leaving
//! one 10 GbE uplink, minute after minute, through `plumb ingest` (classified by VLAN on the
//! way into the store, summed into `interfaces_1m`), then `plumb analyze`: near line rate
//! for five minutes is `nioc.contention` naming the uplink, the share-bound classes and
//! their measured and entitled rates; the same traffic at half the rate says nothing.

mod common;

use std::path::Path;

use common::process::{Collector, metric_value, plumb, query_csv, run};

const TOPOLOGY: &str = r#"
[topology]
[[topology.switches]]
name = "dvs-prod"
kind = "vds"
mtu = 9000

[[topology.uplinks]]
name = "vmnic0"
host = "esx01"
switch = "dvs-prod"
speed_mbps = 10000
exporter = "192.0.2.7"
if_index = 1

[[topology.port_groups]]
name = "vMotion"
switch = "dvs-prod"
vlan = 20
mtu = 9000
traffic = "vmotion"

[[topology.port_groups]]
name = "VM Network"
switch = "dvs-prod"
vlan = 40
mtu = 1500
traffic = "virtualMachine"

[[topology.nioc]]
switch = "dvs-prod"
[[topology.nioc.traffic]]
class = "management"
shares = "high"
reservation_mbps = 1000
[[topology.nioc.traffic]]
class = "vmotion"
shares = "high"
reservation_mbps = 2000
[[topology.nioc.traffic]]
class = "vsan"
shares = "high"
reservation_mbps = 3000
[[topology.nioc.traffic]]
class = "virtualMachine"
shares = "normal"
"#;

/// IPFIX field (id, length) of the records below.
const FIELDS: [(u16, u16); 11] =
    [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (58, 2), (14, 4), (1, 8), (2, 8), (152, 8), (153, 8)];

/// One IPFIX message: the template and a record per (vlan, dst_port, IP bytes) for the
/// minute starting at `start_ms`, all leaving interface 1.
fn message(start_ms: u64, seq: u32, flows: &[(u16, u16, u64)]) -> Vec<u8> {
    let mut template = vec![0, 2, 0, 0, 1, 0, 0, FIELDS.len() as u8];
    for (id, len) in FIELDS {
        template.extend(id.to_be_bytes());
        template.extend(len.to_be_bytes());
    }
    let tl = template.len() as u16;
    template[2..4].copy_from_slice(&tl.to_be_bytes());
    let mut data = vec![1, 0, 0, 0];
    for (host, &(vlan, port, bytes)) in (1u8..).zip(flows) {
        data.extend([10, 0, vlan as u8, host, 10, 0, vlan as u8, 200, 6]);
        data.extend(40_000u16.to_be_bytes());
        data.extend(port.to_be_bytes());
        data.extend(vlan.to_be_bytes());
        data.extend(1u32.to_be_bytes());
        data.extend(bytes.to_be_bytes());
        data.extend((bytes / 1500).to_be_bytes());
        data.extend(start_ms.to_be_bytes());
        data.extend((start_ms + 59_999).to_be_bytes());
    }
    let dl = data.len() as u16;
    data[2..4].copy_from_slice(&dl.to_be_bytes());
    let mut m = vec![0, 10, 0, 0];
    m.extend(((start_ms / 1000 + 60) as u32).to_be_bytes());
    m.extend(seq.to_be_bytes());
    m.extend(1u32.to_be_bytes());
    m.extend(template);
    m.extend(data);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// The start of the minute ten minutes ago, in ms since the epoch.
fn ten_minutes_ago_ms() -> u64 {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    (now_ms / 60_000 - 10) * 60_000
}

/// The two classes of minute `m` at `scale` of 6.5 and 3.3 Gbps.
fn load(scale: f64) -> [(u16, u16, u64); 2] {
    [(20, 8000, minute_bytes(6.5 * scale)), (40, 443, minute_bytes(3.3 * scale))]
}

/// IP bytes in a minute at `gbps` on the wire (each 1500-byte packet carries 18 more).
fn minute_bytes(gbps: f64) -> u64 {
    (gbps * 1e9 * 60.0 / 8.0 / (1.0 + 18.0 / 1500.0)) as u64
}

/// Five minutes of vMotion and VM traffic at `scale` of 6.5 and 3.3 Gbps, ingested with
/// the topology above; returns `plumb analyze`'s JSON findings and its exit code.
fn analyze_load(dir: &Path, scale: f64) -> (Vec<serde_json::Value>, Option<i32>) {
    let config = dir.join("plumb.toml");
    std::fs::write(&config, TOPOLOGY).unwrap();
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let first = (now_ms / 60_000 - 10) * 60_000;
    let data = dir.join("data");
    let mut args = vec!["ingest".to_string(), "--quiet".into(), "--exporter".into(), "192.0.2.7".into()];
    args.extend([
        "--config".into(),
        config.to_str().unwrap().into(),
        "--data".into(),
        data.to_str().unwrap().into(),
    ]);
    for m in 0..5u64 {
        let file = dir.join(format!("minute{m}.ipfix"));
        std::fs::write(&file, message(first + m * 60_000, m as u32, &load(scale))).unwrap();
        args.push(file.to_str().unwrap().into());
    }
    run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = plumb()
        .args(["analyze", "--since", "all", "--format", "json", "--config", config.to_str().unwrap()])
        .args(["--data", data.to_str().unwrap()])
        .output()
        .expect("running plumb analyze");
    let found: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (found.as_array().unwrap().clone(), out.status.code())
}

fn evidence(f: &serde_json::Value, name: &str) -> f64 {
    let e = f["evidence"].as_array().unwrap().iter().find(|e| e["name"] == name);
    e.unwrap_or_else(|| panic!("no {name} in {f:#?}"))["value"].as_f64().unwrap()
}

#[test]
fn vmotion_and_vm_traffic_saturating_a_10_gbe_uplink_is_contention_and_half_of_it_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (found, code) = analyze_load(dir.path(), 1.0);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!((f["kind"].as_str(), f["severity"].as_str()), (Some("nioc.contention"), Some("warning")));
    assert_eq!(code, Some(0), "a warning passes the default --fail-on critical");
    assert_eq!(f["subject"], "uplink esx01/vmnic0");
    assert_eq!(evidence(f, "minutes_in_contention"), 5.0);
    assert!((evidence(f, "utilisation_ratio") - 0.98).abs() < 0.005, "{f:#?}");
    // Measured on the wire, within a rounding of the rates sent.
    assert!((evidence(f, "vmotion_measured_bps") / 1e9 - 6.5).abs() < 0.01, "{f:#?}");
    assert!((evidence(f, "virtualMachine_measured_bps") / 1e9 - 3.3).abs() < 0.01, "{f:#?}");
    // High 100 against Normal 50 share 10 Gbps as 6.67 and 3.33.
    assert!((evidence(f, "vmotion_entitled_bps") / 1e9 - 6.667).abs() < 0.001, "{f:#?}");
    assert!((evidence(f, "virtualMachine_entitled_bps") / 1e9 - 3.333).abs() < 0.001, "{f:#?}");
    let text = f["explanation"].as_str().unwrap();
    assert!(text.contains("NIOC holds back vmotion and virtualMachine"), "{text}");

    let calm = tempfile::tempdir().unwrap();
    let (found, code) = analyze_load(calm.path(), 0.5);
    assert!(found.is_empty() && code == Some(0), "{found:#?}");
}

#[test]
fn the_collector_finds_the_contention_itself_and_stores_the_finding() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plumb.toml");
    // The exporter is this test, on loopback; the analyzer runs every second.
    let topology = TOPOLOGY.replace("192.0.2.7", "127.0.0.1");
    std::fs::write(&config, format!("[analyzer]\ninterval_secs = 1\nlookback_secs = 3600\n{topology}"))
        .unwrap();
    let data = dir.path().join("data");
    let c =
        Collector::start_with(&data, common::process::free_port(), &["--config", config.to_str().unwrap()]);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let first = ten_minutes_ago_ms();
    for m in 0..5u64 {
        socket.send_to(&message(first + m * 60_000, m as u32, &load(1.0)), ("127.0.0.1", c.port)).unwrap();
    }
    let series = r#"plumb_findings_total{kind="nioc.contention",severity="warning"}"#;
    let m = c.wait_metrics(60, "the analyzer's contention finding", |m| metric_value(m, series) >= 1.0);
    // The gauges dashboards read: the uplink's last whole minute with traffic.
    let uplink = r#"{host="esx01",uplink="vmnic0"}"#;
    assert_eq!(metric_value(&m, &format!("plumb_nioc_contention{uplink}")), 1.0, "{m}");
    assert!(
        (metric_value(&m, &format!("plumb_uplink_utilization_ratio{uplink}")) - 0.98).abs() < 0.005,
        "{m}"
    );
    let class = |name: &str, class: &str| {
        // Prometheus writes labels in name order.
        metric_value(&m, &format!(r#"{name}{{class="{class}",host="esx01",uplink="vmnic0"}}"#))
    };
    assert!(
        (8.0 * class("plumb_nioc_class_throughput_bytes_per_second", "vmotion") / 1e9 - 6.5).abs() < 0.01,
        "{m}"
    );
    assert!(
        (8.0 * class("plumb_nioc_class_entitlement_bytes_per_second", "virtualMachine") / 1e9 - 3.333).abs()
            < 0.001,
        "{m}"
    );
    let state = r#"plumb_nioc_class_state{class="vmotion",host="esx01",state="share_bound",uplink="vmnic0"}"#;
    assert_eq!(metric_value(&m, state), 1.0, "{m}");
    c.stop();
    let rows = query_csv(
        &data,
        "SELECT kind, subject, severity, evidence LIKE '%vmotion_entitled_bps%' AS e FROM findings",
    );
    assert_eq!(
        rows, "kind,subject,severity,e\nnioc.contention,uplink esx01/vmnic0,warning,true\n",
        "one finding: the same evidence is not written again"
    );
}
