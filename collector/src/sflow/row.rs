//! A flow sample to its `flows` row. The sampled header goes through the shared packet
//! layer, so an sFlow row carries what a pcap row carries for one packet: outer and inner
//! headers, the tunnel, DF, fragments, ICMP MTUs, offload. Counts are scaled by the
//! sample's rate (`packets` = rate, `bytes` = layer-3 length × rate); the MTU evidence
//! counts stay in sampled packets.

use super::drop_reason;
use super::records::{FlowRecords, SampledIp, header_protocol};
use super::sample::Interface;
use crate::addr::Addr16;
use crate::packet::dissect::{Dissection, Dissector, MAX_WIRE_IP_LEN, TunnelKind};
use crate::packet::{fragment_flags, ip_protocol, link};
use crate::schema::FlowRow;
use crate::source_kind::SourceKind;

/// Who sent the sample and when it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    pub exporter: Addr16,
    /// The agent address the datagram carries (its UDP source when it carries none).
    pub agent: Addr16,
    pub sub_agent: u32,
    pub received_us: i64,
}

/// Writes the row of one flow sample into `row` (a buffer the decoder reuses: the row is
/// large and building it afresh for every sample was a fifth of the decode time); returns
/// whether a field had to be repaired (Open vSwitch's byte-swapped tunnel ports).
pub fn flow_row(
    row: &mut FlowRow<'_>,
    o: Origin,
    (input, output): (Interface, Interface),
    rate: Option<u32>,
    r: &FlowRecords<'_>,
    dissector: &Dissector,
    d: &mut Dissection,
) -> bool {
    *row = FlowRow {
        time_received: Some(o.received_us),
        // A sample is one packet seen at one moment: sFlow sends no other time.
        flow_start: Some(o.received_us),
        flow_end: Some(o.received_us),
        exporter: Some(o.exporter),
        observation_domain: Some(o.sub_agent),
        source_kind: Some(SourceKind::Sflow.as_str()),
        sampling_rate: rate,
        packets_reported: Some(1),
        packets: Some(rate.unwrap_or(1) as u64),
        in_if: input.if_index(),
        out_if: output.if_index(),
        ..FlowRow::default()
    };
    if let Interface::Discarded(reason) = output {
        row.forwarding_status = Some(drop_reason::forwarding_status(reason));
    }
    let row = &mut *row;
    let mut l3 = None;
    let linktype = r.header.and_then(|h| match h.protocol {
        header_protocol::ETHERNET => Some(link::linktype::ETHERNET),
        header_protocol::IPV4 => Some(link::linktype::IPV4),
        header_protocol::IPV6 => Some(link::linktype::IPV6),
        _ => None,
    });
    if let (Some(h), Some(linktype)) = (r.header, linktype) {
        dissector.dissect(linktype, h.bytes, d);
        l3 = packet_facts(row, d, linktype == link::linktype::ETHERNET);
    } else if let Some(ip) = r.ip {
        l3 = ip_facts(row, &ip);
    }
    if let (None, Some((src, dst))) = (row.src_mac, r.macs) {
        (row.src_mac, row.dst_mac) = (Some(src), Some(dst));
    }
    row.vlan = row.vlan.or(r.src_vlan);
    row.next_hop = r.next_hop;
    row.src_as = r.src_as;
    row.dst_as = r.dst_as;
    let mut repaired = false;
    if let Some(t) = r.tunnel {
        let mut outer = t.outer;
        repaired = unswap_ports(&mut outer, dissector);
        encapsulate(row, &outer, r.vni, dissector);
    } else if row.tunnel_key.is_none() {
        // A VNI record without a tunnel record: the segment is known, the outer packet not.
        row.tunnel_key = r.vni;
    }
    row.bytes_reported = l3.map(u64::from);
    row.bytes = l3.map(|n| (n as u64).saturating_mul(rate.unwrap_or(1) as u64));
    repaired
}

