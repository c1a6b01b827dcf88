//! The flow table on packets built with the packet layer's own headers.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{UInt8Type, UInt16Type, UInt32Type, UInt64Type};

use super::*;
use crate::packet::dissect::Dissector;
use crate::packet::link::linktype;
use crate::packet::testing::*;
use crate::packet::{ethertype, icmpv4, ip_protocol as proto, ipv4};

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const ACK: u16 = tcp::flags::ACK;

struct Run {
    table: FlowTable,
    out: FlowBuilders,
    d: Dissection,
}

impl Run {
    fn new(cfg: TableConfig) -> Run {
        Run {
            table: FlowTable::new(cfg, v4([192, 0, 2, 9])),
            out: FlowBuilders::with_capacity(64),
            d: Dissection::default(),
        }
    }

    fn packet(&mut self, secs: f64, frame: &[u8]) {
        Dissector::default().dissect(linktype::ETHERNET, frame, &mut self.d);
        self.table.add(&self.d, (secs * 1e6) as i64, &mut self.out);
    }

    fn finish(&mut self) -> RecordBatch {
        self.table.flush(&mut self.out);
        self.out.finish()
    }
}

/// A TCP segment from A to B (or back), inside VXLAN 5001 when `vni` is set. Each gets an
/// IP identification of its own, as a sender's packets do.
fn seg(forward: bool, seq: u32, flags: u16, mss: Option<u16>, len: usize, vni: Option<u32>) -> Vec<u8> {
    static IDENT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(1);
    let (s, d, sp, dp) = if forward { (A, B, 40000, 443) } else { (B, A, 443, 40000) };
    let mut ip = ip4(s, d, proto::TCP, true, &tcp_seg(sp, dp, seq, flags, mss, len));
    let ident = IDENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ipv4::Packet::new_unchecked(&mut ip[..]).set_ident(ident);
    match vni {
        Some(v) => eth(ethertype::IPV4, &vtep(v, &eth(ethertype::IPV4, &ip))),
        None => eth(ethertype::IPV4, &ip),
    }
}

fn u64_at(b: &RecordBatch, col: &str, row: usize) -> Option<u64> {
    let a = b.column_by_name(col).unwrap();
    if a.is_null(row) {
        return None;
    }
    Some(match a.data_type() {
        arrow::datatypes::DataType::UInt8 => a.as_primitive::<UInt8Type>().value(row) as u64,
        arrow::datatypes::DataType::UInt16 => a.as_primitive::<UInt16Type>().value(row) as u64,
        arrow::datatypes::DataType::UInt32 => a.as_primitive::<UInt32Type>().value(row) as u64,
        _ => a.as_primitive::<UInt64Type>().value(row),
    })
}

fn addr_at(b: &RecordBatch, col: &str, row: usize) -> Option<String> {
    let a = b.column_by_name(col).unwrap().as_fixed_size_binary();
    (!a.is_null(row)).then(|| crate::addr::to_ip(a.value(row).try_into().unwrap()).to_string())
}

fn text_at(b: &RecordBatch, col: &str, row: usize) -> Option<String> {
    let a = b.column_by_name(col).unwrap();
    (!a.is_null(row)).then(|| arrow::util::display::array_value_to_string(a, row).unwrap())
}

/// The row whose inner (or plain) source port is `port`.
fn row_from(b: &RecordBatch, port: u64) -> usize {
    (0..b.num_rows())
        .find(|&r| u64_at(b, "inner_src_port", r).or(u64_at(b, "src_port", r)) == Some(port))
        .unwrap_or_else(|| panic!("no row from port {port}"))
}

