//! What an encapsulation adds to the packet it carries, in IP MTU terms: the bytes to
//! subtract from the underlay's IP MTU to get the overlay's (the table is in
//! docs/domain/packets.md, "Encapsulation overhead"). The outer Ethernet header, tags and
//! FCS are link framing, counted against a port's frame size, not against the IP MTU.

use plumb_collector::packet;
use serde::{Deserialize, Serialize};

// The header lengths, from the packet layer that reads them.
const IPV4: u32 = packet::ipv4::HEADER_LEN as u32;
const IPV6: u32 = packet::ipv6::HEADER_LEN as u32;
const UDP: u32 = packet::udp::HEADER_LEN as u32;
const ETHERNET: u32 = packet::ethernet::HEADER_LEN as u32;
/// An 802.1Q tag.
pub const VLAN_TAG: u32 = packet::ethernet::TAG_LEN as u32;
/// VXLAN's header, and GENEVE's before its options.
const VXLAN: u32 = packet::vxlan::HEADER_LEN as u32;
const GENEVE: u32 = packet::geneve::HEADER_LEN as u32;
/// GRE without options, and its key field.
const GRE: u32 = packet::gre::HEADER_LEN as u32;
const GRE_KEY: u32 = 4;
/// The frame around an IP packet of the MTU: Ethernet header and FCS.
pub const FRAME_OVERHEAD: u32 = ETHERNET + 4;

/// An overlay's encapsulation. The names are the `tunnel_type` values of `flows`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encapsulation {
    /// UDP 4789 (8472 for flannel and the Linux default); carries Ethernet.
    Vxlan,
    /// UDP 6081; carries Ethernet, plus its options.
    Geneve,
    /// IP protocol 47 carrying IP (Neutron L3 GRE), or Ethernet with `gre_ethernet`.
    Gre,
    /// IP protocol 4 (Calico IP-in-IP) or 41.
    Ipip,
    /// UDP 51820 (Calico encryption).
    Wireguard,
}

impl Encapsulation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Encapsulation::Vxlan => "vxlan",
            Encapsulation::Geneve => "geneve",
            Encapsulation::Gre => "gre",
            Encapsulation::Ipip => "ipip",
            Encapsulation::Wireguard => "wireguard",
        }
    }
}

/// What the encapsulation looks like beyond its kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncapDetails {
    /// The underlay is IPv6 (20 bytes more than IPv4).
    pub underlay_v6: bool,
    /// GENEVE option bytes (OVN adds 8; NSX more).
    pub options_bytes: u32,
    /// The inner Ethernet frame carries an 802.1Q tag (VGT, trunk port groups).
    pub inner_vlan: bool,
    /// GRE with the key field (Neutron, Open vSwitch).
    pub gre_key: bool,
    /// GRE carrying Ethernet (L2 GRE, NVGRE: protocol type 0x6558).
    pub gre_ethernet: bool,
}

/// Bytes the encapsulation adds to the inner IP packet: inner IP MTU + this ≤ underlay IP MTU.
pub fn overhead(e: Encapsulation, d: EncapDetails) -> u32 {
    let ip = if d.underlay_v6 { IPV6 } else { IPV4 };
    let inner_frame = ETHERNET + if d.inner_vlan { VLAN_TAG } else { 0 };
    match e {
        Encapsulation::Vxlan => ip + UDP + VXLAN + inner_frame,
        Encapsulation::Geneve => ip + UDP + GENEVE + d.options_bytes + inner_frame,
        Encapsulation::Gre => {
            let header = GRE + if d.gre_key { GRE_KEY } else { 0 };
            ip + header + if d.gre_ethernet { inner_frame } else { 0 }
        }
        Encapsulation::Ipip => ip,
        // WireGuard: UDP + 32 bytes of its own header and authentication tag.
        Encapsulation::Wireguard => ip + UDP + 32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> EncapDetails {
        EncapDetails::default()
    }

    #[test]
    fn the_overheads_products_document() {
        use Encapsulation::*;
        // Neutron ML2/OVS VXLAN 1450 and GRE 1458 over 1500; Calico VXLAN 50/70, IP-in-IP 20.
        assert_eq!(overhead(Vxlan, v4()), 50);
        assert_eq!(overhead(Vxlan, EncapDetails { underlay_v6: true, ..v4() }), 70);
        assert_eq!(overhead(Vxlan, EncapDetails { inner_vlan: true, ..v4() }), 54);
        assert_eq!(overhead(Gre, EncapDetails { gre_key: true, gre_ethernet: true, ..v4() }), 42);
        assert_eq!(overhead(Gre, v4()), 24);
        assert_eq!(overhead(Gre, EncapDetails { gre_key: true, ..v4() }), 28);
        assert_eq!(overhead(Ipip, v4()), 20);
        assert_eq!(overhead(Ipip, EncapDetails { underlay_v6: true, ..v4() }), 40);
        // OVN's Geneve: one 8-byte option, 1442 over 1500 (78 over IPv6).
        assert_eq!(overhead(Geneve, EncapDetails { options_bytes: 8, ..v4() }), 58);
        assert_eq!(overhead(Geneve, EncapDetails { options_bytes: 8, underlay_v6: true, ..v4() }), 78);
        // Calico WireGuard: 1440 over 1500, 1420 over IPv6.
        assert_eq!(overhead(Wireguard, v4()), 60);
        assert_eq!(overhead(Wireguard, EncapDetails { underlay_v6: true, ..v4() }), 80);
    }
}