/// Fills the row from a dissected header; returns the outermost packet's layer-3 length
/// (none for a non-IP frame or an offload super-packet).
fn packet_facts(row: &mut FlowRow<'_>, d: &Dissection, ethernet: bool) -> Option<u32> {
    if ethernet {
        (row.src_mac, row.dst_mac, row.vlan) = (Some(d.l2.src_mac), Some(d.l2.dst_mac), d.l2.vlan);
    }
    let outer = *d.outer()?;
    (row.src_addr, row.dst_addr, row.protocol, row.tos) =
        (Some(outer.src), Some(outer.dst), Some(outer.protocol), Some(outer.tos));
    let ports = match d.tunnel() {
        Some(t) if t.dst_port != 0 => Some((t.src_port, t.dst_port)),
        Some(_) => None,
        None => d.transport.map(|t| (t.src_port, t.dst_port)),
    };
    (row.src_port, row.dst_port) = (ports.map(|p| p.0), ports.map(|p| p.1));
    if d.tunnel().is_none() && outer.protocol == ip_protocol::TCP {
        row.tcp_flags = d.transport.map(|t| t.tcp_flags);
    }
    if let Some(i) = d.icmp {
        (row.icmp_type, row.icmp_code, row.icmp_mtu) =
            (Some(i.msg_type), Some(i.code), i.mtu.filter(|&m| m != 0));
    }
    let df = !outer.is_v6 && outer.dont_frag;
    let fragment = d.ips().iter().any(|ip| ip.is_fragment());
    row.df_packets = Some(df as u64);
    row.fragments = Some(fragment as u64);
    row.fragment_flags =
        Some(if df { fragment_flags::DF } else { 0 } | if outer.more_frags { fragment_flags::MF } else { 0 });
    let offload = outer.is_offload();
    row.offload_packets = Some(offload as u64);
    if !offload {
        (row.min_ip_len, row.max_ip_len) = (Some(outer.total_len), Some(outer.total_len));
    }
    if let (Some(t), Some(inner)) = (d.tunnel(), d.inner()) {
        row.tunnel_type = Some(t.kind.label());
        row.tunnel_key = t.key;
        (row.tunnel_src, row.tunnel_dst) = (Some(outer.src), Some(outer.dst));
        (row.tunnel_src_port, row.tunnel_dst_port) = (row.src_port, row.dst_port);
        (row.inner_src_addr, row.inner_dst_addr, row.inner_protocol) =
            (Some(inner.src), Some(inner.dst), Some(inner.protocol));
        let inner_ports =
            d.transport.filter(|_| inner.protocol == ip_protocol::TCP || inner.protocol == ip_protocol::UDP);
        (row.inner_src_port, row.inner_dst_port) =
            (inner_ports.map(|t| t.src_port), inner_ports.map(|t| t.dst_port));
        row.max_inner_ip_len = (!inner.len_from_capture).then_some(inner.total_len);
    }
    (!offload).then_some(outer.total_len)
}

/// Fills the row from an IPv4/IPv6 data record (a sample without a header); returns its
/// layer-3 length, none for 0 or above any link's MTU (an offload super-packet, as for
/// sampled headers).
fn ip_facts(row: &mut FlowRow<'_>, ip: &SampledIp) -> Option<u32> {
    (row.src_addr, row.dst_addr, row.protocol, row.tos) =
        (Some(ip.src), Some(ip.dst), Some(ip.protocol), Some(ip.tos));
    if ip.protocol == ip_protocol::TCP || ip.protocol == ip_protocol::UDP {
        (row.src_port, row.dst_port) = (Some(ip.src_port), Some(ip.dst_port));
    }
    if ip.protocol == ip_protocol::TCP {
        row.tcp_flags = Some(ip.tcp_flags);
    }
    let offload = ip.length == 0 || ip.length > MAX_WIRE_IP_LEN;
    row.offload_packets = Some(offload as u64);
    let l3 = (!offload).then_some(ip.length);
    (row.min_ip_len, row.max_ip_len) = (l3, l3);
    l3
}