#[test]
fn a_vxlan_connection_becomes_two_flows_with_tunnel_and_inner_columns() {
    let mut r = Run::new(TableConfig::default());
    r.packet(0.0, &seg(true, 1000, SYN, Some(1410), 0, Some(5001)));
    r.packet(0.001, &seg(false, 9000, SYN | ACK, Some(1410), 0, Some(5001)));
    r.packet(0.002, &seg(true, 1001, ACK, None, 1398, Some(5001)));
    r.packet(0.003, &seg(true, 2399, ACK, None, 1398, Some(5001)));
    let b = r.finish();
    assert_eq!(b.num_rows(), 2);
    let fwd = row_from(&b, 40000);
    assert_eq!(text_at(&b, "source_kind", fwd).as_deref(), Some("pcap"));
    assert_eq!(text_at(&b, "tunnel_type", fwd).as_deref(), Some("vxlan"));
    assert_eq!(u64_at(&b, "tunnel_key", fwd), Some(5001));
    assert_eq!(addr_at(&b, "src_addr", fwd).as_deref(), Some("192.168.0.1"));
    assert_eq!(addr_at(&b, "inner_src_addr", fwd).as_deref(), Some("10.0.0.1"));
    assert_eq!((u64_at(&b, "protocol", fwd), u64_at(&b, "inner_protocol", fwd)), (Some(17), Some(6)));
    assert_eq!((u64_at(&b, "dst_port", fwd), u64_at(&b, "inner_dst_port", fwd)), (Some(4789), Some(443)));
    // 1398 bytes of payload + 32 of TCP with its MSS... no MSS on data: 20 + 20 + 1398.
    assert_eq!(u64_at(&b, "max_inner_ip_len", fwd), Some(1438));
    assert_eq!(u64_at(&b, "max_ip_len", fwd), Some(1438 + 50));
    assert_eq!((u64_at(&b, "packets", fwd), u64_at(&b, "df_packets", fwd)), (Some(3), Some(3)));
    assert_eq!(
        (u64_at(&b, "offload_packets", fwd), u64_at(&b, "full_size_retransmits", fwd)),
        (Some(0), Some(0))
    );
    assert_eq!(u64_at(&b, "flow_end_reason", fwd), Some(EndReason::Forced as u64));
    assert_eq!(u64_at(&b, "tcp_flags", fwd), Some((SYN | ACK) as u64));
}

#[test]
fn full_size_segments_sent_again_are_counted() {
    let mut r = Run::new(TableConfig::default());
    r.packet(0.0, &seg(true, 1000, ACK, None, 1400, None));
    r.packet(0.1, &seg(true, 2400, ACK, None, 1400, None));
    for i in 0..3 {
        r.packet(0.3 * (i + 2) as f64, &seg(true, 2400, ACK, None, 1400, None));
    }
    // A smaller probe of the same data (PLPMTUD) is not a full-size retransmission.
    r.packet(2.0, &seg(true, 2400, ACK, None, 1000, None));
    // The same packet seen twice (a capture on two interfaces) is no resend either.
    let twice = seg(true, 2400, ACK, None, 1400, None);
    r.packet(3.0, &twice);
    r.packet(3.00001, &twice);
    let b = r.finish();
    assert_eq!(u64_at(&b, "full_size_retransmits", 0), Some(4));
}

#[test]
fn offload_super_packets_are_counted_and_kept_out_of_the_lengths() {
    let mut r = Run::new(TableConfig::default());
    r.packet(0.0, &seg(true, 1000, SYN, Some(1460), 0, None));
    r.packet(0.001, &seg(false, 5000, SYN | ACK, Some(1460), 0, None));
    r.packet(0.002, &seg(true, 1001, ACK, None, 1448, None));
    r.packet(0.003, &seg(true, 2449, ACK, None, 4 * 1448, None));
    let b = r.finish();
    let fwd = row_from(&b, 40000);
    assert_eq!(u64_at(&b, "offload_packets", fwd), Some(1));
    assert_eq!(u64_at(&b, "max_ip_len", fwd), Some(20 + 20 + 1448));
    assert_eq!(u64_at(&b, "bytes", fwd), Some(44 + 1488 + 40 + 4 * 1448));
}

