//! Decode + Arrow append, records per second on one core, for NetFlow v5, v9 and IPFIX
//! (a typical 15-IE IPv4 template and the vDS template), against two references in the
//! same run: `netflow_parser` parsing alone, and a decoder hard-wired to the template's
//! fixed offsets that fills the same `flows` batch (the practical limit). sFlow: flow
//! samples per second, each a row with its 128-byte sampled header walked by the packet
//! layer, for a datagram of 8 VXLAN samples and a real switch's datagram (Telegraf's).
//!
//! `cargo bench -p plumb-collector --bench decode`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use plumb_collector::addr;
use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::schema::{FlowBuilders, FlowRow};

const RECORDS: usize = 30;
const BATCH: usize = 65_536;

/// (IE id, length, PEN) of the typical IPv4 template (63-byte records).
const TYPICAL: &[(u16, u16, u32)] = &[
    (8, 4, 0),
    (12, 4, 0),
    (7, 2, 0),
    (11, 2, 0),
    (4, 1, 0),
    (6, 1, 0),
    (5, 1, 0),
    (1, 8, 0),
    (2, 8, 0),
    (152, 8, 0),
    (153, 8, 0),
    (10, 4, 0),
    (14, 4, 0),
    (15, 4, 0),
    (16, 4, 0),
];

/// The vDS IPv4 template (ids 256/264): 21 fields with VMware IEs and padding.
const VDS: &[(u16, u16, u32)] = &[
    (8, 4, 0),
    (12, 4, 0),
    (1, 8, 0),
    (2, 8, 0),
    (152, 8, 0),
    (153, 8, 0),
    (7, 2, 0),
    (11, 2, 0),
    (10, 4, 0),
    (14, 4, 0),
    (351, 8, 0),
    (4, 1, 0),
    (136, 1, 0),
    (6, 1, 0),
    (5, 1, 0),
    (53, 1, 0),
    (61, 1, 0),
    (890, 2, 6876),
    (888, 2, 6876),
    (889, 1, 6876),
    (210, 1, 0),
];

fn header(version: u16, len: usize, seq: u32) -> Vec<u8> {
    let mut m = Vec::new();
    if version == 10 {
        m.extend(10u16.to_be_bytes());
        m.extend((len as u16).to_be_bytes());
        m.extend(1_700_000_000u32.to_be_bytes());
        m.extend(seq.to_be_bytes());
        m.extend(1u32.to_be_bytes());
    } else {
        m.extend(9u16.to_be_bytes());
        m.extend((RECORDS as u16).to_be_bytes());
        m.extend(100_000u32.to_be_bytes());
        m.extend(1_700_000_000u32.to_be_bytes());
        m.extend(seq.to_be_bytes());
        m.extend(1u32.to_be_bytes());
    }
    m
}

fn template_set(version: u16, fields: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(256u16.to_be_bytes());
    body.extend((fields.len() as u16).to_be_bytes());
    for &(id, len, pen) in fields {
        if pen != 0 {
            body.extend((id | 0x8000).to_be_bytes());
            body.extend(len.to_be_bytes());
            body.extend(pen.to_be_bytes());
        } else {
            body.extend(id.to_be_bytes());
            body.extend(len.to_be_bytes());
        }
    }
    let mut set = Vec::new();
    set.extend((if version == 10 { 2u16 } else { 0 }).to_be_bytes());
    set.extend(((body.len() + 4) as u16).to_be_bytes());
    set.extend(body);
    set
}

/// A record of plausible values for the template.
fn record(fields: &[(u16, u16, u32)], i: usize) -> Vec<u8> {
    let mut r = Vec::new();
    for &(id, len, _) in fields {
        let v: u64 = match id {
            8 => 0x0a00_0000 | (i as u64 * 7919 % 65_536),
            12 => 0xc0a8_0000 | (i as u64 % 256),
            7 => 1024 + i as u64,
            11 => 443,
            4 => 6,
            1 => 1500 * (i as u64 + 1),
            2 => i as u64 + 1,
            152 | 153 => 1_700_000_000_000 - 1000,
            _ => i as u64,
        };
        r.extend(&v.to_be_bytes()[8 - len as usize..]);
    }
    r
}

