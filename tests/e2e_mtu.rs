//! MTU problems made with the real kernel (`tests/mtu/lab.sh`: network namespaces, veth,
//! a kernel VXLAN tunnel with DF set, iperf3 and ping, tcpdump on the sender's underlay),
//! then `plumb ingest` of the capture: the `flows` rows must show what a user needs to see
//! the problem, `plumb analyze` must name it, and the control layouts must show none of it. The same lab checks live
//! capture (`plumb collect --interface`) against the capture file. Where namespaces cannot
//! be made here the tests report a skip (a failure under `PLUMB_REQUIRE_ALL=1`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::process;
use common::skip::skip;

/// Runs a lab scenario; `None` (after reporting the skip) when it cannot be made here.
fn lab(test: &str, scenario: &str, dir: &Path) -> Option<PathBuf> {
    lab_with(test, scenario, dir, false)
}

/// With `live`, `plumb collect --interface` captures the same link into `DIR/live`.
fn lab_with(test: &str, scenario: &str, dir: &Path, live: bool) -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mtu/lab.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(script).arg(scenario).arg(dir);
    if live {
        cmd.env("PLUMB_LIVE", env!("CARGO_BIN_EXE_plumb"));
    }
    let out = cmd.output().expect("running lab.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(3) {
        skip(
            test,
            &format!("the MTU lab cannot be made here: {}", stdout.trim().trim_start_matches("SKIP: ")),
        );
        return None;
    }
    assert!(
        out.status.success(),
        "lab.sh {scenario} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dir.join("capture.pcap"))
}

/// `plumb analyze` of the store `evidence` filled: each finding's kind, subject and evidence.
fn findings(dir: &Path) -> Vec<serde_json::Value> {
    let data = dir.join("store");
    let out = process::plumb()
        .args(["analyze", "--since", "all", "--format", "json", "--data", data.to_str().unwrap()])
        .output()
        .expect("running plumb analyze");
    let found: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    found.as_array().unwrap().clone()
}

fn kinds(found: &[serde_json::Value]) -> Vec<&str> {
    let mut k: Vec<&str> = found.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    k.sort();
    k
}

fn evidence(f: &serde_json::Value, name: &str) -> Option<f64> {
    f["evidence"].as_array()?.iter().find(|e| e["name"] == name)?["value"].as_f64()
}

/// The capture's packet flows, summed over the VXLAN ones and over the ICMP frag-needed.
#[derive(Debug)]
struct Evidence {
    /// Of the inner TCP flows (iperf3's).
    tcp_max_ip_len: u64,
    max_ip_len: u64,
    max_inner_ip_len: u64,
    df_packets: u64,
    full_size_retransmits: u64,
    inner_tcp_bytes: u64,
    frag_needed: u64,
    icmp_mtu: Option<u64>,
    traffic: String,
}

fn flow_evidence(dir: &Path, capture: &Path) -> Evidence {
    let data = dir.join("store");
    process::run(&["ingest", "--quiet", "--data", data.to_str().unwrap(), capture.to_str().unwrap()]);
    let vx = process::query_csv(
        &data,
        "SELECT max(max_ip_len), max(max_inner_ip_len), sum(df_packets), sum(full_size_retransmits), \
         sum(CASE WHEN inner_protocol = 6 THEN bytes ELSE 0 END), \
         max(CASE WHEN inner_protocol = 6 THEN max_ip_len END) \
         FROM flows WHERE source_kind = 'pcap' AND tunnel_type = 'vxlan'",
    );
    let icmp = process::query_csv(
        &data,
        "SELECT count(*), min(icmp_mtu) FROM flows WHERE source_kind = 'pcap' AND icmp_type = 3 AND icmp_code = 4",
    );
    let nums = |csv: &str| -> Vec<Option<u64>> {
        csv.lines().nth(1).unwrap_or("").split(',').map(|v| v.trim().parse().ok()).collect()
    };
    let (v, i) = (nums(&vx), nums(&icmp));
    let at = |row: &[Option<u64>], k: usize| row.get(k).copied().flatten().unwrap_or(0);
    Evidence {
        tcp_max_ip_len: at(&v, 5),
        max_ip_len: at(&v, 0),
        max_inner_ip_len: at(&v, 1),
        df_packets: at(&v, 2),
        full_size_retransmits: at(&v, 3),
        inner_tcp_bytes: at(&v, 4),
        frag_needed: at(&i, 0),
        icmp_mtu: i.get(1).copied().flatten(),
        traffic: std::fs::read_to_string(dir.join("traffic.log")).unwrap_or_default(),
    }
}

