//! The records of a flow sample (sFlow v5 `flow_data`, enterprise 0) that plumb reads:
//! the sampled header, the Ethernet/IPv4/IPv6 data records, the switch, router and
//! gateway extensions, and the tunnel records Open vSwitch and hosts send. Each is parsed
//! within its own opaque body; anything else is skipped by length and counted.

use super::stats::{SflowError, SflowStats};
use super::xdr::{Elements, Xdr};
use crate::addr::Addr16;

/// `flow_data` formats read here.
pub mod format {
    pub const SAMPLED_HEADER: u32 = 1;
    pub const SAMPLED_ETHERNET: u32 = 2;
    pub const SAMPLED_IPV4: u32 = 3;
    pub const SAMPLED_IPV6: u32 = 4;
    pub const EXTENDED_SWITCH: u32 = 1001;
    pub const EXTENDED_ROUTER: u32 = 1002;
    pub const EXTENDED_GATEWAY: u32 = 1003;
    pub const IPV4_TUNNEL_EGRESS: u32 = 1023;
    pub const IPV4_TUNNEL_INGRESS: u32 = 1024;
    pub const IPV6_TUNNEL_EGRESS: u32 = 1025;
    pub const IPV6_TUNNEL_INGRESS: u32 = 1026;
    pub const VNI_EGRESS: u32 = 1029;
    pub const VNI_INGRESS: u32 = 1030;
}

/// `header_protocol` values of a sampled header that the packet layer reads.
pub mod header_protocol {
    pub const ETHERNET: u32 = 1;
    pub const IPV4: u32 = 11;
    pub const IPV6: u32 = 12;
}

/// A sampled packet header (record 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledHeader<'a> {
    pub protocol: u32,
    /// The packet's length on the wire (with the FCS for Ethernet), before sampling.
    pub frame_length: u32,
    /// Bytes the agent removed from the frame before taking the header (an FCS, tags).
    pub stripped: u32,
    /// The first bytes of the packet (128 by default).
    pub bytes: &'a [u8],
}

/// An IPv4 or IPv6 data record (3, 4), also the outer header of a tunnel record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampledIp {
    /// The IP packet's length, lower layers excluded: layer 3.
    pub length: u32,
    pub protocol: u8,
    pub src: Addr16,
    pub dst: Addr16,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u16,
    /// TOS (IPv4) or traffic class (IPv6).
    pub tos: u8,
}

impl SampledIp {
    fn parse(body: &[u8], v6: bool) -> Result<SampledIp, SflowError> {
        let mut x = Xdr::new(body);
        let addr = |x: &mut Xdr<'_>| -> Result<Addr16, SflowError> {
            Ok(if v6 {
                let mut a = [0u8; 16];
                a.copy_from_slice(x.bytes(16)?);
                a
            } else {
                let b = x.bytes(4)?;
                crate::addr::from_v4_bytes([b[0], b[1], b[2], b[3]])
            })
        };
        let length = x.u32()?;
        let protocol = x.u32()? as u8;
        let (src, dst) = (addr(&mut x)?, addr(&mut x)?);
        Ok(SampledIp {
            length,
            protocol,
            src,
            dst,
            src_port: x.u32()? as u16,
            dst_port: x.u32()? as u16,
            tcp_flags: x.u32()? as u16,
            tos: x.u32()? as u8,
        })
    }
}

/// A tunnel record: the encapsulating packet's header, and whether the packet was leaving
/// (egress: encapsulated after sampling) or arriving (ingress: decapsulated before).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelHeader {
    pub outer: SampledIp,
    pub egress: bool,
}

/// What the records of one flow sample said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowRecords<'a> {
    pub header: Option<SampledHeader<'a>>,
    /// Record 2: source and destination MAC.
    pub macs: Option<([u8; 6], [u8; 6])>,
    /// Record 3 or 4.
    pub ip: Option<SampledIp>,
    /// Record 1001: the incoming 802.1Q VLAN (the port's VLAN when untagged).
    pub src_vlan: Option<u16>,
    /// Records 1002 and 1003.
    pub next_hop: Option<Addr16>,
    pub src_mask: Option<u8>,
    pub dst_mask: Option<u8>,
    pub src_as: Option<u32>,
    /// The last AS of the destination AS path.
    pub dst_as: Option<u32>,
    pub tunnel: Option<TunnelHeader>,
    /// Records 1029/1030.
    pub vni: Option<u32>,
}