fn message(version: u16, fields: &[(u16, u16, u32)], with_template: bool, seq: u32) -> Vec<u8> {
    let mut sets = Vec::new();
    if with_template {
        sets.extend(template_set(version, fields));
    }
    let data: Vec<u8> = (0..RECORDS).flat_map(|i| record(fields, i)).collect();
    sets.extend(256u16.to_be_bytes());
    sets.extend(((data.len() + 4) as u16).to_be_bytes());
    sets.extend(data);
    let hlen = if version == 10 { 16 } else { 20 };
    let mut m = header(version, hlen + sets.len(), seq);
    m.extend(sets);
    m
}

fn v5_packet() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(5u16.to_be_bytes());
    m.extend((RECORDS as u16).to_be_bytes());
    m.extend(100_000u32.to_be_bytes());
    m.extend(1_700_000_000u32.to_be_bytes());
    m.extend(0u32.to_be_bytes());
    m.extend(0u32.to_be_bytes());
    m.extend([0, 0, 0, 0]);
    for i in 0..RECORDS as u32 {
        m.extend((0x0a00_0000 | i).to_be_bytes());
        m.extend(0xc0a8_0001u32.to_be_bytes());
        m.extend(0u32.to_be_bytes());
        m.extend(1u16.to_be_bytes());
        m.extend(2u16.to_be_bytes());
        m.extend((i + 1).to_be_bytes());
        m.extend((1500 * (i + 1)).to_be_bytes());
        m.extend(99_000u32.to_be_bytes());
        m.extend(99_900u32.to_be_bytes());
        m.extend((1024 + i as u16).to_be_bytes());
        m.extend(443u16.to_be_bytes());
        m.extend([0, 0x18, 6, 0]);
        m.extend([0, 0, 0, 0, 24, 24, 0, 0]);
    }
    m
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |a, &x| (a << 8) | x as u64)
}

/// The limit: the typical template's offsets hard-wired, filling the same batch.
fn hardwired_typical(msg: &[u8], out: &mut FlowBuilders, exporter: addr::Addr16) {
    let data = &msg[20..];
    for r in data.chunks_exact(63) {
        let row = FlowRow {
            time_received: Some(1),
            exporter: Some(exporter),
            observation_domain: Some(1),
            source_kind: Some("ipfix"),
            src_addr: Some(addr::from_v4_bytes(r[0..4].try_into().unwrap())),
            dst_addr: Some(addr::from_v4_bytes(r[4..8].try_into().unwrap())),
            src_port: Some(be(&r[8..10]) as u16),
            dst_port: Some(be(&r[10..12]) as u16),
            protocol: Some(r[12]),
            tcp_flags: Some(r[13] as u16),
            tos: Some(r[14]),
            bytes_reported: Some(be(&r[15..23])),
            bytes: Some(be(&r[15..23])),
            packets_reported: Some(be(&r[23..31])),
            packets: Some(be(&r[23..31])),
            flow_start: Some(be(&r[31..39]) as i64 * 1000),
            flow_end: Some(be(&r[39..47]) as i64 * 1000),
            in_if: Some(be(&r[47..51]) as u32),
            out_if: Some(be(&r[51..55]) as u32),
            next_hop: Some(addr::from_v4_bytes(r[55..59].try_into().unwrap())),
            src_as: Some(be(&r[59..63]) as u32),
            ..Default::default()
        };
        out.append(&row, []);
    }
}

