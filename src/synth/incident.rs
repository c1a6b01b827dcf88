//! An afternoon gone wrong on the reference architecture, for the dashboards, the alerts
//! and their end-to-end test (`plumb generate --scenario incident`): NIOC contention on an
//! ESXi host's uplink, and MTU trouble on the tenant overlay and the VM network.
//!
//! - **vDS IPFIX from esx01 (192.0.2.31)**, one message a minute from five minutes before
//!   now to one after, egress per uplink (ifIndex 1 = vmnic0, 2 = vmnic1) by VLAN. For
//!   four minutes vmnic0 carries vSAN 12, VM 6 and management 0.2 Gbps (73 % of 25 GbE);
//!   then a vMotion of 14 Gbps joins, vSAN falls to 2.5 Gbps (below its 10 Gbps
//!   reservation) and the uplink runs at 96 % for three minutes, while vmnic1 idles at
//!   2 Gbps: `nioc.contention` with a team imbalance and `nioc.reservation_at_risk` for
//!   vSAN. One message's sequence number skips 5 records, as if a datagram were lost.
//! - **sFlow from a KVM host (192.0.2.41)**, 1 in 1000: 1550-byte VXLAN packets on the
//!   tenant overlay whose underlay MTU is 1500 (`mtu.oversize_encap`), fragmented VXLAN
//!   packets (`mtu.fragmentation`), and ICMP fragmentation-needed (next-hop MTU 1450)
//!   from a router on the VM network, VLAN 40 (`mtu.frag_needed`).
//! - **DF drops** reported by devices: [`super::mtu_drops`] (`mtu.df_drop`).
//!
//! The topology that names the uplinks is `dashboards/demo/plumb.toml`.

use std::net::Ipv4Addr;

use plumb_collector::packet::ipv4;

use super::{ipfix, mtu_drops, put_words};

/// The vDS host's exporter address and its uplinks' interface indexes.
pub const ESX_EXPORTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 31);
pub const VMNIC0: u32 = 1;
pub const VMNIC1: u32 = 2;
/// The sFlow agent of the KVM host on the tenant overlay.
pub const KVM_AGENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 41);
/// The sFlow sampling rate of the KVM host.
pub const SAMPLING_RATE: u32 = 1000;
/// Records the vDS exporter's sequence numbers skip once.
pub const SKIPPED_RECORDS: u32 = 5;

const MINUTE_MS: u64 = 60_000;
const GBPS: f64 = 1e9;

/// A datagram of the scenario: its source, the collector port it goes to (4739 IPFIX,
/// 6343 sFlow) and its payload.
pub struct Datagram {
    pub from: Ipv4Addr,
    pub port: u16,
    pub payload: Vec<u8>,
}

/// Every datagram of the scenario, in sending order, for a run at `now_ms`.
pub fn datagrams(now_ms: u64) -> Vec<Datagram> {
    let minute = now_ms - now_ms % MINUTE_MS;
    let mut sequence = 0u32;
    let mut vds = Vec::new();
    for m in -5i64..=1 {
        let start = (minute as i64 + m * MINUTE_MS as i64) as u64;
        // Three minutes of contention: what a finding needs (3 of 5), and few enough that
        // vSAN's median over the analyzer's lookback is still its rate before the vMotion.
        let flows = uplink_minute(m >= -1);
        if m == 0 {
            sequence += SKIPPED_RECORDS;
        }
        let payload = vds_message(start, sequence, (now_ms / 1000) as u32, &flows);
        sequence += flows.len() as u32;
        vds.push(Datagram { from: ESX_EXPORTER, port: 4739, payload });
    }
    // The messages after the gap go last: replayed at a slow rate, a scraper sees the
    // exporter's records before its loss.
    let after_gap = vds.split_off(5);
    let mut out = vds;
    out.extend(kvm_samples().into_iter().map(|payload| Datagram { from: KVM_AGENT, port: 6343, payload }));
    for i in 0..10 {
        let payload = mtu_drops::sflow_drop(i + 1, i * 3);
        out.push(Datagram { from: mtu_drops::SFLOW_AGENT, port: 6343, payload });
        let payload = mtu_drops::ipfix_drop(i, (now_ms / 1000) as u32);
        out.push(Datagram { from: mtu_drops::IPFIX_EXPORTER, port: 4739, payload });
    }
    out.extend(after_gap);
    out
}

