//! One flow of captured packets: its key (inner 5-tuple, tunnel, outer endpoints) and the
//! evidence it gathers packet by packet, the MTU evidence of the `flows` table among it.

use crate::addr::Addr16;
use crate::packet::dissect::{Dissection, IpHeader, TunnelKind};
use crate::packet::{fragment_flags, ip_protocol, tcp};
use crate::schema::FlowRow;
use crate::source_kind::SourceKind;

/// What makes packets one flow: the innermost 5-tuple, the outermost tunnel (kind and key)
/// and its endpoints. Untunnelled packets leave the tunnel fields zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub src: Addr16,
    pub dst: Addr16,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub tunnel: Option<TunnelKind>,
    pub tunnel_key: u32,
    /// The EtherType a tunnel carries when it is not IP (ARP inside VXLAN, say); the inner
    /// 5-tuple is then zero. 0 for IP.
    pub inner_ethertype: u16,
    pub tunnel_src: Addr16,
    pub tunnel_dst: Addr16,
}

impl std::hash::Hash for FlowKey {
    /// Whole words instead of the derived field-by-field bytes (with a length before each
    /// address): the table hashes a key per packet.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u128(u128::from_ne_bytes(self.src));
        h.write_u128(u128::from_ne_bytes(self.dst));
        h.write_u64(
            (self.src_port as u64) << 48
                | (self.dst_port as u64) << 32
                | (self.protocol as u64) << 24
                | (self.tunnel.map_or(0, |t| t as u64 + 1)) << 16
                | self.inner_ethertype as u64,
        );
        if self.tunnel.is_some() {
            h.write_u32(self.tunnel_key);
            h.write_u128(u128::from_ne_bytes(self.tunnel_src));
            h.write_u128(u128::from_ne_bytes(self.tunnel_dst));
        }
    }
}

impl FlowKey {
    /// The key of a dissected packet, `None` for packets without an IP header.
    pub fn of(d: &Dissection) -> Option<FlowKey> {
        let ip = d.innermost()?;
        let (src_port, dst_port) = match (d.transport, d.icmp) {
            (Some(t), _) => (t.src_port, t.dst_port),
            // ICMP flows are told apart by type and code, as NetFlow does.
            (None, Some(i)) => (0, u16::from_be_bytes([i.msg_type, i.code])),
            _ => (0, 0),
        };
        let mut key = FlowKey {
            src: ip.src,
            dst: ip.dst,
            src_port,
            dst_port,
            protocol: ip.protocol,
            tunnel: None,
            tunnel_key: 0,
            inner_ethertype: 0,
            tunnel_src: [0; 16],
            tunnel_dst: [0; 16],
        };
        if let (Some(t), Some(outer)) = (d.tunnel(), d.outer()) {
            key.tunnel = Some(t.kind);
            key.tunnel_key = t.key.unwrap_or(0);
            key.tunnel_src = outer.src;
            key.tunnel_dst = outer.dst;
            if d.inner().is_none() {
                // The tunnel carries no IP: the innermost IP header is the tunnel's own.
                key.inner_ethertype = d.other_ethertype.unwrap_or(u16::MAX);
                (key.src, key.dst, key.src_port, key.dst_port, key.protocol) = ([0; 16], [0; 16], 0, 0, 0);
            }
        }
        Some(key)
    }

    /// The key of the opposite direction.
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            tunnel_src: self.tunnel_dst,
            tunnel_dst: self.tunnel_src,
            ..*self
        }
    }
}

/// Why a flow was written out (IPFIX flowEndReason, IE 136).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Idle = 1,
    Active = 2,
    /// FIN or RST seen.
    EndOfFlow = 3,
    /// End of the capture or shutdown.
    Forced = 4,
    /// The table was full and this was the flow seen least recently.
    Evicted = 5,
}

