//! Packets built from the headers' own `Repr::emit`, for the tests of the packet layer and
//! of what reads it.

use super::{ethernet, ethertype, ip_protocol as proto, ipv4, ipv6, tcp, udp, vxlan};
use crate::addr::{Addr16, from_v4_bytes};

pub(crate) const SYN: u16 = tcp::flags::SYN;

pub(crate) fn v4(a: [u8; 4]) -> Addr16 {
    from_v4_bytes(a)
}

pub(crate) fn ip4(src: [u8; 4], dst: [u8; 4], protocol: u8, df: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; ipv4::HEADER_LEN + payload.len()];
    let r = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        dont_frag: df,
        ..ipv4::tests::repr(protocol, payload.len())
    };
    r.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
    b[ipv4::HEADER_LEN..].copy_from_slice(payload);
    b
}

pub(crate) fn ip6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; ipv6::HEADER_LEN + payload.len()];
    ipv6::tests::repr(next, payload.len() as u16).emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
    b[ipv6::HEADER_LEN..].copy_from_slice(payload);
    b
}

pub(crate) fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; udp::HEADER_LEN + payload.len()];
    udp::Repr { src_port, dst_port, payload_len: payload.len() as u16 }
        .emit(&mut udp::Packet::new_unchecked(&mut b[..]));
    b[udp::HEADER_LEN..].copy_from_slice(payload);
    b
}

pub(crate) fn tcp(flags: u16, mss: Option<u16>, payload_len: usize) -> Vec<u8> {
    tcp_seg(40000, 443, 1000, flags, mss, payload_len)
}

pub(crate) fn tcp_seg(
    src_port: u16,
    dst_port: u16,
    seq: u32,
    flags: u16,
    mss: Option<u16>,
    payload_len: usize,
) -> Vec<u8> {
    let r = tcp::Repr { src_port, dst_port, seq_number: seq, ack_number: 0, flags, window_len: 512, mss };
    let mut b = vec![0u8; r.header_len() + payload_len];
    r.emit(&mut tcp::Packet::new_unchecked(&mut b[..]));
    b
}

pub(crate) fn eth(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; ethernet::HEADER_LEN];
    let r = ethernet::Repr { src_addr: [2, 0, 0, 0, 0, 1], dst_addr: [2, 0, 0, 0, 0, 2], ethertype: kind };
    r.emit(&mut ethernet::Frame::new_unchecked(&mut b[..]));
    b.extend(payload);
    b
}

pub(crate) fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; vxlan::HEADER_LEN];
    vxlan::Repr { vni }.emit(&mut vxlan::Packet::new_unchecked(&mut b[..]));
    b.extend(inner);
    b
}

/// A VXLAN packet between two VTEPs carrying `inner` (an Ethernet frame).
pub(crate) fn vtep(vni: u32, inner: &[u8]) -> Vec<u8> {
    ip4([192, 168, 0, 1], [192, 168, 0, 2], proto::UDP, true, &udp(51000, 4789, &vxlan(vni, inner)))
}

pub(crate) fn inner_tcp() -> Vec<u8> {
    eth(ethertype::IPV4, &ip4([10, 0, 0, 1], [10, 0, 0, 2], proto::TCP, true, &tcp(SYN, Some(1410), 0)))
}
