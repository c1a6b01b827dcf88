//! Dissections of packets built with the headers' own `Repr::emit`.

use super::*;
use crate::packet::link::linktype;
use crate::packet::testing::*;

fn dissect(frame: &[u8]) -> Dissection {
    let mut d = Dissection::default();
    Dissector::default().dissect(linktype::ETHERNET, frame, &mut d);
    d
}

#[test]
fn plain_tcp_syn() {
    let d = dissect(&eth(
        ethertype::IPV4,
        &ip4([10, 0, 0, 1], [10, 0, 0, 2], proto::TCP, true, &tcp(SYN, Some(1460), 10)),
    ));
    assert_eq!(d.error, None);
    let ip = d.outer().unwrap();
    assert_eq!(
        (ip.src, ip.dst, ip.protocol, ip.total_len, ip.dont_frag),
        (v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), 6, 54, true)
    );
    assert!(d.inner().is_none() && d.tunnel().is_none());
    let t = d.transport.unwrap();
    assert_eq!(
        (t.src_port, t.dst_port, t.tcp_flags, t.mss, t.seq, t.payload_len),
        (40000, 443, SYN, Some(1460), 1000, 10)
    );
    assert_eq!(d.payload_captured, 10);
}

#[test]
fn vxlan_to_the_inner_packet() {
    let frame = eth(ethertype::IPV4, &vtep(5001, &inner_tcp()));
    let d = dissect(&frame);
    assert_eq!(d.error, None);
    let t = d.tunnel().unwrap();
    assert_eq!((t.kind, t.key, t.src_port, t.dst_port), (TunnelKind::Vxlan, Some(5001), 51000, 4789));
    assert_eq!(d.outer().unwrap().total_len, 20 + 8 + 8 + 14 + 44);
    let inner = d.inner().unwrap();
    assert_eq!((inner.src, inner.total_len), (v4([10, 0, 0, 1]), 44));
    assert_eq!(d.transport.unwrap().mss, Some(1410));
    assert_eq!(d.inner_l2.unwrap().src_mac, [2, 0, 0, 0, 0, 1]);
}

#[test]
fn nested_vxlan_three_deep() {
    let frame = eth(
        ethertype::IPV4,
        &vtep(1, &eth(ethertype::IPV4, &vtep(2, &eth(ethertype::IPV4, &vtep(3, &inner_tcp()))))),
    );
    let d = dissect(&frame);
    assert_eq!(d.error, None);
    let vnis: Vec<_> = d.tunnels().iter().map(|t| t.key.unwrap()).collect();
    assert_eq!((vnis, d.ips().len()), (vec![1, 2, 3], 4));
}

#[test]
fn geneve_with_options_and_gre_with_a_key() {
    let mut g = vec![0u8; 16];
    let mut options = [0u8; geneve::MAX_OPTIONS_LEN];
    options[..8].copy_from_slice(&[1, 2, 0x80, 1, 0, 0, 0, 7]);
    let r = geneve::Repr {
        vni: 77,
        protocol: ethertype::TEB,
        oam: false,
        critical: false,
        options_len: 8,
        options,
    };
    r.emit(&mut geneve::Packet::new_unchecked(&mut g[..]));
    g.extend(inner_tcp());
    let frame = eth(ethertype::IPV4, &ip4([1, 1, 1, 1], [2, 2, 2, 2], proto::UDP, false, &udp(1, 6081, &g)));
    let d = dissect(&frame);
    let t = d.tunnel().unwrap();
    assert_eq!((t.kind, t.key, t.options_len, d.error), (TunnelKind::Geneve, Some(77), 8, None));
    assert_eq!(d.transport.unwrap().dst_port, 443);

    let mut gre_hdr = vec![0u8; 8];
    let gr = gre::Repr { protocol: ethertype::IPV4, checksum: false, key: Some(0x1234), sequence: None };
    gr.emit(&mut gre::Packet::new_unchecked(&mut gre_hdr[..]));
    gre_hdr.extend(ip4([10, 9, 9, 9], [10, 8, 8, 8], proto::UDP, false, &udp(5353, 53, b"q")));
    let d = dissect(&eth(ethertype::IPV4, &ip4([1, 1, 1, 1], [2, 2, 2, 2], proto::GRE, false, &gre_hdr)));
    assert_eq!((d.tunnel().unwrap().kind, d.tunnel().unwrap().key), (TunnelKind::Gre, Some(0x1234)));
    assert_eq!((d.inner().unwrap().dst, d.transport.unwrap().dst_port), (v4([10, 8, 8, 8]), 53));
}