/// One flow of a minute: egress interface, VLAN, destination port, rate in Gbps.
struct Flow {
    uplink: u32,
    vlan: u16,
    port: u16,
    gbps: f64,
}

/// The minute's traffic: steady, or with the vMotion that saturates vmnic0.
fn uplink_minute(vmotion: bool) -> Vec<Flow> {
    let f = |uplink, vlan, port, gbps| Flow { uplink, vlan, port, gbps };
    let mut flows = vec![f(VMNIC0, 10, 443, 0.2), f(VMNIC1, 40, 443, 2.0)];
    if vmotion {
        flows.extend([f(VMNIC0, 20, 8000, 14.0), f(VMNIC0, 40, 443, 7.0), f(VMNIC0, 30, 2233, 2.5)]);
    } else {
        flows.extend([f(VMNIC0, 40, 443, 6.0), f(VMNIC0, 30, 2233, 12.0)]);
    }
    flows
}

/// IPFIX field (id, length): addresses, protocol, ports, VLAN, egress interface, octets,
/// packets, flow start and end in ms.
const FIELDS: [(u16, u16); 11] =
    [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (58, 2), (14, 4), (1, 8), (2, 8), (152, 8), (153, 8)];
const TEMPLATE: u16 = 256;
/// IP bytes of the packets of these flows (the vDS exports layer 3 octets).
const PACKET_BYTES: u64 = 1500;

/// An IPFIX message with the template and the minute's records.
fn vds_message(start_ms: u64, sequence: u32, export_s: u32, flows: &[Flow]) -> Vec<u8> {
    let template = ipfix::template_set_of(TEMPLATE, &FIELDS);
    let mut data = Vec::new();
    data.extend(TEMPLATE.to_be_bytes());
    data.extend(0u16.to_be_bytes());
    for (host, fl) in (1u8..).zip(flows) {
        let bytes = (fl.gbps * GBPS * 60.0 / 8.0) as u64;
        let v = fl.vlan as u8;
        data.extend([10, 0, v, host, 10, 0, v, 200, 6]);
        data.extend(49_152u16.to_be_bytes());
        data.extend(fl.port.to_be_bytes());
        data.extend(fl.vlan.to_be_bytes());
        data.extend(fl.uplink.to_be_bytes());
        data.extend(bytes.to_be_bytes());
        data.extend(bytes.div_ceil(PACKET_BYTES).to_be_bytes());
        data.extend(start_ms.to_be_bytes());
        data.extend((start_ms + MINUTE_MS - 1).to_be_bytes());
    }
    let data_len = data.len() as u16;
    data[2..4].copy_from_slice(&data_len.to_be_bytes());
    ipfix::message_of(export_s, sequence, &[&template, &data])
}

/// The KVM host's sFlow datagrams: one flow sample each.
fn kvm_samples() -> Vec<Vec<u8>> {
    let vtep = ([10, 10, 0, 1], [10, 10, 0, 2]);
    let mut frames = Vec::new();
    for _ in 0..20 {
        frames.push(vxlan_frame(vtep, 1500, false));
    }
    for _ in 0..5 {
        frames.push(vxlan_frame(vtep, 1400, true));
    }
    for _ in 0..5 {
        frames.push(frag_needed_frame());
    }
    frames.iter().zip(1u32..).map(|(f, seq)| sflow_flow_sample(seq, f)).collect()
}

/// An sFlow v5 datagram with one flow sample (format 1) of `frame` as a sampled header.
fn sflow_flow_sample(sequence: u32, frame: &Frame) -> Vec<u8> {
    let header = &frame.bytes[..frame.bytes.len().min(128)];
    let mut record = Vec::new();
    put_words(&mut record, &[1, frame.wire_len + 4, 4, header.len() as u32]);
    record.extend(header);
    record.resize(record.len().next_multiple_of(4), 0);
    let mut sample = Vec::new();
    let pool = sequence * SAMPLING_RATE;
    put_words(&mut sample, &[sequence, 3, SAMPLING_RATE, pool, 0, 3, 4, 1, 1, record.len() as u32]);
    sample.extend(record);
    let mut d = Vec::new();
    let agent = u32::from(KVM_AGENT);
    put_words(&mut d, &[5, 1, agent, 0, sequence, 90_000 + sequence, 1, 1, sample.len() as u32]);
    d.extend(sample);
    d
}