/// The state of one flow.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flow {
    pub first_us: i64,
    pub last_us: i64,
    pub packets: u64,
    /// Layer-3 bytes of the outermost packets.
    pub bytes: u64,
    pub min_ip_len: u32,
    pub max_ip_len: u32,
    pub max_inner_ip_len: u32,
    pub df_packets: u64,
    pub fragments: u64,
    pub offload_packets: u64,
    pub full_size_retransmits: u64,
    pub icmp_mtu: Option<u32>,
    pub tcp_flags: u16,
    pub fragment_flags: u8,
    // First-packet facts: the outermost header and its link.
    pub outer_src: Addr16,
    pub outer_dst: Addr16,
    pub outer_src_port: Option<u16>,
    pub outer_dst_port: Option<u16>,
    pub outer_protocol: u8,
    pub tos: u8,
    pub vlan: Option<u16>,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub icmp: Option<(u8, u8)>,
    // TCP tracking for retransmissions and offload.
    /// The MSS this side advertised in its SYN.
    pub mss: Option<u16>,
    /// The MSS the other side advertised: the largest segment this side may send.
    pub peer_mss: Option<u16>,
    next_seq: Option<u32>,
    max_payload: u32,
    /// The last data segment: its sequence number, IP identification and time, to tell a
    /// second copy of one packet (a capture on two interfaces, `-i any`) from a resend.
    last_segment: Option<(u32, u32, i64)>,
}

impl Flow {
    /// A flow whose first packet is `d`, captured at `ts_us`.
    pub fn start(d: &Dissection, ts_us: i64) -> Flow {
        let outer = d.outer().copied().unwrap_or_default();
        // The outermost packet's ports: a UDP tunnel's, or the transport's when untunnelled.
        let outer_ports = match d.tunnel() {
            Some(t) if t.dst_port != 0 => Some((t.src_port, t.dst_port)),
            Some(_) => None,
            None => d.transport.map(|t| (t.src_port, t.dst_port)),
        };
        Flow {
            first_us: ts_us,
            last_us: ts_us,
            min_ip_len: u32::MAX,
            outer_src: outer.src,
            outer_dst: outer.dst,
            outer_src_port: outer_ports.map(|p| p.0),
            outer_dst_port: outer_ports.map(|p| p.1),
            outer_protocol: outer.protocol,
            tos: outer.tos,
            vlan: d.l2.vlan,
            src_mac: d.l2.src_mac,
            dst_mac: d.l2.dst_mac,
            icmp: d.icmp.map(|i| (i.msg_type, i.code)),
            ..Flow::default()
        }
    }

    /// The same connection counted afresh after an active timeout: what it learned of TCP
    /// (the MSS of both sides, the data sent so far) carries over.
    pub fn restart(&mut self, d: &Dissection, ts_us: i64) {
        let (mss, peer_mss, next_seq, max_payload) =
            (self.mss, self.peer_mss, self.next_seq, self.max_payload);
        let last_segment = self.last_segment;
        *self = Flow { mss, peer_mss, next_seq, max_payload, last_segment, ..Flow::start(d, ts_us) };
    }

    /// Adds one packet. Returns true when it ends the flow (FIN or RST).
    pub fn add(&mut self, d: &Dissection, ts_us: i64) -> bool {
        self.last_us = self.last_us.max(ts_us);
        self.packets += 1;
        let Some(outer) = d.outer() else { return false };
        self.bytes += outer.total_len as u64;
        if outer.dont_frag && !outer.is_v6 {
            self.df_packets += 1;
            self.fragment_flags |= fragment_flags::DF;
        }
        let (fragment, more) =
            d.ips().iter().fold((false, false), |(f, m), ip| (f || ip.is_fragment(), m || ip.more_frags));
        self.fragments += fragment as u64;
        if more {
            self.fragment_flags |= fragment_flags::MF;
        }
        if let Some(mtu) = d.icmp.and_then(|i| i.mtu) {
            self.icmp_mtu = Some(self.icmp_mtu.map_or(mtu, |m| m.min(mtu)));
        }
        let Some(t) = d.transport.filter(|_| d.innermost().is_some_and(|ip| ip.protocol == ip_protocol::TCP))
        else {
            self.add_lengths(outer, d, false);
            return false;
        };
        self.tcp_flags |= t.tcp_flags;
        if t.tcp_flags & tcp::flags::SYN != 0 && t.mss.is_some() {
            self.mss = t.mss;
        }
        let offload = self.is_offload_segment(t.payload_len);
        self.add_lengths(outer, d, offload);
        let ident = d.innermost().map_or(0, |ip| ip.ident);
        self.track_retransmission(t.seq, t.payload_len, offload, (ident, ts_us));
        t.tcp_flags & (tcp::flags::FIN | tcp::flags::RST) != 0
    }

    /// A TCP segment larger than the other side's MSS (which bounds what this side sends)
    /// was cut into MSS-size segments by the NIC (or glued together by GRO) after the
    /// capture saw it.
    fn is_offload_segment(&self, payload_len: u32) -> bool {
        self.peer_mss.is_some_and(|mss| payload_len > mss as u32)
    }

