//! The one address encoding of every address column: 16 bytes, IPv4 as IPv4-mapped IPv6.
//!
//! A fixed width lets Parquet store addresses as `FIXED_LEN_BYTE_ARRAY(16)`, compare them
//! bytewise (a CIDR block is a byte range) and group them without hashing strings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Width of every stored address.
pub const ADDR_LEN: usize = 16;
/// Width of a stored MAC address.
pub const MAC_LEN: usize = 6;

/// An address as stored.
pub type Addr16 = [u8; ADDR_LEN];

const V4_MAPPED_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/// Stores the four bytes of an IPv4 address.
#[inline]
pub fn from_v4_bytes(b: [u8; 4]) -> Addr16 {
    let mut out = [0u8; ADDR_LEN];
    out[..12].copy_from_slice(&V4_MAPPED_PREFIX);
    out[12..].copy_from_slice(&b);
    out
}

/// Stores any IP address.
pub fn from_ip(ip: IpAddr) -> Addr16 {
    match ip {
        IpAddr::V4(v4) => from_v4_bytes(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address a stored value stands for (IPv4-mapped values come back as IPv4).
pub fn to_ip(a: &Addr16) -> IpAddr {
    if a[..12] == V4_MAPPED_PREFIX {
        IpAddr::V4(Ipv4Addr::new(a[12], a[13], a[14], a[15]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*a))
    }
}

/// Writes the text form (dotted IPv4, RFC 5952 IPv6) into `out` without allocating
/// when `out` already has room.
pub fn write_text(a: &Addr16, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(out, "{}", to_ip(a));
}

/// Parses the text form users type in SQL (`10.1.2.3`, `2001:db8::1`).
pub fn parse_text(s: &str) -> Option<Addr16> {
    s.trim().parse::<IpAddr>().ok().map(from_ip)
}

/// A CIDR block as the inclusive byte range `[low, high]` of stored addresses.
pub fn cidr_range(s: &str) -> Option<(Addr16, Addr16)> {
    let (addr, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s.trim(), None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let prefix_bits = match (ip, len) {
        (IpAddr::V4(_), Some(l)) if l <= 32 => 96 + l as u32,
        (IpAddr::V6(_), Some(l)) if l <= 128 => l as u32,
        (IpAddr::V4(_), None) => 128,
        (IpAddr::V6(_), None) => 128,
        _ => return None,
    };
    let base = u128::from_be_bytes(from_ip(ip));
    let host_mask = u128::MAX.checked_shr(prefix_bits).unwrap_or(0);
    let low = base & !host_mask;
    let high = low | host_mask;
    Some((low.to_be_bytes(), high.to_be_bytes()))
}

/// Writes a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn write_mac(m: &[u8], out: &mut String) {
    use std::fmt::Write;
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02x}");
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (or `-` separated).
pub fn parse_mac(s: &str) -> Option<[u8; MAC_LEN]> {
    let mut out = [0u8; MAC_LEN];
    let mut parts = s.trim().split([':', '-']);
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(a: &Addr16) -> String {
        let mut s = String::new();
        write_text(a, &mut s);
        s
    }

    #[test]
    fn ipv4_round_trips_as_dotted_text() {
        let a = parse_text("10.1.2.3").unwrap();
        assert_eq!(&a[..12], &V4_MAPPED_PREFIX);
        assert_eq!(text(&a), "10.1.2.3");
    }

    #[test]
    fn ipv6_is_rfc5952() {
        let a = parse_text("2001:0db8:0000:0000:0000:0000:0000:0001").unwrap();
        assert_eq!(text(&a), "2001:db8::1");
    }

    #[test]
    fn cidr_ranges_cover_the_block() {
        let (lo, hi) = cidr_range("10.1.0.0/16").unwrap();
        assert_eq!(text(&lo), "10.1.0.0");
        assert_eq!(text(&hi), "10.1.255.255");
        let (lo, hi) = cidr_range("2001:db8::/32").unwrap();
        assert_eq!(text(&lo), "2001:db8::");
        assert_eq!(text(&hi), "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
        let (lo, hi) = cidr_range("0.0.0.0/0").unwrap();
        assert_eq!(text(&lo), "0.0.0.0");
        assert_eq!(text(&hi), "255.255.255.255");
        let (lo, hi) = cidr_range("::/0").unwrap();
        assert_eq!(lo, [0; 16]);
        assert_eq!(hi, [0xff; 16]);
        assert_eq!(cidr_range("10.0.0.1").unwrap().0, cidr_range("10.0.0.1").unwrap().1);
        assert!(cidr_range("10.0.0.0/33").is_none());
        assert!(cidr_range("nonsense/8").is_none());
    }

    #[test]
    fn macs_round_trip() {
        let m = parse_mac("00:50:56:aB:cd:ef").unwrap();
        let mut s = String::new();
        write_mac(&m, &mut s);
        assert_eq!(s, "00:50:56:ab:cd:ef");
        assert!(parse_mac("00:50:56").is_none());
    }
}
