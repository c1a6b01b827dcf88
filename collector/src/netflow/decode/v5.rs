//! NetFlow v5 and v7, parsed with the `netflow_parser` crate (as fast as hand code for
//! these fixed 48/52-byte records) and turned into `flows` rows.

use std::net::Ipv4Addr;

use netflow_parser::static_versions::{v5::V5, v7::V7};

use crate::addr::{self, Addr16};
use crate::netflow::stats::NetflowError;
use crate::schema::FlowBuilders;
use crate::source_kind::SourceKind;

use super::finalize;
use super::record::Fields;
use crate::netflow::plan::rules;
use crate::netflow::state::sequence::Counted;
use crate::netflow::{Decoder, MsgContext, Outcome};

/// The fields v5 and v7 records share.
struct Common {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    next_hop: Ipv4Addr,
    input: u16,
    output: u16,
    packets: u32,
    octets: u32,
    first: u32,
    last: u32,
    src_port: u16,
    dst_port: u16,
    tcp_flags: u8,
    protocol: u8,
    tos: u8,
    src_as: u16,
    dst_as: u16,
}

/// The shared fields of a parsed v5 or v7 record (same names in both crate types).
macro_rules! common {
    ($r:expr) => {
        Common {
            src: $r.src_addr,
            dst: $r.dst_addr,
            next_hop: $r.next_hop,
            input: $r.input,
            output: $r.output,
            packets: $r.d_pkts,
            octets: $r.d_octets,
            first: $r.first,
            last: $r.last,
            src_port: $r.src_port,
            dst_port: $r.dst_port,
            tcp_flags: $r.tcp_flags,
            protocol: $r.protocol_number,
            tos: $r.tos,
            src_as: $r.src_as,
            dst_as: $r.dst_as,
        }
    };
}

/// The header's sampling field: top two bits the mode, low 14 bits the interval; 0 is
/// unsampled.
fn header_rate(sampling: u16) -> u32 {
    match sampling & 0x3FFF {
        0 => 1,
        n => n as u32,
    }
}

/// Decodes one v5 or v7 packet at the start of `buf`; returns the bytes it spans.
pub fn decode(
    dec: &mut Decoder,
    buf: &[u8],
    exporter: Addr16,
    received_us: i64,
    out: &mut FlowBuilders,
    outcome: &mut Outcome,
) -> usize {
    if buf.len() < 24 {
        dec.counts.error(NetflowError::Truncated);
        return buf.len();
    }
    let v7 = buf[1] == 7;
    // The parsers take the bytes after the version field.
    let body = &buf[2..];
    let parsed = if v7 {
        V7::parse_direct(body).map(|(rest, p)| {
            let h = &p.header;
            let ctx = header_ctx(
                exporter,
                received_us,
                SourceKind::NetflowV7,
                h.sys_up_time,
                h.unix_secs,
                h.unix_nsecs,
                0,
            );
            let recs: Vec<Common> = p.flowsets.iter().map(|r| common!(r)).collect();
            (rest.len(), ctx, h.flow_sequence, 1, recs)
        })
    } else {
        V5::parse_direct(body).map(|(rest, p)| {
            let h = &p.header;
            let domain = (h.engine_type as u32) << 8 | h.engine_id as u32;
            let ctx = header_ctx(
                exporter,
                received_us,
                SourceKind::NetflowV5,
                h.sys_up_time,
                h.unix_secs,
                h.unix_nsecs,
                domain,
            );
            let recs: Vec<Common> = p.flowsets.iter().map(|r| common!(r)).collect();
            (rest.len(), ctx, h.flow_sequence, header_rate(h.sampling_interval), recs)
        })
    };
    let Ok((rest_len, ctx, seq, rate, recs)) = parsed else {
        dec.counts.error(NetflowError::BadV5);
        return buf.len();
    };
    let s = dec.seq.observe(
        exporter,
        if v7 { 7 } else { 5 },
        ctx.domain,
        seq,
        Counted::units(recs.len() as u32),
        false,
    );
    outcome.lost += s.lost;
    dec.counts.shared.sequence_resets += s.reset as u64;
    let configured = dec.config.sampling_overrides.get(&exporter).copied();
    let rate = finalize::choose_rate(Some(rate), configured, &mut dec.counts.shared, recs.len() as u64);
    for r in &recs {
        let mut f = Fields::default();
        fill(&mut f, r, &ctx);
        finalize::apply_counts(&mut f, Some(r.octets as u64), Some(r.packets as u64), rate);
        out.append(&f.row, []);
        outcome.records += 1;
    }
    buf.len() - rest_len
}

fn header_ctx(
    exporter: Addr16,
    received_us: i64,
    kind: SourceKind,
    uptime: u32,
    secs: u32,
    nsecs: u32,
    domain: u32,
) -> MsgContext {
    MsgContext {
        exporter,
        domain,
        kind,
        export_secs: secs,
        export_micros: (nsecs / 1000).min(999_999),
        sys_uptime_ms: Some(uptime),
        received_us,
    }
}

fn fill(f: &mut Fields<'_>, r: &Common, ctx: &MsgContext) {
    let row = &mut f.row;
    ctx.fill_row(row);
    // The header always carries the uptime, so these are never `None`.
    row.flow_start = rules::uptime_to_us(ctx, None, r.first);
    row.flow_end = rules::uptime_to_us(ctx, None, r.last);
    row.src_addr = Some(addr::from_v4_bytes(r.src.octets()));
    row.dst_addr = Some(addr::from_v4_bytes(r.dst.octets()));
    row.next_hop = Some(addr::from_v4_bytes(r.next_hop.octets()));
    row.in_if = Some(r.input as u32);
    row.out_if = Some(r.output as u32);
    row.src_port = Some(r.src_port);
    row.dst_port = Some(r.dst_port);
    row.tcp_flags = Some(r.tcp_flags as u16);
    row.protocol = Some(r.protocol);
    row.tos = Some(r.tos);
    row.src_as = Some(r.src_as as u32);
    row.dst_as = Some(r.dst_as as u32);
    if r.protocol == 1 {
        // type·256 + code in the destination port; some exporters use the source port.
        let tc = if r.dst_port != 0 { r.dst_port } else { r.src_port };
        row.icmp_type = Some((tc >> 8) as u8);
        row.icmp_code = Some(tc as u8);
    }
}
