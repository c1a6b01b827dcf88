//! Telegraf's NetFlow/IPFIX and sFlow test cases: every flow line of each `expected.out`
//! against our rows, in order (addresses, ports, protocol, byte and packet counts; for
//! sFlow the sampled packet's IP length, MACs, VLAN and rate), every sFlow counter line
//! against `interface_counters`, and the drop notification against `drops` (decoded, and
//! through `plumb ingest` and `plumb query`).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Fields of one line-protocol line (`measurement,tags fields timestamp`).
fn line_fields(line: &str) -> (String, HashMap<String, String>) {
    let (head, rest) = line.split_once(' ').unwrap();
    let measurement = head.split(',').next().unwrap().to_string();
    let mut fields = HashMap::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut pairs = Vec::new();
    for ch in rest.chars() {
        match ch {
            '"' => in_quotes = !in_quotes,
            ',' | ' ' if !in_quotes => {
                pairs.push(std::mem::take(&mut cur));
                if ch == ' ' {
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        pairs.push(cur);
    }
    for p in pairs {
        if let Some((k, v)) = p.split_once('=') {
            fields.insert(k.to_string(), v.trim_end_matches('u').to_string());
        }
    }
    (measurement, fields)
}

fn protocol_name(n: &str) -> &str {
    match n {
        "6" => "tcp",
        "17" => "udp",
        "1" => "icmp",
        "58" => "ipv6-icmp",
        other => other,
    }
}

/// Telegraf's cases, sorted: the sFlow ones (`sflow_*`) or the others.
fn cases(sflow: bool) -> Vec<PathBuf> {
    let root = common::public("telegraf");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.retain(|c| c.file_name().unwrap().to_string_lossy().starts_with("sflow") == sflow);
    cases.sort();
    cases
}

/// One case: its `.bin` files decoded in order, its rows as (batch, row), and the
/// `netflow` lines of its `expected.out` that `keep` takes.
struct Case {
    name: String,
    batches: Vec<arrow::array::RecordBatch>,
    rows: Vec<(usize, usize)>,
    expected: Vec<HashMap<String, String>>,
}

fn load(case: &Path, keep: impl Fn(&HashMap<String, String>) -> bool) -> Case {
    let mut files: Vec<_> = std::fs::read_dir(case)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    let batches = common::decode_group(&files);
    let rows = batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
        .collect();
    let expected = std::fs::read_to_string(case.join("expected.out"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(' '))
        .map(line_fields)
        .filter(|(m, f)| m == "netflow" && keep(f))
        .map(|(_, f)| f)
        .collect();
    Case { name: case.file_name().unwrap().to_string_lossy().to_string(), batches, rows, expected }
}

#[test]
fn telegraf_flow_lines_match_our_rows() {
    let mut failures = Vec::new();
    let mut checked = 0;
    // The sFlow cases: telegraf_sflow_lines_match_our_rows.
    for case in cases(false) {
        let Case { name, batches, rows, expected } = load(&case, |_| true);
        if rows.len() != expected.len() {
            failures.push(format!("{name}: {} rows, expected {}", rows.len(), expected.len()));
            continue;
        }
        for (i, (e, (b, r))) in expected.iter().zip(rows).enumerate() {
            let batch = &batches[b];
            let got = |c: &str| common::cell(batch, c, r);
            let mut check = |col: &str, key: &[&str]| {
                if let Some(want) = key.iter().find_map(|k| e.get(*k)) {
                    let mut g = got(col);
                    if col == "protocol" {
                        g = protocol_name(&g).to_string();
                    }
                    if &g != want {
                        failures.push(format!("{name} line {i}: {col} = {g:?}, want {want:?}"));
                    }
                }
            };
            check("src_addr", &["src"]);
            check("dst_addr", &["dst"]);
            check("src_port", &["src_port"]);
            check("dst_port", &["dst_port"]);
            check("protocol", &["protocol"]);
            check("bytes_reported", &["in_bytes", "in_total_bytes"]);
            check("packets_reported", &["in_packets", "in_total_packets"]);
            check("in_if", &["in_snmp"]);
            check("out_if", &["out_snmp"]);
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 40, "checked {checked} flow lines");
}

/// Telegraf's sFlow cases: each flow-sample line (counter samples are lines with an
/// `interface` field and make no `flows` row) against our rows, in order. Telegraf's
/// `ip_total_len` leaves out the IP header; its `ipv4_total_len` and `ipv6_total_len` are
/// the header fields, which plumb's layer-3 length is (IPv6 adds the fixed 40 bytes).
/// Its `in_snmp`/`out_snmp` of egress samples are the sample's source, not the packet's
/// interfaces, so they are not compared; its `protocol` is the first IPv6 next header
/// where plumb's is the upper layer after extension headers.
#[test]
fn telegraf_sflow_lines_match_our_rows() {
    let cases = cases(true);
    assert!(cases.len() >= 4, "{cases:?}");
    let (mut failures, mut checked) = (Vec::new(), 0);
    for case in cases {
        // Flow-sample lines: counter samples' lines have no `src`.
        let Case { name, batches, rows, expected } = load(&case, |f| f.contains_key("src"));
        if rows.len() != expected.len() {
            failures.push(format!("{name}: {} rows, expected {}", rows.len(), expected.len()));
            continue;
        }
        for (i, (e, (b, r))) in expected.iter().zip(rows).enumerate() {
            let got = |c: &str| common::cell(&batches[b], c, r);
            let l3 = e
                .get("ipv4_total_len")
                .cloned()
                .or_else(|| e.get("ipv6_total_len").map(|n| (n.parse::<u64>().unwrap() + 40).to_string()));
            let rate = e.get("sampling_interval").cloned();
            let scaled = l3
                .as_ref()
                .zip(rate.as_ref())
                .map(|(l, r)| (l.parse::<u64>().unwrap() * r.parse::<u64>().unwrap()).to_string());
            let want: [(&str, Option<String>); 10] = [
                ("src_addr", e.get("src").cloned()),
                ("dst_addr", e.get("dst").cloned()),
                ("src_port", e.get("src_port").cloned()),
                ("dst_port", e.get("dst_port").cloned()),
                ("bytes_reported", l3),
                ("bytes", scaled),
                ("sampling_rate", rate.clone()),
                ("packets", rate),
                ("src_mac", e.get("in_src_mac").cloned()),
                ("vlan", e.get("vlan_src").cloned()),
            ];
            for (col, want) in want {
                if let Some(want) = want
                    && got(col) != want
                {
                    failures.push(format!("{name} line {i}: {col} = {:?}, want {want:?}", got(col)));
                }
            }
            if e.get("protocol").is_some_and(|p| p != "hopopt") {
                let g = got("protocol");
                if protocol_name(&g) != e["protocol"] {
                    failures.push(format!("{name} line {i}: protocol {g}, want {}", e["protocol"]));
                }
            }
            if got("dst_mac") != e["out_dst_mac"] {
                failures.push(format!("{name} line {i}: dst_mac {}", got("dst_mac")));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, 6, "flow-sample lines checked");
}

/// What telegraf prints for a counter plumb stores: the number, or all ones (telegraf's
/// "not kept", which plumb stores as null) as "".
fn counter_text(v: &str) -> String {
    if v == "4294967295" { String::new() } else { v.to_string() }
}

/// Telegraf's sFlow counter-sample lines (those with an `interface` field) against the
/// `interface_counters` rows, in order: interface, speed, octets, packets by kind, discards,
/// errors, Ethernet errors, port name, sequence and agent.
#[test]
fn telegraf_sflow_counter_lines_match_interface_counters() {
    let (mut failures, mut checked) = (Vec::new(), 0);
    for case in cases(true) {
        let Case { name, expected, .. } = load(&case, |f| f.contains_key("interface"));
        let mut files: Vec<_> = common::files_under(&case)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "bin"))
            .collect();
        files.sort();
        let batches = common::decode_side_table(&files, plumb_collector::schema::Table::InterfaceCounters);
        let rows = common::rows_of(&batches);
        if rows.len() != expected.len() {
            failures.push(format!("{name}: {} counter rows, expected {}", rows.len(), expected.len()));
            continue;
        }
        for (i, (e, (b, r))) in expected.iter().zip(rows).enumerate() {
            let got = |c: &str| common::cell(&batches[b], c, r);
            let pairs = [
                ("if_index", "interface"),
                ("if_type", "interface_type"),
                ("if_speed", "speed"),
                ("in_octets", "in_bytes"),
                ("out_octets", "out_bytes"),
                ("in_unicast", "in_unicast_packets_total"),
                ("in_multicast", "in_mcast_packets_total"),
                ("in_broadcast", "in_broadcast_packets_total"),
                ("out_unicast", "out_unicast_packets_total"),
                ("out_multicast", "out_mcast_packets_total"),
                ("out_broadcast", "out_broadcast_packets_total"),
                ("in_discards", "in_dropped_packets"),
                ("out_discards", "out_dropped_packets"),
                ("in_errors", "in_errors"),
                ("out_errors", "out_errors"),
                ("in_unknown_protos", "in_unknown_protocol"),
                ("promiscuous", "promiscuous"),
                ("fcs_errors", "errors_fcs"),
                ("frames_too_long", "errors_frame_too_long"),
                ("symbol_errors", "errors_symbols"),
                ("sequence", "seq_number"),
                ("sub_agent", "agent_subid"),
                ("agent", "agent_ip"),
                ("if_name", "port_name"),
            ];
            for (col, key) in pairs {
                if let Some(want) = e.get(key).map(|v| counter_text(v))
                    && got(col) != want
                {
                    failures.push(format!("{name} line {i}: {col} = {:?}, want {want:?} ({key})", got(col)));
                }
            }
            let up = if e.get("status").map(String::as_str) == Some("up") { "1" } else { "0" };
            if e.contains_key("status") && got("if_oper_up") != up {
                failures.push(format!("{name} line {i}: if_oper_up = {}", got("if_oper_up")));
            }
            // The packet total is the kinds the agent keeps.
            let kinds = ["in_unicast_packets_total", "in_mcast_packets_total", "in_broadcast_packets_total"];
            let total: u64 = kinds
                .iter()
                .filter_map(|k| e.get(*k))
                .filter(|v| *v != "4294967295")
                .map(|v| v.parse::<u64>().unwrap())
                .sum();
            if got("in_packets") != total.to_string() {
                failures.push(format!("{name} line {i}: in_packets = {}, want {total}", got("in_packets")));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 3, "counter lines checked: {checked}");
}

/// Telegraf's drop-notification case (issue 15375): the notification's reason, interfaces,
/// sequence, agent and suppressed count in `drops`, decoded here and through the binary:
/// `plumb ingest` into a store, then `SELECT reason, count(*) FROM drops GROUP BY reason`.
#[test]
fn telegraf_drop_notification_matches_drops_and_queries() {
    let case = common::public("telegraf/sflow_issue_15375");
    let Case { expected, .. } = load(&case, |f| f.contains_key("reason"));
    assert_eq!(expected.len(), 1, "the case's one drop line");
    let e = &expected[0];
    let files = vec![case.join("sflow_drop_1036.bin")];
    let batches = common::decode_side_table(&files, plumb_collector::schema::Table::Drops);
    assert_eq!(common::rows_of(&batches).len(), 1);
    let got = |c: &str| common::cell(&batches[0], c, 0);
    for (col, key) in [
        ("reason_code", "reason"),
        ("in_if", "in_snmp"),
        ("out_if", "out_snmp"),
        ("sequence", "seq_number"),
        ("suppressed", "sampling_drops"),
        ("sub_agent", "agent_subid"),
        ("agent", "agent_ip"),
    ] {
        assert_eq!(got(col), e[key], "{col} ({key})");
    }
    assert_eq!(
        (got("reason"), got("drops"), got("forwarding_status")),
        ("host_unreachable".into(), "1".into(), "131".into())
    );

    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let out =
        common::process::run(&["ingest", "--data", d, case.join("sflow_drop_1036.bin").to_str().unwrap()]);
    assert!(out.contains("drops 1"), "{out}");
    let csv =
        common::process::query_csv(data.path(), "SELECT reason, count(*) AS n FROM drops GROUP BY reason");
    assert_eq!(csv.trim(), "reason,n\nhost_unreachable,1", "{csv}");
}
