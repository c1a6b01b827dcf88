//! The outermost UDP datagram of a frame: how `plumb ingest` and `plumb replay` find the
//! flow-export datagrams in a capture without walking tunnels.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Result, ethertype, ip_protocol as proto, ipv4, ipv6, link, udp};

/// A UDP datagram found in a frame.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// The payload up to the UDP length (an Ethernet trailer is not part of it).
    pub payload: &'a [u8],
}

/// The UDP datagram of a frame of the given link type: `Ok(None)` when the frame holds
/// something else (or an IP fragment after the first, which has no UDP header); a typed
/// error when a header on the way is malformed.
pub fn outer_udp(linktype: i32, frame: &[u8]) -> Result<Option<Datagram<'_>>> {
    let net = link::network(linktype, frame)?;
    let (src, dst, segment) = match net.ethertype {
        ethertype::IPV4 => {
            let p = ipv4::Packet::new_checked(net.packet)?;
            if p.protocol() != proto::UDP || p.frag_offset() != 0 {
                return Ok(None);
            }
            let hl = p.header_len();
            let total = p.total_len() as usize;
            let end = if total == 0 { net.packet.len() } else { total.min(net.packet.len()) };
            (
                IpAddr::V4(Ipv4Addr::from(p.src_addr())),
                IpAddr::V4(Ipv4Addr::from(p.dst_addr())),
                &net.packet[hl..end],
            )
        }
        ethertype::IPV6 => {
            let p = ipv6::Packet::new_checked(net.packet)?;
            let (src, dst) =
                (IpAddr::V6(Ipv6Addr::from(p.src_addr())), IpAddr::V6(Ipv6Addr::from(p.dst_addr())));
            let up = p.upper_layer()?;
            if up.protocol != proto::UDP || up.fragment.is_some_and(|f| f.offset != 0) {
                return Ok(None);
            }
            (src, dst, up.payload)
        }
        _ => return Ok(None),
    };
    let u = udp::Packet::new_checked(segment)?;
    let (src_port, dst_port) = (u.src_port(), u.dst_port());
    let payload = u.payload();
    Ok(Some(Datagram { src, dst, src_port, dst_port, payload }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::link::linktype;

    fn eth_ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend([0x81, 0x00, 0, 5, 0x08, 0x00]);
        let total = (20 + 8 + payload.len()) as u16;
        f.extend([0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        f.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        let ulen = (8 + payload.len()) as u16;
        f.extend([0x12, 0x34, 0x08, 0x07, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        f.extend(payload);
        f.extend([0xEE; 4]); // Ethernet trailer/FCS beyond the IP length
        f
    }

    #[test]
    fn finds_udp_behind_a_vlan_tag_and_trims_the_trailer() {
        let frame = eth_ipv4_udp(b"\x00\x0ahello");
        let u = outer_udp(linktype::ETHERNET, &frame).unwrap().unwrap();
        assert_eq!(u.dst_port, 2055);
        assert_eq!(u.src.to_string(), "10.0.0.1");
        assert_eq!(u.payload, b"\x00\x0ahello");
    }

    #[test]
    fn truncated_frames_are_errors_not_datagrams() {
        let frame = eth_ipv4_udp(b"abc");
        for cut in 0..frame.len() - 7 {
            assert!(!matches!(outer_udp(linktype::ETHERNET, &frame[..cut]), Ok(Some(_))) || cut >= 18 + 28);
        }
        assert!(outer_udp(linktype::ETHERNET, &frame[..20]).is_err());
    }

    #[test]
    fn later_fragments_and_other_protocols_are_none() {
        let mut frame = eth_ipv4_udp(b"abc");
        frame[18 + 6] = 0x00;
        frame[18 + 7] = 0x10;
        assert!(outer_udp(linktype::ETHERNET, &frame).unwrap().is_none());
        let mut frame = eth_ipv4_udp(b"abc");
        frame[18 + 9] = 6;
        assert!(outer_udp(linktype::ETHERNET, &frame).unwrap().is_none());
    }
}