#[test]
fn ip_in_ip_every_way() {
    let inner4 = ip4([10, 0, 0, 1], [10, 0, 0, 2], proto::UDP, false, &udp(1, 2, b""));
    let inner6 = ip6(proto::UDP, &udp(1, 2, b""));
    let cases = [
        (ip4([1, 1, 1, 1], [2, 2, 2, 2], proto::IPV4, false, &inner4), TunnelKind::Ipip, false),
        (ip4([1, 1, 1, 1], [2, 2, 2, 2], proto::IPV6, false, &inner6), TunnelKind::Ipv6InIp, true),
        (ip6(proto::IPV4, &inner4), TunnelKind::Ipip, false),
        (ip6(proto::IPV6, &inner6), TunnelKind::Ipv6InIp, true),
    ];
    for (outer, kind, inner_v6) in cases {
        let d = dissect(&eth(if outer[0] >> 4 == 4 { ethertype::IPV4 } else { ethertype::IPV6 }, &outer));
        assert_eq!(d.error, None);
        assert_eq!((d.tunnel().unwrap().kind, d.inner().unwrap().is_v6), (kind, inner_v6));
        assert_eq!(d.transport.unwrap().dst_port, 2);
    }
}

#[test]
fn fragments_carry_ports_only_in_the_first() {
    let mut first =
        ip4([10, 0, 0, 1], [10, 0, 0, 2], proto::UDP, false, &udp(1, 4789, &vxlan(9, &inner_tcp())));
    ipv4::Packet::new_unchecked(&mut first[..]).set_flags_offset(false, true, 0);
    ipv4::Packet::new_unchecked(&mut first[..]).fill_checksum();
    let d = dissect(&eth(ethertype::IPV4, &first));
    assert!(d.outer().unwrap().is_fragment());
    assert_eq!(d.tunnel().unwrap().key, Some(9));
    let mut later = ip4([10, 0, 0, 1], [10, 0, 0, 2], proto::UDP, false, &[0u8; 64]);
    ipv4::Packet::new_unchecked(&mut later[..]).set_flags_offset(false, false, 1480);
    let d = dissect(&eth(ethertype::IPV4, &later));
    assert_eq!((d.outer().unwrap().frag_offset, d.transport, d.error), (1480, None, None));
}

#[test]
fn icmp_frag_needed_quotes_the_vxlan_packet_it_refused() {
    let refused = vtep(5001, &inner_tcp());
    let mut msg = vec![0u8; icmpv4::HEADER_LEN];
    icmpv4::Repr::frag_needed(1400).emit(&mut icmpv4::Packet::new_unchecked(&mut msg[..]));
    msg.extend(&refused[..28]);
    let d =
        dissect(&eth(ethertype::IPV4, &ip4([192, 168, 0, 254], [192, 168, 0, 1], proto::ICMP, false, &msg)));
    let icmp = d.icmp.unwrap();
    assert_eq!((icmp.msg_type, icmp.code, icmp.mtu), (3, 4, Some(1400)));
    let q = icmp.quoted.unwrap();
    assert_eq!(
        (q.dst, q.protocol, q.dst_port, q.total_len, q.dont_frag),
        (v4([192, 168, 0, 2]), 17, 4789, 94, true)
    );
}

#[test]
fn icmpv6_packet_too_big() {
    let orig = ip6(proto::TCP, &tcp(tcp::flags::ACK, None, 1400));
    let mut msg = vec![0u8; icmpv6::HEADER_LEN];
    icmpv6::Repr::packet_too_big(1280).emit(&mut icmpv6::Packet::new_unchecked(&mut msg[..]));
    msg.extend(&orig[..60]);
    let d = dissect(&eth(ethertype::IPV6, &ip6(proto::ICMPV6, &msg)));
    let icmp = d.icmp.unwrap();
    assert_eq!((icmp.msg_type, icmp.mtu, d.error), (2, Some(1280), None));
    let q = icmp.quoted.unwrap();
    assert_eq!((q.protocol, q.dst_port, q.total_len), (6, 443, 1460));
}