/// A tunnel record names the encapsulating packet, and the sampled header is the packet
/// inside it (Open vSwitch samples before encapsulation and after decapsulation): the
/// header's facts move to the `inner_*` columns, the record's to the outer ones, as for
/// Open vSwitch's IPFIX tunnel elements.
fn encapsulate(row: &mut FlowRow<'_>, outer: &SampledIp, vni: Option<u32>, dissector: &Dissector) {
    let carries_ports = row.protocol == Some(ip_protocol::TCP) || row.protocol == Some(ip_protocol::UDP);
    (row.inner_src_addr, row.inner_dst_addr, row.inner_protocol) = (row.src_addr, row.dst_addr, row.protocol);
    (row.inner_src_port, row.inner_dst_port) =
        if carries_ports { (row.src_port, row.dst_port) } else { (None, None) };
    row.max_inner_ip_len = row.max_ip_len;
    let kind = match outer.protocol {
        ip_protocol::GRE => Some(TunnelKind::Gre),
        ip_protocol::UDP => dissector.tunnel_on_port(outer.dst_port),
        _ => None,
    };
    row.tunnel_type = Some(kind.map_or("unknown", TunnelKind::label));
    row.tunnel_key = vni;
    (row.tunnel_src, row.tunnel_dst) = (Some(outer.src), Some(outer.dst));
    let udp = outer.protocol == ip_protocol::UDP;
    (row.tunnel_src_port, row.tunnel_dst_port) =
        if udp { (Some(outer.src_port), Some(outer.dst_port)) } else { (None, None) };
    (row.src_addr, row.dst_addr, row.protocol) = (Some(outer.src), Some(outer.dst), Some(outer.protocol));
    (row.src_port, row.dst_port) = (row.tunnel_src_port, row.tunnel_dst_port);
    (row.tcp_flags, row.tos) = (None, Some(outer.tos));
    // The record's length is the outer packet's when the agent knows it (Open vSwitch
    // sends 0); the DF bit and fragments of the outer packet are not in the record, so
    // `fragments`, `offload_packets` and the ICMP columns stay those of the sampled
    // (inner) packet.
    let outer_len = (outer.length != 0).then_some(outer.length);
    (row.min_ip_len, row.max_ip_len) = (outer_len, outer_len);
    (row.df_packets, row.fragment_flags) = (None, None);
}

/// Open vSwitch writes the UDP ports of its tunnel records in the wrong byte order (it
/// copies network-order ports into host-order fields): VXLAN's 4789 arrives as 46354.
/// When the swapped destination port is a tunnel port and the port as sent is not, both
/// ports are swapped back. Returns whether they were.
pub fn unswap_ports(ip: &mut SampledIp, dissector: &Dissector) -> bool {
    let swapped = ip.protocol == ip_protocol::UDP
        && dissector.tunnel_on_port(ip.dst_port).is_none()
        && dissector.tunnel_on_port(ip.dst_port.swap_bytes()).is_some();
    if swapped {
        (ip.src_port, ip.dst_port) = (ip.src_port.swap_bytes(), ip.dst_port.swap_bytes());
    }
    swapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovs_tunnel_ports_are_swapped_back_only_when_that_names_a_tunnel() {
        let d = Dissector::default();
        let mut ingress =
            SampledIp { protocol: 17, src_port: 29880, dst_port: 46354, ..SampledIp::default() };
        assert!(unswap_ports(&mut ingress, &d));
        assert_eq!((ingress.src_port, ingress.dst_port), (47220, 4789));
        let mut right = SampledIp { protocol: 17, src_port: 47220, dst_port: 4789, ..SampledIp::default() };
        assert!(!unswap_ports(&mut right, &d));
        assert_eq!(right.dst_port, 4789);
        let mut other = SampledIp { protocol: 17, src_port: 1, dst_port: 443, ..SampledIp::default() };
        assert!(!unswap_ports(&mut other, &d));
        let mut gre = SampledIp { protocol: 47, dst_port: 46354, ..SampledIp::default() };
        assert!(!unswap_ports(&mut gre, &d));
    }
}