#[test]
fn idle_active_fin_and_eviction_end_flows() {
    let cfg = TableConfig { idle_us: 15_000_000, active_us: 60_000_000, max_flows: 2 };
    let mut r = Run::new(cfg);
    for i in 0..8 {
        r.packet(10.0 * i as f64, &seg(true, 1000 + i, ACK, None, 1, None));
    }
    assert_eq!(r.table.stats.ended_active, 1);
    // 20 s of silence ends it idle.
    r.packet(90.0, &seg(false, 1, ACK, None, 1, None));
    assert_eq!(r.table.stats.ended_idle, 1);
    r.packet(91.0, &seg(false, 2, tcp::flags::FIN | ACK, None, 0, None));
    assert_eq!(r.table.stats.ended_fin, 1);
    let udp_flow = |port| eth(ethertype::IPV4, &ip4(A, B, proto::UDP, false, &udp(port, 53, b"x")));
    for port in [1, 2, 3] {
        r.packet(92.0, &udp_flow(port));
    }
    assert_eq!((r.table.stats.evicted, r.table.len()), (1, 2));
    let b = r.finish();
    assert_eq!(b.num_rows() as u64, r.table.stats.rows());
    assert_eq!(r.table.stats.flows_created, 5);
}

#[test]
fn icmp_frag_needed_is_a_flow_with_its_mtu() {
    let mut r = Run::new(TableConfig::default());
    let refused = vtep(5001, &inner_tcp());
    let mut msg = vec![0u8; icmpv4::HEADER_LEN];
    icmpv4::Repr::frag_needed(1400).emit(&mut icmpv4::Packet::new_unchecked(&mut msg[..]));
    msg.extend(&refused[..28]);
    r.packet(
        0.0,
        &eth(ethertype::IPV4, &ip4([192, 168, 0, 254], [192, 168, 0, 1], proto::ICMP, false, &msg)),
    );
    r.packet(0.0, &[0u8; 60]);
    let b = r.finish();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(
        (u64_at(&b, "icmp_type", 0), u64_at(&b, "icmp_code", 0), u64_at(&b, "icmp_mtu", 0)),
        (Some(3), Some(4), Some(1400))
    );
    assert_eq!(r.table.stats.non_ip_packets, 1);
}

#[test]
fn fragments_of_a_vxlan_packet_are_counted() {
    let mut r = Run::new(TableConfig::default());
    let mut first = ip4(
        [192, 168, 0, 1],
        [192, 168, 0, 2],
        proto::UDP,
        false,
        &udp(51000, 4789, &vxlan(7, &inner_tcp())),
    );
    ipv4::Packet::new_unchecked(&mut first[..]).set_flags_offset(false, true, 0);
    r.packet(0.0, &eth(ethertype::IPV4, &first));
    let b = r.finish();
    assert_eq!((u64_at(&b, "fragments", 0), u64_at(&b, "fragment_flags", 0)), (Some(1), Some(0x20)));
}

#[test]
fn a_tunnel_carrying_arp_has_no_inner_columns() {
    let mut r = Run::new(TableConfig::default());
    let arp = eth(ethertype::ARP, &[0u8; 28]);
    r.packet(0.0, &eth(ethertype::IPV4, &vtep(42, &arp)));
    r.packet(0.1, &eth(ethertype::IPV4, &vtep(42, &inner_tcp())));
    let b = r.finish();
    assert_eq!(b.num_rows(), 2);
    let arp_row =
        (0..2).find(|&i| u64_at(&b, "inner_protocol", i).is_none()).expect("a row without an inner packet");
    assert_eq!(text_at(&b, "tunnel_type", arp_row).as_deref(), Some("vxlan"));
    assert_eq!(addr_at(&b, "inner_src_addr", arp_row), None);
    assert_eq!(u64_at(&b, "max_ip_len", arp_row), Some(20 + 8 + 8 + 14 + 28));
}
