//! Real Open vSwitch 3.1 exports (`fixtures/ovs/`): every IPFIX record of the
//! capture against the independent decode in `ipfix-records.txt`, the tunnel IEs of the
//! Geneve/GRE/VXLAN tunnel pairs, and NetFlow v5 with its OpenFlow port numbers.

mod common;

use std::collections::HashMap;
use std::path::Path;

use arrow::array::RecordBatch;

use plumb_collector::addr;
use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::packet::datagram::outer_udp;
use plumb_collector::pcap;
use plumb_collector::schema::FlowBuilders;

/// Decodes the datagrams sent to `port`; returns the rows and the total sequence loss.
fn decode_port(path: &Path, port: u16) -> (RecordBatch, u64, Decoder) {
    let bytes = std::fs::read(path).unwrap();
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut out = FlowBuilders::with_capacity(256);
    let mut lost = 0;
    pcap::for_each_frame(&bytes[..], |f| {
        if let Ok(Some(u)) = outer_udp(f.linktype, f.data)
            && u.dst_port == port
        {
            lost += dec.decode(u.payload, addr::from_ip(u.src), f.ts_us, &mut out).lost;
        }
    })
    .unwrap();
    (out.finish(), lost, dec)
}

/// `key=value` pairs of one decode line; repeated keys get `#2`.
fn fields(line: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].to_string();
        rest = &rest[eq + 1..];
        let value = if let Some(stripped) = rest.strip_prefix('\'') {
            let end = stripped.find('\'').unwrap();
            let v = stripped[..end].to_string();
            rest = &stripped[end + 1..];
            v
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            let v = rest[..end].to_string();
            rest = &rest[end..];
            v
        };
        rest = rest.trim_start();
        let key = if out.contains_key(&key) { format!("{key}#2") } else { key };
        out.insert(key, value);
    }
    out
}

#[test]
fn every_ovs_ipfix_record_matches_the_reference_decode() {
    let (batch, lost, dec) = decode_port(&common::ovs("ovs-export.pcap"), 4739);
    let text = std::fs::read_to_string(common::ovs("ipfix-records.txt")).unwrap();
    let expected: Vec<HashMap<String, String>> = text
        .lines()
        .map(|l| fields(l.trim_start().split_once(' ').unwrap().1))
        .filter(|f| f["od"] != "0")
        .collect();
    assert_eq!(expected.len(), 72);
    assert_eq!(batch.num_rows(), 72);
    // OVS shares one sequence counter between domains 7 and 0: no false loss.
    assert_eq!(lost, 0, "OVS capture must show zero sequence loss");
    assert_eq!(dec.state.template_count(), 89, "88 data templates and options template 462");
    for (i, e) in expected.iter().enumerate() {
        let got = |c: &str| common::cell(&batch, c, i);
        let tunnel = e.contains_key("vmware.tunnelType");
        let want = |k: &str| e.get(k).cloned().unwrap_or_default();
        let ctx = format!("record {i} (template {})", e["tpl"]);
        assert_eq!(got("observation_domain"), "7", "{ctx}");
        assert_eq!(got("flow_direction"), want("flowDirection"), "{ctx}");
        assert_eq!(got("src_mac"), want("sourceMacAddress"), "{ctx}");
        assert_eq!(got("dst_mac"), want("destinationMacAddress"), "{ctx}");
        assert_eq!(got("in_if"), want("ingressInterface"), "{ctx}");
        assert_eq!(got("out_if"), want("egressInterface"), "{ctx}");
        assert_eq!(got("in_if_name"), want("interfaceName"), "{ctx}");
        assert_eq!(got("out_if_name"), want("interfaceName#2"), "{ctx}");
        assert_eq!(got("packets_reported"), want("packetDeltaCount"), "{ctx}");
        assert_eq!(got("bytes_reported"), want("octetDeltaCount"), "{ctx}");
        assert_eq!(got("flow_end_reason"), want("flowEndReason"), "{ctx}");
        let icmp = e.get("icmpTypeIPv4").or(e.get("icmpTypeIPv6")).cloned().unwrap_or_default();
        assert_eq!(got("icmp_type"), icmp, "{ctx}");
        let src = e.get("sourceIPv4Address").or(e.get("sourceIPv6Address")).cloned().unwrap_or_default();
        let dst =
            e.get("destinationIPv4Address").or(e.get("destinationIPv6Address")).cloned().unwrap_or_default();
        if tunnel {
            // The standard IEs are the inner packet; the tunnel IEs the outer one.
            assert_eq!(got("inner_src_addr"), src, "{ctx}");
            assert_eq!(got("inner_dst_addr"), dst, "{ctx}");
            assert_eq!(got("inner_protocol"), want("protocolIdentifier"), "{ctx}");
            assert_eq!(got("inner_src_port"), want("sourceTransportPort"), "{ctx}");
            assert_eq!(got("src_addr"), want("vmware.tunnelSourceIPv4Address"), "{ctx}");
            assert_eq!(got("dst_addr"), want("vmware.tunnelDestinationIPv4Address"), "{ctx}");
            assert_eq!(got("tunnel_src"), want("vmware.tunnelSourceIPv4Address"), "{ctx}");
            assert_eq!(got("tunnel_dst"), want("vmware.tunnelDestinationIPv4Address"), "{ctx}");
            assert_eq!(got("protocol"), want("vmware.tunnelProtocolIdentifier"), "{ctx}");
            assert_eq!(got("src_port"), want("vmware.tunnelSourceTransportPort"), "{ctx}");
            assert_eq!(got("dst_port"), want("vmware.tunnelDestinationTransportPort"), "{ctx}");
            assert_eq!(got("tunnel_type"), "vxlan", "{ctx}");
            assert_eq!(got("tunnel_key"), want("vmware.tunnelKey"), "{ctx}");
            assert_eq!(got("max_inner_ip_len"), want("maximumIpTotalLength"), "{ctx}");
            assert_eq!(got("max_ip_len"), "", "{ctx}");
        } else {
            assert_eq!(got("src_addr"), src, "{ctx}");
            assert_eq!(got("dst_addr"), dst, "{ctx}");
            assert_eq!(got("protocol"), want("protocolIdentifier"), "{ctx}");
            assert_eq!(got("src_port"), want("sourceTransportPort"), "{ctx}");
            assert_eq!(got("dst_port"), want("destinationTransportPort"), "{ctx}");
            assert_eq!(got("tunnel_type"), "", "{ctx}");
            assert_eq!(got("min_ip_len"), want("minimumIpTotalLength"), "{ctx}");
            assert_eq!(got("max_ip_len"), want("maximumIpTotalLength"), "{ctx}");
        }
        // OVS exports no sampling rate; delta-µs times end before they start never.
        assert_eq!(got("sampling_rate"), "", "{ctx}");
        assert!(got("flow_start") <= got("flow_end"), "{ctx}");
        assert_eq!(
            common::extra(&batch, "0/138", i).as_deref(),
            Some("00000008"),
            "{ctx}: observationPointId"
        );
    }
    // The options record of domain 0 reports exporter-side loss of 0 packets.
    assert_eq!(dec.exporter_not_sent().values().next().map(|v| v[1]), Some(0));
}

