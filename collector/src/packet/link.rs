//! Link types of captures (the pcap `LINKTYPE_*` numbers) and the step from a captured
//! frame to its network-layer packet.

use super::cooked::{Sll, Sll2};
use super::ethernet::{self, L2};
use super::{Error, Layer, Result, ethertype};

/// The link types plumb reads.
pub mod linktype {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    /// Raw IP (the value some systems write for `LINKTYPE_RAW`).
    pub const RAW_OLD: i32 = 12;
    pub const RAW_BSD: i32 = 14;
    pub const RAW: i32 = 101;
    /// OpenBSD loopback: the address family in network byte order.
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
}

/// The network-layer packet of a frame: the link facts, its EtherType and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Network<'a> {
    pub l2: L2,
    pub ethertype: u16,
    pub packet: &'a [u8],
}

/// Strips the link header of a frame of the given link type. Link types plumb does not
/// read are [`Error::Unsupported`].
#[inline]
pub fn network(linktype: i32, frame: &[u8]) -> Result<Network<'_>> {
    use linktype::*;
    let bare = |ethertype, packet| Ok(Network { l2: L2::default(), ethertype, packet });
    match linktype {
        ETHERNET => {
            let (l2, ethertype, packet) = ethernet::strip(frame)?;
            Ok(Network { l2, ethertype, packet })
        }
        RAW | RAW_OLD | RAW_BSD => bare(raw_ethertype(frame)?, frame),
        IPV4 => bare(ethertype::IPV4, frame),
        IPV6 => bare(ethertype::IPV6, frame),
        NULL | LOOP => {
            if frame.len() < 4 {
                return Err(Error::Truncated(Layer::Link));
            }
            bare(family_ethertype(super::array(frame, 0), linktype == NULL)?, &frame[4..])
        }
        LINUX_SLL => {
            let h = Sll::new_checked(frame)?;
            let l2 = L2 { src_mac: mac(h.addr()), ..L2::default() };
            tagged(l2, h.protocol(), &frame[super::cooked::SLL_LEN..])
        }
        LINUX_SLL2 => {
            let h = Sll2::new_checked(frame)?;
            let l2 = L2 { src_mac: mac(h.addr()), ..L2::default() };
            tagged(l2, h.protocol(), &frame[super::cooked::SLL2_LEN..])
        }
        _ => Err(Error::Unsupported(Layer::Link)),
    }
}

/// Cooked captures keep a VLAN tag in the payload when the NIC did not strip it.
fn tagged(mut l2: L2, kind: u16, rest: &[u8]) -> Result<Network<'_>> {
    if !ethertype::is_vlan(kind) {
        return Ok(Network { l2, ethertype: kind, packet: rest });
    }
    let tag = ethernet::Tag::new_checked(rest)?;
    l2.vlan = Some(tag.vid());
    l2.tags = 1;
    Ok(Network { l2, ethertype: tag.ethertype(), packet: &rest[ethernet::TAG_LEN..] })
}

fn mac(addr: &[u8]) -> [u8; 6] {
    addr.try_into().unwrap_or_default()
}

/// The EtherType a raw-IP frame stands for, from its version nibble.
pub fn raw_ethertype(ip: &[u8]) -> Result<u16> {
    match ip.first().map(|b| b >> 4) {
        Some(4) => Ok(ethertype::IPV4),
        Some(6) => Ok(ethertype::IPV6),
        Some(_) => Err(Error::Version(Layer::Link)),
        None => Err(Error::Truncated(Layer::Link)),
    }
}

/// BSD address families: 2 is IPv4; IPv6 is 10, 24, 28 or 30 depending on the system.
fn family_ethertype(fam: [u8; 4], host_order: bool) -> Result<u16> {
    let v = if host_order {
        // The file may come from a host of either byte order; families are small numbers.
        let le = u32::from_le_bytes(fam);
        if le > 0xFFFF { u32::from_be_bytes(fam) } else { le }
    } else {
        u32::from_be_bytes(fam)
    };
    match v {
        2 => Ok(ethertype::IPV4),
        10 | 24 | 28 | 30 => Ok(ethertype::IPV6),
        _ => Err(Error::Unsupported(Layer::Link)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ip_by_version_nibble() {
        assert_eq!(network(linktype::RAW, &[0x45, 0]).unwrap().ethertype, ethertype::IPV4);
        assert_eq!(network(linktype::RAW, &[0x60]).unwrap().ethertype, ethertype::IPV6);
        assert_eq!(network(linktype::RAW, &[0x10]).unwrap_err(), Error::Version(Layer::Link));
        assert_eq!(network(linktype::RAW, &[]).unwrap_err(), Error::Truncated(Layer::Link));
    }

    #[test]
    fn bsd_loopback_in_either_byte_order() {
        assert_eq!(network(linktype::NULL, &[2, 0, 0, 0, 0x45]).unwrap().ethertype, ethertype::IPV4);
        assert_eq!(network(linktype::NULL, &[0, 0, 0, 30, 0x60]).unwrap().ethertype, ethertype::IPV6);
        assert_eq!(network(linktype::LOOP, &[0, 0, 0, 2]).unwrap().packet, &[] as &[u8]);
    }

    #[test]
    fn cooked_with_a_vlan_tag() {
        let mut f = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 7, 0, 0, 0x81, 0x00];
        f.extend([0, 42, 0x08, 0x00, 0x45]);
        let n = network(linktype::LINUX_SLL, &f).unwrap();
        assert_eq!((n.l2.vlan, n.ethertype, n.packet), (Some(42), ethertype::IPV4, &[0x45][..]));
        assert_eq!(n.l2.src_mac, [2, 0, 0, 0, 0, 7]);
    }

    #[test]
    fn unknown_link_types_are_unsupported() {
        assert_eq!(network(147, &[0; 64]).unwrap_err(), Error::Unsupported(Layer::Link));
    }
}