/// The reference path the issue names: `netflow_parser` parses, then each parsed record is
/// converted into the same `flows` row (typical template's fields only, so the reference
/// is not handicapped by fields it would have to skip).
fn netflow_parser_to_arrow(
    parser: &mut netflow_parser::NetflowParser,
    msg: &[u8],
    out: &mut FlowBuilders,
    exporter: addr::Addr16,
) {
    use netflow_parser::NetflowPacket;
    use netflow_parser::variable_versions::field_value::FieldValue;
    use netflow_parser::variable_versions::ipfix::FlowSetBody;
    use netflow_parser::variable_versions::ipfix::lookup::{IANAIPFixField as F, IPFixField};

    for packet in parser.parse_bytes(msg).packets {
        let NetflowPacket::IPFix(ipfix) = packet else { continue };
        for set in &ipfix.flowsets {
            let FlowSetBody::Data(data) = &set.body else { continue };
            for record in &data.fields {
                let mut row = FlowRow {
                    time_received: Some(1),
                    exporter: Some(exporter),
                    observation_domain: Some(ipfix.header.observation_domain_id),
                    source_kind: Some("ipfix"),
                    ..Default::default()
                };
                for (field, value) in record {
                    let IPFixField::IANA(f) = field else { continue };
                    let n = || value.as_u64();
                    let v4 = || match value {
                        FieldValue::Ip4Addr(a) => Some(addr::from_v4_bytes(a.octets())),
                        _ => None,
                    };
                    match f {
                        F::SourceIpv4address => row.src_addr = v4(),
                        F::DestinationIpv4address => row.dst_addr = v4(),
                        F::IpNextHopIpv4address => row.next_hop = v4(),
                        F::SourceTransportPort => row.src_port = n().map(|v| v as u16),
                        F::DestinationTransportPort => row.dst_port = n().map(|v| v as u16),
                        F::ProtocolIdentifier => {
                            row.protocol = match value {
                                FieldValue::ProtocolType(p) => Some(u8::from(*p)),
                                _ => n().map(|v| v as u8),
                            }
                        }
                        F::TcpControlBits => {
                            row.tcp_flags = match value {
                                FieldValue::TcpControlBits(b, _) => Some(u16::from(*b)),
                                _ => n().map(|v| v as u16),
                            }
                        }
                        F::IpClassOfService => row.tos = n().map(|v| v as u8),
                        F::OctetDeltaCount => {
                            row.bytes_reported = n();
                            row.bytes = n();
                        }
                        F::PacketDeltaCount => {
                            row.packets_reported = n();
                            row.packets = n();
                        }
                        F::FlowStartMilliseconds => row.flow_start = n().map(|v| v as i64 * 1000),
                        F::FlowEndMilliseconds => row.flow_end = n().map(|v| v as i64 * 1000),
                        F::IngressInterface => row.in_if = n().map(|v| v as u32),
                        F::EgressInterface => row.out_if = n().map(|v| v as u32),
                        F::BgpSourceAsNumber => row.src_as = n().map(|v| v as u32),
                        _ => {}
                    }
                }
                out.append(&row, []);
            }
        }
    }
}

/// An sFlow datagram of `n` flow samples, each an extended-switch record and a 128-byte
/// sampled header of a TCP segment inside VXLAN (Ethernet, IPv4, UDP 4789, VXLAN,
/// Ethernet, IPv4, TCP), as a hypervisor uplink's agent sends them.
fn sflow_vxlan_datagram(n: u32) -> Vec<u8> {
    let w = |v: &mut Vec<u8>, x: u32| v.extend(x.to_be_bytes());
    let ipv4 = |proto: u8, len: u16, src: u8, dst: u8| {
        let mut h = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, src, 10, 0, 0, dst];
        h[2..4].copy_from_slice(&len.to_be_bytes());
        h
    };
    let mut pkt = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    pkt.extend(ipv4(17, 1500, 1, 2));
    pkt.extend([0xc0, 0x01, 0x12, 0xb5, 0x05, 0xc8, 0, 0, 8, 0, 0, 0, 0, 0x13, 0x89, 0]);
    pkt.extend([2, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 3, 8, 0]);
    pkt.extend(ipv4(6, 1450, 3, 4));
    pkt.extend([0x1f, 0x90, 0xc3, 0x50, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf5, 0, 0, 0, 0]);
    pkt.resize(128, 0);
    let mut sample = Vec::new();
    for v in [1, 0x0000_0003, 1000, 1_000_000, 0, 3, 5, 2] {
        w(&mut sample, v);
    }
    for v in [1001, 16, 0, 0, 0, 0, 1, 16 + 128, 1, 1518, 4, 128] {
        w(&mut sample, v);
    }
    sample.extend(&pkt);
    let mut d = Vec::new();
    for v in [5, 1, 0xc000_0201, 0, 1, 1000, n] {
        w(&mut d, v);
    }
    for _ in 0..n {
        w(&mut d, 1);
        w(&mut d, sample.len() as u32);
        d.extend(&sample);
    }
    d
}

