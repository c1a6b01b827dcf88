//! The walk from a captured frame to its innermost packet, through any tunnels.
//!
//! [`Dissector::dissect`] fills a [`Dissection`]: every IP header on the way (outermost
//! first), the tunnel between each pair, the innermost transport header and, for ICMP
//! errors, what they say about the packet they quote. The dissection has no lifetime and
//! no heap: a caller keeps one and reuses it for every packet. The walk stops at the first
//! malformed header with a typed [`Error`] in [`Dissection::error`] and keeps what it read
//! above it, so a sampled header cut after 128 bytes still yields its outer packet.

use super::ethernet::{self, L2};
use super::{
    Error, Layer, Result, ethertype, geneve, gre, icmpv4, icmpv6, ip_protocol as proto, ipv4, ipv6, link,
    mpls, tcp, udp, vxlan,
};
use crate::addr::{Addr16, from_v4_bytes};

/// Most tunnels the walk opens; one more is [`Error::TooDeep`].
pub const MAX_TUNNELS: usize = 6;
/// Most IP headers a dissection holds: one per tunnel and the innermost.
pub const MAX_IPS: usize = MAX_TUNNELS + 1;

/// An encapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    Vxlan,
    Geneve,
    Gre,
    /// GRE carrying mirrored frames (ERSPAN type I/II/III).
    Erspan,
    /// IPv4 inside IP (protocol 4).
    Ipip,
    /// IPv6 inside IP (protocol 41: 6in4, 6in6).
    Ipv6InIp,
    GreInUdp,
    MplsInUdp,
}

impl TunnelKind {
    /// The `tunnel_type` value of the `flows` table.
    pub const fn label(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Ipip => "ipip",
            TunnelKind::Ipv6InIp => "ipv6_in_ip",
            TunnelKind::GreInUdp => "gre_udp",
            TunnelKind::MplsInUdp => "mpls_udp",
        }
    }
}

/// One IP header on the way in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpHeader {
    pub src: Addr16,
    pub dst: Addr16,
    pub is_v6: bool,
    /// The upper-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// The IP length an MTU is compared with: IPv4 total length, IPv6 40 + payload length.
    /// When the field is 0 (TSO/GSO and BIG TCP captures), the captured length.
    pub total_len: u32,
    /// The length field was 0 and `total_len` comes from the capture.
    pub len_from_capture: bool,
    /// Header bytes, IPv6 extension headers included.
    pub header_len: u16,
    pub tos: u8,
    pub ttl: u8,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// Fragment identification (IPv4 ident, IPv6 fragment header ident).
    pub ident: u32,
    /// An IPv6 fragment header was present (atomic fragments have offset 0 and no MF).
    pub has_fragment_header: bool,
    /// The capture holds less than the length field says.
    pub truncated: bool,
}

/// The largest IP packet a link can carry without offload; anything above it in a capture
/// was put together by GSO/TSO/GRO (or BIG TCP) and never crossed a wire as one packet.
pub const MAX_WIRE_IP_LEN: u32 = 9216;

impl IpHeader {
    /// Whether this packet is a fragment of a larger one.
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// Whether this is an offload super-packet rather than one that crossed a wire: a
    /// length of 0 (read from the capture instead) or above any link's MTU.
    pub fn is_offload(&self) -> bool {
        self.len_from_capture || self.total_len > MAX_WIRE_IP_LEN
    }
}

/// A tunnel: the encapsulation between IP header `i` (its endpoints) and IP header `i + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// VNI (VXLAN, GENEVE), GRE key, ERSPAN session or MPLS label.
    pub key: Option<u32>,
    /// UDP ports of UDP-based tunnels.
    pub src_port: u16,
    pub dst_port: u16,
    /// GENEVE option bytes.
    pub options_len: u16,
}

/// The innermost transport header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transport {
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP only from here on.
    pub tcp_flags: u16,
    pub seq: u32,
    pub ack: u32,
    pub mss: Option<u16>,
    /// Transport payload bytes by the length fields (not the captured bytes).
    pub payload_len: u32,
}