    fn add_lengths(&mut self, outer: &IpHeader, d: &Dissection, offload: bool) {
        let inner = d.inner();
        if offload || outer.is_offload() || inner.is_some_and(IpHeader::is_offload) {
            self.offload_packets += 1;
            return;
        }
        self.min_ip_len = self.min_ip_len.min(outer.total_len);
        self.max_ip_len = self.max_ip_len.max(outer.total_len);
        if let Some(ip) = inner {
            self.max_inner_ip_len = self.max_inner_ip_len.max(ip.total_len);
        }
    }

    /// A segment that carries only data already sent is a retransmission; one as large as
    /// the largest the flow has sent is a full-size one, the signature of a path-MTU black
    /// hole when they repeat. An offload super-packet moves the sequence on but is no size
    /// to compare with; a second copy of the same packet (the same IP identification, or
    /// within 100 µs, for IPv6 which has none) is the capture seeing it twice, not a resend.
    fn track_retransmission(
        &mut self,
        seq: u32,
        payload_len: u32,
        offload: bool,
        (ident, ts_us): (u32, i64),
    ) {
        if payload_len == 0 {
            return;
        }
        let copy = self
            .last_segment
            .is_some_and(|(s, i, t)| s == seq && (i == ident && ident != 0 || ts_us - t < 100));
        self.last_segment = Some((seq, ident, ts_us));
        if copy {
            return;
        }
        let end = seq.wrapping_add(payload_len);
        match self.next_seq {
            Some(next) if (end.wrapping_sub(next) as i32) <= 0 => {
                if !offload && payload_len >= self.max_payload {
                    self.full_size_retransmits += 1;
                }
            }
            _ => self.next_seq = Some(end),
        }
        if !offload {
            self.max_payload = self.max_payload.max(payload_len);
        }
    }

    /// The `flows` row of this flow.
    pub fn row<'a>(&self, key: &FlowKey, exporter: Addr16, reason: EndReason) -> FlowRow<'a> {
        let icmp = self.icmp;
        let mut row = FlowRow {
            time_received: Some(self.last_us),
            flow_start: Some(self.first_us),
            flow_end: Some(self.last_us),
            exporter: Some(exporter),
            source_kind: Some(SourceKind::Pcap.as_str()),
            sampling_rate: Some(1),
            bytes: Some(self.bytes),
            packets: Some(self.packets),
            bytes_reported: Some(self.bytes),
            packets_reported: Some(self.packets),
            src_addr: Some(self.outer_src),
            dst_addr: Some(self.outer_dst),
            src_port: self.outer_src_port,
            dst_port: self.outer_dst_port,
            protocol: Some(self.outer_protocol),
            tos: Some(self.tos),
            vlan: self.vlan,
            src_mac: Some(self.src_mac),
            dst_mac: Some(self.dst_mac),
            min_ip_len: (self.min_ip_len != u32::MAX).then_some(self.min_ip_len),
            max_ip_len: (self.max_ip_len != 0).then_some(self.max_ip_len),
            df_packets: Some(self.df_packets),
            fragments: Some(self.fragments),
            offload_packets: Some(self.offload_packets),
            icmp_mtu: self.icmp_mtu,
            icmp_type: icmp.map(|i| i.0),
            icmp_code: icmp.map(|i| i.1),
            fragment_flags: Some(self.fragment_flags),
            flow_end_reason: Some(reason as u8),
            ..FlowRow::default()
        };
        if key.protocol == ip_protocol::TCP {
            row.tcp_flags = Some(self.tcp_flags);
            row.full_size_retransmits = Some(self.full_size_retransmits);
        }
        if let Some(kind) = key.tunnel {
            row.tunnel_type = Some(kind.label());
            row.tunnel_key = Some(key.tunnel_key);
            row.tunnel_src = Some(key.tunnel_src);
            row.tunnel_dst = Some(key.tunnel_dst);
            row.tunnel_src_port = self.outer_src_port;
            row.tunnel_dst_port = self.outer_dst_port;
            row.max_inner_ip_len = (self.max_inner_ip_len != 0).then_some(self.max_inner_ip_len);
            if key.inner_ethertype != 0 {
                return row;
            }
            row.inner_src_addr = Some(key.src);
            row.inner_dst_addr = Some(key.dst);
            let ports = key.protocol == ip_protocol::TCP || key.protocol == ip_protocol::UDP;
            row.inner_src_port = ports.then_some(key.src_port);
            row.inner_dst_port = ports.then_some(key.dst_port);
            row.inner_protocol = Some(key.protocol);
        }
        row
    }
}