#[test]
fn a_vxlan_port_without_the_i_flag_is_plain_udp() {
    let mut body = vxlan(5, &inner_tcp());
    body[0] = 0;
    let d = dissect(&eth(
        ethertype::IPV4,
        &ip4([1, 1, 1, 1], [2, 2, 2, 2], proto::UDP, false, &udp(9, 4789, &body)),
    ));
    assert_eq!((d.tunnel(), d.not_a_tunnel), (None, Some(Error::Unsupported(Layer::Vxlan))));
    assert_eq!(d.transport.unwrap().dst_port, 4789);
}

#[test]
fn configured_ports_and_the_depth_bound() {
    let frame = eth(
        ethertype::IPV4,
        &ip4([1, 1, 1, 1], [2, 2, 2, 2], proto::UDP, false, &udp(9, 9999, &vxlan(5, &inner_tcp()))),
    );
    assert!(dissect(&frame).tunnel().is_none());
    let mut dis = Dissector::default();
    dis.add_port(9999, UdpTunnel::Vxlan);
    let mut d = Dissection::default();
    dis.dissect(linktype::ETHERNET, &frame, &mut d);
    assert_eq!(d.tunnel().unwrap().key, Some(5));

    let mut pkt = ip4([10, 0, 0, 1], [10, 0, 0, 2], proto::UDP, false, &udp(1, 2, b""));
    for _ in 0..MAX_TUNNELS + 1 {
        pkt = ip4([1, 1, 1, 1], [2, 2, 2, 2], proto::IPV4, false, &pkt);
    }
    let mut d = dissect(&eth(ethertype::IPV4, &pkt));
    assert_eq!((d.error, d.tunnels().len()), (Some(Error::TooDeep(MAX_TUNNELS as u8)), MAX_TUNNELS));
    dis = dis.with_max_tunnels(1);
    dis.dissect(linktype::ETHERNET, &frame, &mut d);
    assert_eq!(d.error, None);
    dis.dissect(linktype::ETHERNET, &eth(ethertype::IPV4, &pkt), &mut d);
    assert_eq!(d.error, Some(Error::TooDeep(1)));
}

#[test]
fn every_truncation_stops_with_an_error_and_keeps_the_outer_headers() {
    let frame = eth(ethertype::IPV4, &vtep(5001, &inner_tcp()));
    let mut d = Dissection::default();
    let dis = Dissector::default();
    for cut in 0..frame.len() {
        dis.dissect(linktype::ETHERNET, &frame[..cut], &mut d);
        if cut >= 14 + 20 {
            assert!(d.outer().is_some(), "cut {cut}");
        }
        // The inner TCP header ends with the frame, so every shorter cut misses a header.
        assert!(d.error.is_some(), "cut {cut}: {d:?}");
    }
    dis.dissect(linktype::ETHERNET, &frame, &mut d);
    assert_eq!(d.error, None);
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A fixed xorshift stream: every run sees the same inputs.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let seeds = [inner_tcp(), eth(ethertype::IPV4, &vtep(1, &inner_tcp()))];
    let dis = Dissector::default();
    let mut d = Dissection::default();
    for i in 0..20_000 {
        let mut buf = seeds[i % 2].clone();
        for _ in 0..1 + next() % 6 {
            let at = next() as usize % buf.len();
            buf[at] = next() as u8;
        }
        buf.truncate(next() as usize % (buf.len() + 1));
        for lt in
            [linktype::ETHERNET, linktype::RAW, linktype::LINUX_SLL, linktype::LINUX_SLL2, linktype::NULL]
        {
            dis.dissect(lt, &buf, &mut d);
            assert!(d.ips().len() <= MAX_IPS && d.payload(&buf).len() <= buf.len());
        }
    }
}
