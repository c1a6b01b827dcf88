//! The packet layer: zero-copy views of the headers plumb meets in captures and in sFlow
//! sampled headers, and the walk from a link-layer frame down through tunnels to the
//! innermost packet.
//!
//! Each header follows one shape (after smoltcp's `wire`): a view `Packet<T: AsRef<[u8]>>`
//! whose checked constructor proves the fixed header is present, a `field` module of byte
//! ranges, accessors that read straight from the buffer, and a parsed `Repr` that can be
//! emitted again (the round-trip tests build packets that way). Views only check what they
//! must read: a payload cut short by the capture's snap length is normal and is not an
//! error; a header that does not fit, or contradicts itself, is a typed [`Error`].
//!
//! [`dissect`] walks a frame: link type → Ethernet/802.1Q/cooked → IP → tunnels (VXLAN,
//! GENEVE, GRE, IP-in-IP, nested up to a bound) → the innermost transport header and, for
//! ICMP errors, the header of the packet they quote. It fills a fixed-size
//! [`Dissection`](dissect::Dissection) without allocating, so pcap ingest and the sFlow
//! decoder read a tunnelled packet the same way.

pub mod cooked;
pub mod datagram;
pub mod dissect;
pub mod ethernet;
pub mod geneve;
pub mod gre;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod link;
pub mod mpls;
pub mod tcp;
#[cfg(test)]
pub(crate) mod testing;
pub mod udp;
pub mod vxlan;

pub use dissect::{Dissection, Dissector, Tunnel, TunnelKind};

/// A byte range of a header.
pub(crate) type Field = core::ops::Range<usize>;
/// The bytes from an offset to the end.
pub(crate) type Rest = core::ops::RangeFrom<usize>;

/// The header an [`Error`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Link,
    Ethernet,
    Vlan,
    Mpls,
    Ipv4,
    Ipv6,
    Ipv6Extension,
    Udp,
    Tcp,
    Icmpv4,
    Icmpv6,
    Vxlan,
    Geneve,
    Gre,
}

impl Layer {
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::Mpls => "mpls",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Ipv6Extension => "ipv6_extension",
            Layer::Udp => "udp",
            Layer::Tcp => "tcp",
            Layer::Icmpv4 => "icmpv4",
            Layer::Icmpv6 => "icmpv6",
            Layer::Vxlan => "vxlan",
            Layer::Geneve => "geneve",
            Layer::Gre => "gre",
        }
    }
}

impl core::fmt::Display for Layer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a header could not be read. Every malformed or truncated header yields one of these;
/// the walk stops there and keeps what it read above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the fixed header (or a length it declares) needs.
    #[error("{0} header truncated")]
    Truncated(Layer),
    /// A version field this layer does not know.
    #[error("{0} version not supported")]
    Version(Layer),
    /// A length field shorter than the header itself, or one that overruns its container.
    #[error("{0} length field inconsistent")]
    Length(Layer),
    /// An option whose length runs past its header or is too short to be an option.
    #[error("{0} option malformed")]
    Option(Layer),
    /// A valid header of a variant plumb does not decode (GRE routing, PPTP GRE, ...).
    #[error("{0} variant not supported")]
    Unsupported(Layer),
    /// Tunnels nested deeper than the dissector's bound.
    #[error("tunnels nested deeper than {0}")]
    TooDeep(u8),
}

impl Error {
    /// A stable label for the `reason` of a decode-error metric.
    pub const fn reason(self) -> &'static str {
        match self {
            Error::Truncated(_) => "truncated",
            Error::Version(_) => "bad_version",
            Error::Length(_) => "bad_length",
            Error::Option(_) => "bad_option",
            Error::Unsupported(_) => "unsupported",
            Error::TooDeep(_) => "too_deep",
        }
    }
}

pub type Result<T> = core::result::Result<T, Error>;

/// Reads a big-endian u16 at `at`; the caller has checked the length.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads `N` bytes at `at` as an array; the caller has checked the length.
#[inline]
pub(crate) fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// The Internet checksum (RFC 1071) of `data`, folded.
pub fn checksum(data: &[u8]) -> u16 {
    // A u64 holds the sum of any slice a process can hold without overflowing.
    let mut sum = 0u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u64) << 8;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// IP protocol numbers the walk acts on.
pub mod ip_protocol {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IPV4: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT: u8 = 59;
    pub const DST_OPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

/// The bits of IPFIX fragmentFlags (IE 197) the `flows` table keeps per packet source.
pub mod fragment_flags {
    /// Don't Fragment.
    pub const DF: u8 = 0x40;
    /// More Fragments.
    pub const MF: u8 = 0x20;
}

/// EtherType values the walk acts on.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86DD;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const QINQ: u16 = 0x88A8;
    pub const VLAN_9100: u16 = 0x9100;
    /// Transparent Ethernet Bridging: an Ethernet frame follows (GENEVE, NVGRE, L2 GRE).
    pub const TEB: u16 = 0x6558;
    pub const ERSPAN_II: u16 = 0x88BE;
    pub const ERSPAN_III: u16 = 0x22EB;
    /// Cisco MetaData: a TrustSec security group tag before the real EtherType.
    pub const CISCO_METADATA: u16 = 0x8909;

    /// Whether this EtherType is a VLAN tag (802.1Q, 802.1ad, the old 0x9100).
    pub const fn is_vlan(t: u16) -> bool {
        matches!(t, VLAN | QINQ | VLAN_9100)
    }
}