fn bench_sflow(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    exporter: addr::Addr16,
) {
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/public/telegraf/sflow_issue_15918/message.bin"
    ))
    .expect("the repository's fixtures");
    for (name, datagram, samples) in [("sflow_vxlan", sflow_vxlan_datagram(8), 8), ("sflow_switch", real, 6)]
    {
        let mut dec = Decoder::new(DecoderConfig::default());
        // Headroom for the datagram that crosses BATCH, as the collector's workers leave
        // it: without it every column grows (and copies) once per batch.
        let mut out = FlowBuilders::with_capacity(BATCH + 64);
        let mut seq = 0u32;
        let mut datagram = datagram;
        g.throughput(Throughput::Elements(samples));
        g.bench_function(format!("{name}/plumb"), |b| {
            b.iter(|| {
                // A live agent's next datagram: no sequence gap to count.
                seq = seq.wrapping_add(1);
                let at = if datagram[7] == 1 { 16 } else { 28 };
                datagram[at..at + 4].copy_from_slice(&seq.to_be_bytes());
                dec.decode(black_box(&datagram), exporter, 1, &mut out);
                if out.len() >= BATCH {
                    black_box(out.finish());
                }
                // The counter rows are cut as the workers cut them, or they would pile up.
                if dec.side_rows() >= BATCH {
                    black_box(dec.finish_side_tables());
                }
            })
        });
        assert_eq!(dec.stats.total_errors(), 0, "{name}: {:?}", dec.stats.errors);
        // The only credible crate, parse only: no rows, headers copied but not read.
        let parser = flowparser_sflow::SflowParser::default();
        assert!(parser.parse_bytes(&datagram).error.is_none(), "{name}: the crate reads it");
        g.bench_function(format!("{name}/flowparser_sflow_parse_only"), |b| {
            b.iter(|| black_box(parser.parse_bytes(black_box(&datagram))))
        });
    }
}

fn bench(c: &mut Criterion) {
    // As the collector's binary starts: freed batches stay in the process, so the next batch
    // does not fault its pages back in (a tenth of the sFlow switch datagram's time).
    plumb_collector::batch_memory::keep_freed_memory();
    let exporter = addr::parse_text("192.0.2.1").unwrap();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(RECORDS as u64));

    for (name, version, fields) in
        [("ipfix_typical", 10u16, TYPICAL), ("v9_typical", 9, TYPICAL), ("ipfix_vds", 10, VDS)]
    {
        let tpl = message(version, fields, true, 0);
        let data = message(version, fields, false, 0);
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut out = FlowBuilders::with_capacity(BATCH);
        dec.decode(&tpl, exporter, 1, &mut out);
        out.finish();
        g.bench_function(format!("{name}/plumb"), |b| {
            b.iter(|| {
                dec.decode(black_box(&data), exporter, 1, &mut out);
                if out.len() >= BATCH {
                    black_box(out.finish());
                }
            })
        });
        let mut parser = netflow_parser::NetflowParser::default();
        let _ = parser.parse_bytes(&tpl);
        g.bench_function(format!("{name}/netflow_parser_parse_only"), |b| {
            b.iter(|| black_box(parser.parse_bytes(black_box(&data))))
        });
        if name == "ipfix_typical" {
            let mut out = FlowBuilders::with_capacity(BATCH);
            g.bench_function(format!("{name}/netflow_parser_to_arrow"), |b| {
                b.iter(|| {
                    netflow_parser_to_arrow(&mut parser, black_box(&data), &mut out, exporter);
                    if out.len() >= BATCH {
                        black_box(out.finish());
                    }
                })
            });
            g.bench_function(format!("{name}/hardwired"), |b| {
                b.iter(|| {
                    hardwired_typical(black_box(&data), &mut out, exporter);
                    if out.len() >= BATCH {
                        black_box(out.finish());
                    }
                })
            });
        }
    }

    let v5 = v5_packet();
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut out = FlowBuilders::with_capacity(BATCH);
    g.bench_function("v5/plumb", |b| {
        b.iter(|| {
            dec.decode(black_box(&v5), exporter, 1, &mut out);
            if out.len() >= BATCH {
                black_box(out.finish());
            }
        })
    });
    let mut parser = netflow_parser::NetflowParser::default();
    g.bench_function("v5/netflow_parser_parse_only", |b| {
        b.iter(|| black_box(parser.parse_bytes(black_box(&v5))))
    });
    bench_sflow(&mut g, exporter);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
