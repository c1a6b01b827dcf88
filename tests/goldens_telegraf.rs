//! Telegraf's NetFlow/IPFIX test cases: every flow line of each `expected.out` against our
//! rows, in order (addresses, ports, protocol, byte and packet counts).

mod common;

use std::collections::HashMap;

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

#[test]
fn telegraf_flow_lines_match_our_rows() {
    let root = common::public("telegraf");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("sflow") {
            continue; // sFlow decoding is its own issue
        }
        let mut files: Vec<_> = std::fs::read_dir(&case)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bin"))
            .collect();
        files.sort();
        let batches = common::decode_group(&files);
        let rows: Vec<(usize, usize)> = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
            .collect();
        let expected: Vec<HashMap<String, String>> = std::fs::read_to_string(case.join("expected.out"))
            .unwrap()
            .lines()
            .map(line_fields)
            .filter(|(m, _)| m == "netflow")
            .map(|(_, f)| f)
            .collect();
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