/// A sampled frame: the bytes captured and its length on the wire (without FCS).
struct Frame {
    bytes: Vec<u8>,
    wire_len: u32,
}

/// Whether an IPv4 header says Don't Fragment or More Fragments.
#[derive(Clone, Copy)]
enum Frag {
    Unset,
    DontFragment,
    MoreFragments,
}

/// An IPv4 header of `total_len` bytes, checksummed by the packet layer.
fn ipv4(total_len: u16, frag: Frag, protocol: u8, src_addr: [u8; 4], dst_addr: [u8; 4]) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr,
        dst_addr,
        protocol,
        tos: 0,
        ident: 1,
        dont_frag: matches!(frag, Frag::DontFragment),
        more_frags: matches!(frag, Frag::MoreFragments),
        frag_offset: 0,
        ttl: 64,
        header_len: ipv4::HEADER_LEN,
        total_len,
    };
    let mut h = vec![0; ipv4::HEADER_LEN];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut h[..]));
    h
}

fn ethernet(vlan: Option<u16>) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    if let Some(v) = vlan {
        f.extend([0x81, 0x00]);
        f.extend(v.to_be_bytes());
    }
    f.extend([0x08, 0x00]);
    f
}

/// A VXLAN packet between the VTEPs carrying an inner TCP packet of `inner_len` bytes:
/// with DF set, or as the first fragment of a fragmented one.
fn vxlan_frame((src, dst): ([u8; 4], [u8; 4]), inner_len: u16, fragmented: bool) -> Frame {
    // Outer IPv4 + UDP + VXLAN + inner Ethernet.
    let outer_len = inner_len + 20 + 8 + 8 + 14;
    let mut f = ethernet(None);
    let frag = if fragmented { Frag::MoreFragments } else { Frag::DontFragment };
    f.extend(ipv4(outer_len, frag, 17, src, dst));
    f.extend(49_300u16.to_be_bytes());
    f.extend(4789u16.to_be_bytes());
    f.extend((outer_len - 20).to_be_bytes());
    f.extend([0, 0]);
    f.extend([0x08, 0, 0, 0, 0, 0x13, 0x88, 0]);
    f.extend(ethernet(None));
    f.extend(ipv4(inner_len, Frag::DontFragment, 6, [172, 16, 0, 5], [172, 16, 0, 9]));
    f.extend([0xc3, 0x50, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    Frame { bytes: f, wire_len: 14 + outer_len as u32 }
}

/// ICMP fragmentation needed (next-hop MTU 1450) from the VM network's router 10.0.40.1 to
/// 10.0.40.10, quoting the 1500-byte DF packet it could not forward.
fn frag_needed_frame() -> Frame {
    let mut f = ethernet(Some(40));
    f.extend(ipv4(20 + 8 + 28, Frag::Unset, 1, [10, 0, 40, 1], [10, 0, 40, 10]));
    f.extend([3, 4, 0, 0, 0, 0]);
    f.extend(1450u16.to_be_bytes());
    f.extend(ipv4(1500, Frag::DontFragment, 6, [10, 0, 40, 10], [198, 51, 100, 7]));
    f.extend([0xc3, 0x51, 0x01, 0xbb, 0, 0, 0, 2]);
    Frame { wire_len: f.len() as u32, bytes: f }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_datagram_has_the_length_it_declares() {
        for d in datagrams(1_765_000_000_000) {
            match d.port {
                4739 => {
                    assert_eq!(u16::from_be_bytes([d.payload[2], d.payload[3]]) as usize, d.payload.len())
                }
                _ => assert_eq!(&d.payload[..4], &[0, 0, 0, 5]),
            }
        }
    }

    #[test]
    fn vmnic0_is_saturated_only_with_the_vmotion() {
        let gbps = |v| uplink_minute(v).iter().filter(|f| f.uplink == VMNIC0).map(|f| f.gbps).sum::<f64>();
        assert!(gbps(false) / 25.0 < 0.75);
        assert!(gbps(true) / 25.0 > 0.94);
    }

    #[test]
    fn headers_carry_valid_checksums() {
        let h = ipv4(1550, Frag::DontFragment, 17, [10, 10, 0, 1], [10, 10, 0, 2]);
        let p = ipv4::Packet::new_checked(&h[..]).unwrap();
        assert!(p.verify_checksum() && p.dont_frag() && p.total_len() == 1550);
    }
}