/// What an ICMP or ICMPv6 message says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Icmp {
    pub msg_type: u8,
    pub code: u8,
    /// The next-hop MTU of a frag-needed, or the MTU of a Packet Too Big.
    pub mtu: Option<u32>,
    /// The header of the packet an error quotes.
    pub quoted: Option<Quoted>,
}

/// The original packet an ICMP error quotes: who sent what, how large.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quoted {
    pub src: Addr16,
    pub dst: Addr16,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub total_len: u32,
    pub dont_frag: bool,
}

/// Everything a walk read from one frame. Reused across packets: [`Dissector::dissect`]
/// resets the counts, not the arrays.
#[derive(Clone, Debug)]
pub struct Dissection {
    /// Captured bytes of the frame.
    pub frame_len: u32,
    /// The outermost link header.
    pub l2: L2,
    /// The innermost Ethernet header inside a tunnel (VXLAN, GENEVE, L2 GRE, ERSPAN).
    pub inner_l2: Option<L2>,
    /// The EtherType where the walk left the IP world (ARP, LLDP, ...), if it did.
    pub other_ethertype: Option<u16>,
    ips: [IpHeader; MAX_IPS],
    ip_count: u8,
    tunnels: [Tunnel; MAX_TUNNELS],
    tunnel_count: u8,
    pub transport: Option<Transport>,
    pub icmp: Option<Icmp>,
    /// Where the innermost transport payload starts in the frame, and its captured length.
    pub payload_at: u32,
    pub payload_captured: u32,
    /// A header on a tunnel port that did not validate; the packet was read as plain UDP.
    pub not_a_tunnel: Option<Error>,
    /// Where and why the walk stopped early.
    pub error: Option<Error>,
}

impl Default for Dissection {
    fn default() -> Self {
        Dissection {
            frame_len: 0,
            l2: L2::default(),
            inner_l2: None,
            other_ethertype: None,
            ips: [IpHeader::default(); MAX_IPS],
            ip_count: 0,
            tunnels: [Tunnel { kind: TunnelKind::Vxlan, key: None, src_port: 0, dst_port: 0, options_len: 0 };
                MAX_TUNNELS],
            tunnel_count: 0,
            transport: None,
            icmp: None,
            payload_at: 0,
            payload_captured: 0,
            not_a_tunnel: None,
            error: None,
        }
    }
}

impl Dissection {
    fn reset(&mut self, frame_len: usize) {
        self.frame_len = frame_len as u32;
        self.l2 = L2::default();
        self.inner_l2 = None;
        self.other_ethertype = None;
        self.ip_count = 0;
        self.tunnel_count = 0;
        self.transport = None;
        self.icmp = None;
        self.payload_at = 0;
        self.payload_captured = 0;
        self.not_a_tunnel = None;
        self.error = None;
    }

    /// Every IP header, outermost first.
    pub fn ips(&self) -> &[IpHeader] {
        &self.ips[..self.ip_count as usize]
    }

    /// The tunnels, outermost first; tunnel `i` is carried by `ips()[i]`.
    pub fn tunnels(&self) -> &[Tunnel] {
        &self.tunnels[..self.tunnel_count as usize]
    }

    pub fn outer(&self) -> Option<&IpHeader> {
        self.ips().first()
    }

    /// The innermost IP header, when a tunnel carried one.
    pub fn inner(&self) -> Option<&IpHeader> {
        (self.ip_count > 1).then(|| &self.ips[self.ip_count as usize - 1])
    }

    /// The innermost IP header, tunnelled or not.
    pub fn innermost(&self) -> Option<&IpHeader> {
        self.ips().last()
    }

    /// The outermost tunnel.
    pub fn tunnel(&self) -> Option<&Tunnel> {
        self.tunnels().first()
    }

    /// The innermost transport payload as captured.
    pub fn payload<'f>(&self, frame: &'f [u8]) -> &'f [u8] {
        let at = self.payload_at as usize;
        frame.get(at..at + self.payload_captured as usize).unwrap_or_default()
    }
}

/// What a UDP destination port says is inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpTunnel {
    Vxlan,
    Geneve,
    GreInUdp,
    MplsInUdp,
}

/// Most UDP tunnel ports a dissector knows.
pub const MAX_TUNNEL_PORTS: usize = 16;

