//! Cisco and Huawei router exports (pmacct test pcaps) against NetGauze's full decode:
//! every flow record of every datagram, in order.

mod common;

use serde_json::Value;

const CASES: &[(&str, &str)] = &[
    ("netgauze/100-IPFIXv10-CISCO/traffic-00.pcap", "netgauze/100-IPFIXv10-CISCO/traffic-00-flow.json"),
    (
        "netgauze/101-NFv9-CISCO-cust_primitives/traffic-00.pcap",
        "netgauze/101-NFv9-CISCO-cust_primitives/traffic-00-flow.json",
    ),
    (
        "netgauze/102-NFv9-CISCO-f2rd-pretag-sampling-reload/traffic-00.pcap",
        "netgauze/102-NFv9-CISCO-f2rd-pretag-sampling-reload/traffic-00-flow.json",
    ),
    (
        "netgauze/104-IPFIXv10-IPv6-CISCO-sampling_option/traffic-00.pcap",
        "netgauze/104-IPFIXv10-IPv6-CISCO-sampling_option/traffic-00-flow.json",
    ),
    (
        "netgauze/106-IPFIXv10-HUAWEI-vrf_name/traffic-00.pcap",
        "netgauze/106-IPFIXv10-HUAWEI-vrf_name/traffic-00-flow.json",
    ),
    (
        "netgauze/111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources/traffic-00.pcap",
        "netgauze/111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources/traffic-00-flow.json",
    ),
    (
        "netgauze/111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources/traffic-01.pcap",
        "netgauze/111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources/traffic-01-flow.json",
    ),
    (
        "netgauze/500-IPFIXv10-BGP-CISCO-SRv6/traffic-00.pcap",
        "netgauze/500-IPFIXv10-BGP-CISCO-SRv6/traffic-00-flow.json",
    ),
    ("netgauze/flow-srv6/srv6.pcap", "netgauze/flow-srv6/srv6-flow.json"),
];

/// The flow (non-options) records of a golden file, each as its list of {name: value}.
fn golden_records(path: &str) -> Vec<Vec<(String, Value)>> {
    let text = std::fs::read_to_string(common::public(path)).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let msg = v.get("IPFIX").or(v.get("NetFlowV9")).unwrap();
        for set in msg["sets"].as_array().unwrap() {
            let Some(data) = set.get("Data") else {
                continue;
            };
            for rec in data["records"].as_array().unwrap() {
                if !rec["scope_fields"].as_array().unwrap().is_empty() {
                    continue;
                }
                let fields = rec["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|f| f.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())))
                    .collect();
                out.push(fields);
            }
        }
    }
    out
}

fn first(rec: &[(String, Value)], names: &[&str]) -> Option<String> {
    rec.iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .map(|(_, v)| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .find(|s| s != "::" && s != "0.0.0.0")
}

#[test]
fn router_records_match_netgauze() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (pcap, golden) in CASES {
        let batch = &common::decode_group(&[common::public(pcap)])[0];
        let want = golden_records(golden);
        if batch.num_rows() != want.len() {
            failures.push(format!("{pcap}: {} rows, NetGauze has {}", batch.num_rows(), want.len()));
            continue;
        }
        for (i, rec) in want.iter().enumerate() {
            let got = |c: &str| common::cell(batch, c, i);
            let checks: [(&str, &[&str]); 9] = [
                ("src_addr", &["sourceIPv4Address", "sourceIPv6Address"]),
                ("dst_addr", &["destinationIPv4Address", "destinationIPv6Address"]),
                ("src_port", &["sourceTransportPort"]),
                ("dst_port", &["destinationTransportPort"]),
                ("bytes_reported", &["octetDeltaCount"]),
                ("packets_reported", &["packetDeltaCount"]),
                ("in_if", &["ingressInterface"]),
                ("out_if", &["egressInterface"]),
                ("flow_end", &["flowEndMilliseconds"]),
            ];
            for (col, names) in checks {
                if let Some(w) = first(rec, names) {
                    let g = got(col);
                    if g != w {
                        failures.push(format!("{pcap} record {i}: {col} = {g:?}, NetGauze {w:?}"));
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 100, "checked {checked} records");
}