#[test]
fn tunnel_pairs_name_their_tunnels() {
    // (type, tunnelType name, key, outer protocol as exported → stored, dst port)
    for (kind, name, key, proto, dport) in [
        ("geneve", "geneve", "777", "17", "6081"),
        ("gre", "gre", "777", "47", "0"),
        ("vxlan", "vxlan", "777", "17", "4789"),
    ] {
        let (batch, lost, _) = decode_port(&common::ovs(&format!("tunnel-pair/ipfix-{kind}.pcap")), 4739);
        assert_eq!(lost, 0, "{kind}");
        let rows: Vec<usize> =
            (0..batch.num_rows()).filter(|&i| !common::cell(&batch, "tunnel_type", i).is_empty()).collect();
        assert!(!rows.is_empty(), "{kind}: tunnel records");
        for i in rows {
            assert_eq!(common::cell(&batch, "tunnel_type", i), name, "{kind}");
            assert_eq!(common::cell(&batch, "tunnel_key", i), key, "{kind}");
            assert_eq!(common::cell(&batch, "protocol", i), proto, "{kind}");
            assert_eq!(common::cell(&batch, "dst_port", i), dport, "{kind}");
            assert_eq!(common::cell(&batch, "tunnel_dst_port", i), dport, "{kind}");
            assert!(common::cell(&batch, "tunnel_src", i).starts_with("172.31."), "{kind}");
        }
    }
}

#[test]
fn ovs_netflow_v5_keeps_openflow_ports() {
    let (batch, lost, _) = decode_port(&common::ovs("ovs-export.pcap"), 2055);
    assert_eq!(lost, 0);
    assert_eq!(batch.num_rows(), 16, "4 datagrams of 4 records");
    let row = (0..batch.num_rows())
        .find(|&i| {
            common::cell(&batch, "dst_addr", i) == "10.200.0.2" && common::cell(&batch, "bytes", i) == "690"
        })
        .expect("the ping over VXLAN");
    assert_eq!(common::cell(&batch, "src_addr", row), "10.200.0.1");
    assert_eq!(common::cell(&batch, "in_if", row), "2");
    assert_eq!(common::cell(&batch, "out_if", row), "3");
    assert_eq!(common::cell(&batch, "packets", row), "5");
    assert_eq!(common::cell(&batch, "protocol", row), "1");
    assert_eq!(common::cell(&batch, "icmp_type", row), "8");
    assert_eq!(common::cell(&batch, "sampling_rate", row), "1");
    assert_eq!(common::cell(&batch, "observation_domain", row), ((47u32 << 8) | 209).to_string());
    assert_eq!(common::cell(&batch, "source_kind", row), "netflow_v5");
}