/// Walks frames. Holds which UDP ports carry which tunnel and how deep to go.
#[derive(Clone, Debug)]
pub struct Dissector {
    ports: [(u16, UdpTunnel); MAX_TUNNEL_PORTS],
    port_count: usize,
    max_tunnels: usize,
}

impl Default for Dissector {
    /// VXLAN on 4789 and 8472, GENEVE on 6081, GRE-in-UDP on 4754, MPLS-in-UDP on 6635.
    fn default() -> Self {
        let mut d = Dissector {
            ports: [(0, UdpTunnel::Vxlan); MAX_TUNNEL_PORTS],
            port_count: 0,
            max_tunnels: MAX_TUNNELS,
        };
        for p in vxlan::PORTS {
            d.add_port(p, UdpTunnel::Vxlan);
        }
        d.add_port(geneve::PORT, UdpTunnel::Geneve);
        d.add_port(4754, UdpTunnel::GreInUdp);
        d.add_port(6635, UdpTunnel::MplsInUdp);
        d
    }
}

/// Where the walk goes next.
enum Step<'a> {
    Ethernet(&'a [u8]),
    EtherType(u16, &'a [u8]),
    Done,
}

impl Dissector {
    /// Reads `port` as carrying `tunnel` (replacing what it carried). Returns false when
    /// the table is full.
    pub fn add_port(&mut self, port: u16, tunnel: UdpTunnel) -> bool {
        if let Some(e) = self.ports[..self.port_count].iter_mut().find(|(p, _)| *p == port) {
            e.1 = tunnel;
            return true;
        }
        if self.port_count == MAX_TUNNEL_PORTS {
            return false;
        }
        self.ports[self.port_count] = (port, tunnel);
        self.port_count += 1;
        true
    }

    /// Opens at most `n` tunnels (at most [`MAX_TUNNELS`]).
    pub fn with_max_tunnels(mut self, n: usize) -> Self {
        self.max_tunnels = n.min(MAX_TUNNELS);
        self
    }

    /// The tunnel this dissector reads on a UDP destination port, if any (sFlow's tunnel
    /// records name the ports, not the encapsulation).
    pub fn tunnel_on_port(&self, dst_port: u16) -> Option<TunnelKind> {
        self.udp_tunnel(dst_port).map(|t| match t {
            UdpTunnel::Vxlan => TunnelKind::Vxlan,
            UdpTunnel::Geneve => TunnelKind::Geneve,
            UdpTunnel::GreInUdp => TunnelKind::GreInUdp,
            UdpTunnel::MplsInUdp => TunnelKind::MplsInUdp,
        })
    }

    fn udp_tunnel(&self, dst_port: u16) -> Option<UdpTunnel> {
        self.ports[..self.port_count].iter().find(|(p, _)| *p == dst_port).map(|e| e.1)
    }

    /// Walks a frame of the given pcap link type into `d`.
    pub fn dissect(&self, linktype: i32, frame: &[u8], d: &mut Dissection) {
        d.reset(frame.len());
        let first = link::network(linktype, frame).map(|n| {
            d.l2 = n.l2;
            Step::EtherType(n.ethertype, n.packet)
        });
        if let Err(e) = first.and_then(|step| self.walk(step, frame, d)) {
            d.error = Some(e);
        }
    }

    /// Walks an Ethernet frame (an sFlow sampled header of protocol ethernet, for one).
    pub fn dissect_ethernet(&self, frame: &[u8], d: &mut Dissection) {
        self.dissect(link::linktype::ETHERNET, frame, d)
    }

    fn walk(&self, mut step: Step<'_>, frame: &[u8], d: &mut Dissection) -> Result<()> {
        loop {
            step = match step {
                Step::Ethernet(bytes) => {
                    let (l2, kind, rest) = ethernet::strip(bytes)?;
                    d.inner_l2 = Some(l2);
                    Step::EtherType(kind, rest)
                }
                Step::EtherType(ethertype::IPV4, bytes) => self.ipv4(bytes, frame, d)?,
                Step::EtherType(ethertype::IPV6, bytes) => self.ipv6(bytes, frame, d)?,
                Step::EtherType(ethertype::MPLS | ethertype::MPLS_MULTICAST, bytes) => {
                    let (_, rest) = mpls::pop_stack(bytes)?;
                    Step::EtherType(
                        link::raw_ethertype(rest).map_err(|_| Error::Unsupported(Layer::Mpls))?,
                        rest,
                    )
                }
                Step::EtherType(ethertype::CISCO_METADATA, bytes) => {
                    let (_, kind, rest) = ethernet::strip_metadata(bytes, false)?;
                    Step::EtherType(kind, rest)
                }
                Step::EtherType(other, _) => {
                    d.other_ethertype = Some(other);
                    Step::Done
                }
                Step::Done => return Ok(()),
            }
        }
    }

    fn push_ip(&self, d: &mut Dissection, ip: IpHeader) -> Result<()> {
        if d.ip_count as usize == MAX_IPS {
            return Err(Error::TooDeep(MAX_TUNNELS as u8));
        }
        d.ips[d.ip_count as usize] = ip;
        d.ip_count += 1;
        Ok(())
    }

    fn push_tunnel(&self, d: &mut Dissection, t: Tunnel) -> Result<()> {
        if d.tunnel_count as usize >= self.max_tunnels {
            return Err(Error::TooDeep(self.max_tunnels as u8));
        }
        d.tunnels[d.tunnel_count as usize] = t;
        d.tunnel_count += 1;
        Ok(())
    }

    fn ipv4<'a>(&self, bytes: &'a [u8], frame: &[u8], d: &mut Dissection) -> Result<Step<'a>> {
        let p = ipv4::Packet::new_checked(bytes)?;
        let (total, from_capture) = match p.total_len() {
            0 => (bytes.len() as u32, true),
            n => (n as u32, false),
        };
        self.push_ip(
            d,
            IpHeader {
                src: from_v4_bytes(p.src_addr()),
                dst: from_v4_bytes(p.dst_addr()),
                is_v6: false,
                protocol: p.protocol(),
                total_len: total,
                len_from_capture: from_capture,
                header_len: p.header_len() as u16,
                tos: p.tos(),
                ttl: p.ttl(),
                dont_frag: p.dont_frag(),
                more_frags: p.more_frags(),
                frag_offset: p.frag_offset(),
                ident: p.ident() as u32,
                has_fragment_header: false,
                truncated: p.is_truncated(),
            },
        )?;
        if p.frag_offset() != 0 {
            // Only the first fragment carries the transport header.
            return Ok(Step::Done);
        }
        let payload = p.payload();
        self.upper_layer(p.protocol(), payload, total.saturating_sub(p.header_len() as u32), frame, d)
    }

    fn ipv6<'a>(&self, bytes: &'a [u8], frame: &[u8], d: &mut Dissection) -> Result<Step<'a>> {
        let p = ipv6::Packet::new_checked(bytes)?;
        let (total, from_capture) = match p.payload_len() {
            0 => (bytes.len() as u32, true),
            _ => (p.total_len(), false),
        };
        let mut ip = IpHeader {
            src: p.src_addr(),
            dst: p.dst_addr(),
            is_v6: true,
            protocol: p.next_header(),
            total_len: total,
            len_from_capture: from_capture,
            header_len: ipv6::HEADER_LEN as u16,
            tos: p.traffic_class(),
            ttl: p.hop_limit(),
            truncated: p.is_truncated(),
            ..IpHeader::default()
        };
        let up = match p.upper_layer() {
            Ok(up) => up,
            Err(e) => {
                self.push_ip(d, ip)?;
                return Err(e);
            }
        };
        ip.protocol = up.protocol;
        ip.header_len += up.ext_len as u16;
        if let Some(f) = up.fragment {
            ip.has_fragment_header = true;
            ip.more_frags = f.more_frags;
            ip.frag_offset = f.offset;
            ip.ident = f.ident;
        }
        self.push_ip(d, ip)?;
        if ip.frag_offset != 0 {
            return Ok(Step::Done);
        }
        self.upper_layer(up.protocol, up.payload, total.saturating_sub(ip.header_len as u32), frame, d)
    }

    /// The step after an IP header: a tunnel, a transport header or the end.
    fn upper_layer<'a>(
        &self,
        protocol: u8,
        payload: &'a [u8],
        payload_len: u32,
        frame: &[u8],
        d: &mut Dissection,
    ) -> Result<Step<'a>> {
        let plain = |kind| Tunnel { kind, key: None, src_port: 0, dst_port: 0, options_len: 0 };
        match protocol {
            proto::IPV4 => {
                self.push_tunnel(d, plain(TunnelKind::Ipip))?;
                Ok(Step::EtherType(ethertype::IPV4, payload))
            }
            proto::IPV6 => {
                self.push_tunnel(d, plain(TunnelKind::Ipv6InIp))?;
                Ok(Step::EtherType(ethertype::IPV6, payload))
            }
            proto::GRE => self.gre(payload, d, plain(TunnelKind::Gre)),
            proto::UDP => self.udp(payload, frame, d),
            proto::TCP => {
                let t = tcp::Packet::new_checked(payload)?;
                let mss = t.mss();
                let hl = t.header_len();
                d.transport = Some(Transport {
                    src_port: t.src_port(),
                    dst_port: t.dst_port(),
                    tcp_flags: t.flags(),
                    seq: t.seq_number(),
                    ack: t.ack_number(),
                    mss: mss.unwrap_or(None),
                    payload_len: payload_len.saturating_sub(hl as u32),
                });
                set_payload(d, frame, t.payload());
                mss.map(|_| Step::Done)
            }
            proto::ICMP => {
                let m = icmpv4::Packet::new_checked(payload)?;
                let mut icmp = Icmp {
                    msg_type: m.msg_type(),
                    code: m.code(),
                    // Pre-RFC-1191 routers send a next-hop MTU of 0: no MTU at all.
                    mtu: m.next_hop_mtu().filter(|&v| v != 0).map(u32::from),
                    quoted: None,
                };
                let quoted = m.quoted().filter(|q| !q.is_empty()).map(quote).transpose();
                icmp.quoted = quoted.unwrap_or(None);
                d.icmp = Some(icmp);
                quoted.map(|_| Step::Done)
            }
            proto::ICMPV6 => {
                let m = icmpv6::Packet::new_checked(payload)?;
                let mut icmp = Icmp { msg_type: m.msg_type(), code: m.code(), mtu: m.mtu(), quoted: None };
                let quoted = m.quoted().filter(|q| !q.is_empty()).map(quote).transpose();
                icmp.quoted = quoted.unwrap_or(None);
                d.icmp = Some(icmp);
                quoted.map(|_| Step::Done)
            }
            _ => Ok(Step::Done),
        }
    }

    fn udp<'a>(&self, bytes: &'a [u8], frame: &[u8], d: &mut Dissection) -> Result<Step<'a>> {
        let u = udp::Packet::new_checked(bytes)?;
        let (src_port, dst_port) = (u.src_port(), u.dst_port());
        if let Some(kind) = self.udp_tunnel(dst_port) {
            let tunnel = |kind, key, options_len| Tunnel { kind, key, src_port, dst_port, options_len };
            let opened = match kind {
                UdpTunnel::Vxlan => vxlan::Packet::new_checked(u.payload()).map(|v| {
                    (
                        tunnel(TunnelKind::Vxlan, Some(v.vni()), 0),
                        Step::Ethernet(&u.payload()[vxlan::HEADER_LEN..]),
                    )
                }),
                UdpTunnel::Geneve => geneve::Packet::new_checked(u.payload()).and_then(|g| {
                    g.options().try_for_each(|o| o.map(drop))?;
                    let t = tunnel(TunnelKind::Geneve, Some(g.vni()), g.options_len() as u16);
                    let inner = &u.payload()[g.header_len()..];
                    Ok((t, payload_step(g.protocol(), inner)))
                }),
                UdpTunnel::GreInUdp => {
                    match self.gre(u.payload(), d, tunnel(TunnelKind::GreInUdp, None, 0)) {
                        Ok(step) => return Ok(step),
                        Err(e) => Err(e),
                    }
                }
                UdpTunnel::MplsInUdp => mpls::pop_stack(u.payload()).map(|(label, _)| {
                    (
                        tunnel(TunnelKind::MplsInUdp, Some(label), 0),
                        Step::EtherType(ethertype::MPLS, u.payload()),
                    )
                }),
            };
            match opened {
                Ok((t, step)) => {
                    self.push_tunnel(d, t)?;
                    return Ok(step);
                }
                Err(e) => d.not_a_tunnel = Some(e),
            }
        }
        let payload_len = match u.length() {
            0 => u.payload().len() as u32,
            n => (n as u32).saturating_sub(udp::HEADER_LEN as u32),
        };
        d.transport = Some(Transport { src_port, dst_port, payload_len, ..Transport::default() });
        set_payload(d, frame, u.payload());
        match d.not_a_tunnel {
            // A tunnel header cut by the capture is not evidence that this is plain UDP.
            Some(e @ Error::Truncated(_)) => Err(e),
            _ => Ok(Step::Done),
        }
    }

    fn gre<'a>(&self, bytes: &'a [u8], d: &mut Dissection, mut t: Tunnel) -> Result<Step<'a>> {
        let g = gre::Packet::new_checked(bytes)?;
        t.key = g.key();
        let inner = g.payload();
        let step = match g.protocol() {
            p @ (ethertype::ERSPAN_II | ethertype::ERSPAN_III) => {
                let (session, len) = gre::erspan(p, g.has_sequence(), inner)?;
                t.kind = TunnelKind::Erspan;
                t.key = Some(session as u32);
                Step::Ethernet(&inner[len..])
            }
            ethertype::CISCO_METADATA => {
                let (_, kind, rest) = ethernet::strip_metadata(inner, true)?;
                payload_step(kind, rest)
            }
            p => payload_step(p, inner),
        };
        self.push_tunnel(d, t)?;
        Ok(step)
    }
}