impl<'a> FlowRecords<'a> {
    /// Reads every record; a record shorter than its fixed fields is counted and left
    /// out, unknown formats are skipped and counted, a length past the sample ends the list.
    #[inline]
    pub fn gather(mut records: Elements<'a>, stats: &mut SflowStats) -> FlowRecords<'a> {
        let mut r = FlowRecords::default();
        for e in records.by_ref() {
            if e.enterprise != 0 {
                stats.shared.elements_skipped += 1;
                continue;
            }
            match r.read(e.format, e.body) {
                Ok(true) => {}
                Ok(false) => stats.shared.elements_skipped += 1,
                Err(SflowError::BadAddressType) => stats.error(SflowError::BadAddressType),
                Err(_) => stats.error(SflowError::RecordTruncated),
            }
        }
        if let Some(e) = records.error() {
            stats.error(e);
        }
        r
    }

    /// Reads one record; false for a format not read here.
    fn read(&mut self, format: u32, body: &'a [u8]) -> Result<bool, SflowError> {
        let mut x = Xdr::new(body);
        match format {
            format::SAMPLED_HEADER => {
                let (protocol, frame_length, stripped) = (x.u32()?, x.u32()?, x.u32()?);
                self.header = Some(SampledHeader { protocol, frame_length, stripped, bytes: x.opaque()? });
            }
            format::SAMPLED_ETHERNET => {
                x.u32()?;
                let (src, dst) = (x.bytes(8)?, x.bytes(8)?);
                let mac = |b: &[u8]| [b[0], b[1], b[2], b[3], b[4], b[5]];
                self.macs = Some((mac(src), mac(dst)));
            }
            format::SAMPLED_IPV4 | format::SAMPLED_IPV6 => {
                self.ip = Some(SampledIp::parse(body, format == format::SAMPLED_IPV6)?);
            }
            format::EXTENDED_SWITCH => self.src_vlan = Some(x.u32()? as u16),
            format::EXTENDED_ROUTER => {
                self.next_hop = x.address()?;
                self.src_mask = Some(x.u32()? as u8);
                self.dst_mask = Some(x.u32()? as u8);
            }
            format::EXTENDED_GATEWAY => self.read_gateway(&mut x)?,
            format::IPV4_TUNNEL_EGRESS..=format::IPV6_TUNNEL_INGRESS => {
                let v6 = format >= format::IPV6_TUNNEL_EGRESS;
                let egress = format == format::IPV4_TUNNEL_EGRESS || format == format::IPV6_TUNNEL_EGRESS;
                self.tunnel = Some(TunnelHeader { outer: SampledIp::parse(body, v6)?, egress });
            }
            format::VNI_EGRESS | format::VNI_INGRESS => self.vni = Some(x.u32()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Record 1003: next hop, the router's own AS, the source AS, the source's peer AS,
    /// then the destination AS path as segments (type, ASes); communities and local
    /// preference follow and are not read.
    fn read_gateway(&mut self, x: &mut Xdr<'a>) -> Result<(), SflowError> {
        let next_hop = x.address()?;
        let _router_as = x.u32()?;
        let src_as = x.u32()?;
        let _src_peer_as = x.u32()?;
        let segments = x.u32()?;
        let mut last = None;
        for _ in 0..segments {
            let _kind = x.u32()?;
            let n = x.u32()? as usize;
            if n > x.rest().len() / 4 {
                return Err(SflowError::RecordTruncated);
            }
            x.skip_words(n.saturating_sub(1))?;
            if n > 0 {
                last = Some(x.u32()?);
            }
        }
        // Only a whole record counts: nothing of a cut one is kept.
        (self.next_hop, self.src_as, self.dst_as) = (self.next_hop.or(next_hop), Some(src_as), last);
        Ok(())
    }
}