#[test]
fn an_l2_mtu_drop_shows_oversize_df_vxlan_packets_retransmitted_without_icmp() {
    let test = "an_l2_mtu_drop_shows_oversize_df_vxlan_packets_retransmitted_without_icmp";
    let dir = tempfile::tempdir().unwrap();
    let Some(capture) = lab(test, "l2-drop", dir.path()) else { return };
    let e = flow_evidence(dir.path(), &capture);
    assert_eq!((e.max_ip_len, e.max_inner_ip_len), (1550, 1500), "{e:#?}");
    assert!(e.df_packets > 0 && e.full_size_retransmits >= 2, "{e:#?}");
    assert_eq!(e.frag_needed, 0, "{e:#?}");
    assert!(e.traffic.contains("iperf3: did not complete"), "{e:#?}");
    // The analyzer names the overlay (VXLAN on 4789 over 1500 in the reference topology),
    // the gap, and the stalled TCP inside it.
    let found = findings(dir.path());
    assert_eq!(kinds(&found), ["mtu.blackhole", "mtu.oversize_encap"], "{found:#?}");
    let encap = found.iter().find(|f| f["kind"] == "mtu.oversize_encap").unwrap();
    assert!(encap["subject"].as_str().unwrap().starts_with("overlay neutron-tenant from "), "{encap:#?}");
    assert_eq!((evidence(encap, "outer_ip_len"), evidence(encap, "gap_bytes")), (Some(1550.0), Some(50.0)));

    let control = tempfile::tempdir().unwrap();
    let Some(capture) = lab(test, "l2-control", control.path()) else { return };
    let c = flow_evidence(control.path(), &capture);
    assert_eq!((c.max_ip_len, c.max_inner_ip_len), (1500, 1450), "{c:#?}");
    // Retransmissions may happen here too (a burst overruns veth's backlog; iperf3 counts
    // them as well): what tells the MTU drop apart is that there nothing gets through.
    assert_eq!(c.frag_needed, 0, "{c:#?}");
    assert!(c.traffic.contains("iperf3: completed") && c.inner_tcp_bytes > 4_000_000, "{c:#?}");
    // Its retransmissions are a few among thousands of packets that arrived: no finding.
    let found = findings(control.path());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_mid_path_black_hole_shows_full_size_retransmits_and_its_control_the_icmp() {
    let test = "a_mid_path_black_hole_shows_full_size_retransmits_and_its_control_the_icmp";
    let dir = tempfile::tempdir().unwrap();
    let Some(capture) = lab(test, "blackhole", dir.path()) else { return };
    let e = flow_evidence(dir.path(), &capture);
    assert_eq!(e.tcp_max_ip_len, 1500, "{e:#?}");
    assert!(e.full_size_retransmits >= 2, "{e:#?}");
    assert_eq!(e.frag_needed, 0, "{e:#?}");
    assert!(e.traffic.contains("iperf3: did not complete"), "{e:#?}");
    // No ICMP, no oversize packet on the capture's link: only the TCP signature tells.
    let found = findings(dir.path());
    assert_eq!(kinds(&found), ["mtu.blackhole"], "{found:#?}");
    assert!(evidence(&found[0], "full_size_resends").unwrap() >= 2.0, "{found:#?}");

    let control = tempfile::tempdir().unwrap();
    let Some(capture) = lab(test, "blackhole-control", control.path()) else { return };
    let c = flow_evidence(control.path(), &capture);
    assert!(c.frag_needed >= 1 && c.icmp_mtu == Some(1400), "{c:#?}");
    // After the ICMP the sender's segments fit the 1400-byte hop (the 1500-byte ones before
    // it were GSO super-packets: counted as offload, not as lengths).
    assert!(c.tcp_max_ip_len <= 1400, "{c:#?}");
    assert!(c.traffic.contains("iperf3: completed") && c.inner_tcp_bytes > 4_000_000, "{c:#?}");
    // The hop said so: frag-needed with its MTU, and no black hole (GSO super-packets
    // before the ICMP are offload, not oversize packets).
    let found = findings(control.path());
    assert_eq!(kinds(&found), ["mtu.frag_needed"], "{found:#?}");
    assert_eq!(evidence(&found[0], "next_hop_mtu"), Some(1400.0));
}

/// The tunnel's flows (ICMP and TCP inside VXLAN) of a store, summed per inner 5-tuple.
fn tunnel_flows(data: &Path) -> String {
    process::query_csv(
        data,
        "SELECT tunnel_type, tunnel_key, inner_src_addr, inner_dst_addr, inner_src_port, inner_dst_port, \
         inner_protocol, sum(packets) AS packets, sum(bytes) AS bytes, max(max_ip_len) AS max_ip_len \
         FROM flows WHERE source_kind = 'pcap' AND tunnel_type = 'vxlan' AND inner_protocol IN (1, 6) \
         GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 3, 4, 5, 6, 7",
    )
}

#[test]
fn live_capture_yields_the_flows_of_the_capture_file() {
    let test = "live_capture_yields_the_flows_of_the_capture_file";
    let dir = tempfile::tempdir().unwrap();
    let Some(capture) = lab_with(test, "l2-control", dir.path(), true) else { return };
    let file_store = dir.path().join("file-store");
    process::run(&["ingest", "--quiet", "--data", file_store.to_str().unwrap(), capture.to_str().unwrap()]);
    let (live, file) = (tunnel_flows(&dir.path().join("live")), tunnel_flows(&file_store));
    assert!(file.lines().count() >= 5, "the lab's traffic is missing:\n{file}");
    assert_eq!(live, file, "live capture against the capture file");
}

#[test]
fn capturing_on_a_missing_interface_is_an_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = process::plumb()
        .args(["collect", "--interface", "plumb-nope0", "--data", dir.path().to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("plumb-nope0") && (err.contains("ip link") || err.contains("CAP_NET_RAW")), "{err}");
}

#[test]
fn capturing_without_the_capability_is_an_error_that_says_what_to_do() {
    let test = "capturing_without_the_capability_is_an_error_that_says_what_to_do";
    if !process::have("setpriv") {
        return skip(test, "setpriv (util-linux) is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    // Bounded: were the capability not dropped, the collector would run until stopped.
    let out = Command::new("timeout")
        .args(["20", "setpriv", "--bounding-set", "-net_raw,-net_admin", "--inh-caps", "-net_raw,-net_admin"])
        .arg(env!("CARGO_BIN_EXE_plumb"))
        .args(["collect", "--interface", "lo", "--data", dir.path().to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("setpriv:") {
        return skip(test, &format!("setpriv cannot drop capabilities here: {err}"));
    }
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("CAP_NET_RAW") && err.contains("lo"), "{err}");
}