/// The step for a tunnel payload of the given EtherType.
fn payload_step(protocol: u16, inner: &[u8]) -> Step<'_> {
    match protocol {
        ethertype::TEB => Step::Ethernet(inner),
        other => Step::EtherType(other, inner),
    }
}

/// Records where a transport payload sits in the frame.
fn set_payload(d: &mut Dissection, frame: &[u8], payload: &[u8]) {
    let at = (payload.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
    if at <= frame.len() {
        d.payload_at = at as u32;
        d.payload_captured = payload.len() as u32;
    }
}

/// Reads the original header an ICMP error quotes (IPv4 or IPv6, and its ports).
fn quote(bytes: &[u8]) -> Result<Quoted> {
    let (mut q, protocol, rest) = match link::raw_ethertype(bytes) {
        Ok(ethertype::IPV4) => {
            let p = ipv4::Packet::new_checked(bytes)?;
            let q = Quoted {
                src: from_v4_bytes(p.src_addr()),
                dst: from_v4_bytes(p.dst_addr()),
                protocol: p.protocol(),
                total_len: p.total_len() as u32,
                dont_frag: p.dont_frag(),
                ..Quoted::default()
            };
            let rest = if p.frag_offset() == 0 { &bytes[p.header_len()..] } else { &[][..] };
            (q, p.protocol(), rest)
        }
        Ok(_) => {
            let p = ipv6::Packet::new_checked(bytes)?;
            let q = Quoted {
                src: p.src_addr(),
                dst: p.dst_addr(),
                total_len: p.total_len(),
                ..Quoted::default()
            };
            // The quote is cut at 1280 bytes: a walk that runs off it still has the addresses.
            match p.upper_layer() {
                Ok(up) if up.fragment.is_none_or(|f| f.offset == 0) => (q, up.protocol, up.payload),
                Ok(up) => (q, up.protocol, &[][..]),
                Err(_) => (q, p.next_header(), &[][..]),
            }
        }
        Err(_) => return Err(Error::Version(Layer::Ipv4)),
    };
    q.protocol = protocol;
    if matches!(protocol, proto::TCP | proto::UDP) && rest.len() >= 4 {
        q.src_port = u16::from_be_bytes([rest[0], rest[1]]);
        q.dst_port = u16::from_be_bytes([rest[2], rest[3]]);
    }
    Ok(q)
}

#[cfg(test)]
#[path = "dissect_tests.rs"]
mod tests;
