//! A dropped-packet notification (sample format 5) to its `drops` row: the reason, the
//! interfaces, and what the packet's records say, read through the same flow-record path
//! as a flow sample (sampled header through the packet layer, data records, tunnels), so a
//! dropped packet's sizes, DF bit, tunnel and inner 5-tuple are those a flow row would
//! carry. A notification is one packet: nothing is scaled.

use super::drop_reason;
use super::records::FlowRecords;
use super::row::{self, Origin};
use super::sample::{DropNotification, Interface};
use super::stats::SflowStats;
use crate::packet::dissect::{Dissection, Dissector};
use crate::schema::FlowRow;
use crate::schema::drops::DropRow;
use crate::source_kind::SourceKind;

/// Writes the row of one notification into `row`; returns whether a field had to be
/// repaired (Open vSwitch's byte-swapped tunnel ports), as for flow samples.
pub fn drop_row(
    row: &mut DropRow<'_>,
    o: Origin,
    n: DropNotification<'_>,
    stats: &mut SflowStats,
    dissector: &Dissector,
    d: &mut Dissection,
) -> bool {
    let records = FlowRecords::gather(n.records, stats);
    let mut f = FlowRow::default();
    let interfaces = (Interface::Index(n.input), Interface::Index(n.output));
    let repaired = row::flow_row(&mut f, o, interfaces, None, &records, dissector, d);
    *row = DropRow {
        time_received: Some(o.received_us),
        exporter: Some(o.exporter),
        agent: Some(o.agent),
        sub_agent: Some(o.sub_agent),
        source_kind: Some(SourceKind::Sflow.as_str()),
        sequence: Some(n.sequence),
        source_class: Some(n.source.class.min(u8::MAX as u32) as u8),
        source_index: Some(n.source.index),
        reason_code: Some(n.reason),
        reason: Some(drop_reason::name(n.reason).unwrap_or(drop_reason::OTHER)),
        forwarding_status: Some(drop_reason::forwarding_status(n.reason)),
        drops: Some(1),
        suppressed: Some(n.suppressed as u64),
        in_if: f.in_if,
        out_if: f.out_if,
        frame_len: records.header.map(|h| h.frame_length),
        ip_len: f.bytes_reported.map(|b| b as u32).or(f.max_ip_len),
        src_mac: f.src_mac,
        dst_mac: f.dst_mac,
        vlan: f.vlan,
        src_addr: f.src_addr,
        dst_addr: f.dst_addr,
        src_port: f.src_port,
        dst_port: f.dst_port,
        protocol: f.protocol,
        tos: f.tos,
        tcp_flags: f.tcp_flags,
        df: f.df_packets.map(|n| n.min(1) as u8),
        fragment_flags: f.fragment_flags,
        icmp_type: f.icmp_type,
        icmp_code: f.icmp_code,
        icmp_mtu: f.icmp_mtu,
        tunnel_type: f.tunnel_type,
        tunnel_key: f.tunnel_key,
        tunnel_src: f.tunnel_src,
        tunnel_dst: f.tunnel_dst,
        tunnel_src_port: f.tunnel_src_port,
        tunnel_dst_port: f.tunnel_dst_port,
        inner_src_addr: f.inner_src_addr,
        inner_dst_addr: f.inner_dst_addr,
        inner_src_port: f.inner_src_port,
        inner_dst_port: f.inner_dst_port,
        inner_protocol: f.inner_protocol,
        inner_ip_len: f.max_inner_ip_len,
    };
    repaired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::testing::*;
    use crate::packet::{ethertype, ip_protocol};
    use crate::sflow::sample::SourceId;
    use crate::sflow::xdr::Xdr;

    fn words(w: &[u32]) -> Vec<u8> {
        w.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// A VXLAN packet of 1550 bytes with DF set (an overlay frame too large for a 1500-byte
    /// underlay), its first 128 bytes sampled, in a notification with reason 262.
    fn oversize_vxlan_notification() -> Vec<u8> {
        let inner = eth(
            ethertype::IPV4,
            &ip4([10, 0, 0, 1], [10, 0, 0, 2], ip_protocol::TCP, true, &tcp(SYN, None, 1460)),
        );
        let outer_payload = udp(51000, 4789, &vxlan(5001, &inner));
        let frame = eth(
            ethertype::IPV4,
            &ip4([172, 31, 1, 1], [172, 31, 1, 2], ip_protocol::UDP, true, &outer_payload),
        );
        let header = &frame[..128];
        let mut rec = words(&[1, frame.len() as u32 + 4, 4, header.len() as u32]);
        rec.extend(header);
        let mut out = words(&[1, rec.len() as u32]);
        out.extend(rec);
        out
    }

    #[test]
    fn a_dropped_overlay_packet_keeps_its_sizes_df_tunnel_and_inner_flow() {
        let records = oversize_vxlan_notification();
        let n = DropNotification {
            sequence: 9,
            source: SourceId { class: 0, index: 3 },
            suppressed: 12,
            input: 3,
            output: 0,
            reason: drop_reason::PKT_TOO_BIG,
            records: Xdr::new(&records).elements(1),
        };
        let o = Origin { exporter: [1; 16], agent: [2; 16], sub_agent: 0, received_us: 7 };
        let (mut row, mut stats) = (DropRow::default(), SflowStats::default());
        drop_row(&mut row, o, n, &mut stats, &Dissector::default(), &mut Dissection::default());
        assert_eq!(
            (row.reason_code, row.reason, row.forwarding_status),
            (Some(262), Some("pkt_too_big"), Some(133))
        );
        assert_eq!((row.drops, row.suppressed, row.in_if, row.out_if), (Some(1), Some(12), Some(3), None));
        assert_eq!((row.frame_len, row.ip_len, row.df), (Some(1568), Some(1550), Some(1)));
        assert_eq!(
            (row.tunnel_type, row.tunnel_key, row.tunnel_dst_port),
            (Some("vxlan"), Some(5001), Some(4789))
        );
        assert_eq!((row.src_addr, row.inner_src_addr), (Some(v4([172, 31, 1, 1])), Some(v4([10, 0, 0, 1]))));
        assert_eq!(
            (row.inner_protocol, row.inner_dst_port, row.inner_ip_len),
            (Some(6), Some(443), Some(1500))
        );
    }
}
