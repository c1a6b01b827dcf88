//! Column-first decoding of a data set, for the common template: fixed-length fields that
//! each map to one column with no rule between fields (softflowd, nProbe, most routers).
//! Each field is read for all records of the set in one tight loop straight into its
//! column, and the per-set values (exporter, sampling, time base) are filled in bulk:
//! this is what keeps the decoder within reach of one hard-wired to the template
//! (decision 0003).
//!
//! It must give exactly what the row path ([`super::record`] and [`super::finalize`])
//! gives. [`ColumnPlan::compile`] accepts only templates for which that is evident field
//! by field (no outer/inner address choice, no tunnel or sampling fields, no strings);
//! everything else takes the row path. `tests/columnar.rs` decodes the corpus both ways
//! and compares the batches.

use crate::addr::Addr16;
use crate::schema::{self, Addr, FlowBuilders, Label, Mac, Ts, U8, U16, U32, U64};
use crate::stats::DecodeStats;

use super::finalize::{self, SetContext};
use super::ie::Target;
use super::record::{be_uint, forwarding_status, ntp_to_us, to_us, v4, v6};
use super::template::Plan;

/// Where a field sits in every record of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct At {
    offset: usize,
    len: usize,
}

/// How a time field converts, in the row path's order of precedence.
#[derive(Clone, Copy, Debug, Default)]
struct TimeFields {
    /// The last absolute field (seconds, milliseconds or NTP): it wins outright.
    absolute: Option<(Target, At)>,
    uptime: Option<At>,
    delta: Option<At>,
}

/// A template's fields as column-first work.
#[derive(Clone, Debug)]
pub struct ColumnPlan {
    record_len: usize,
    /// Fields copied (converted) straight into a column of their own.
    direct: Vec<(Target, At)>,
    octets: Option<At>,
    packets: Option<At>,
    start: TimeFields,
    end: TimeFields,
    /// Protocol and ports, when ICMP type and code are to be read from the ports.
    icmp: Option<(At, Option<At>, Option<At>)>,
    /// Fields without a column: plan key, place, and for ipVersion the value the
    /// addresses imply (the field is kept only where it differs).
    extra: Vec<(u16, At, Option<u8>)>,
}

impl ColumnPlan {
    /// The column-first form of `plan`, or `None` when the plan needs the row path.
    pub fn compile(plan: &Plan) -> Option<ColumnPlan> {
        let record_len = plan.fixed_len.filter(|&l| l > 0 && !plan.is_options)?;
        let mut cp = ColumnPlan {
            record_len,
            direct: Vec::new(),
            octets: None,
            packets: None,
            start: TimeFields::default(),
            end: TimeFields::default(),
            icmp: None,
            extra: Vec::new(),
        };
        let (mut octet_total, mut packet_total) = (None, None);
        let mut offset = 0;
        for op in &plan.ops {
            let at = At { offset, len: op.len as usize };
            offset += at.len;
            match op.target {
                Target::Padding => {}
                Target::Extra | Target::IpVersion => cp.extra.push((op.key, at, None)),
                Target::IpVersionOf4 => cp.extra.push((op.key, at, Some(4))),
                Target::IpVersionOf6 => cp.extra.push((op.key, at, Some(6))),
                Target::OctetDelta => cp.octets = Some(at),
                Target::PacketDelta => cp.packets = Some(at),
                Target::OctetTotal => octet_total = Some(at),
                Target::PacketTotal => packet_total = Some(at),
                t @ (Target::StartSeconds
                | Target::StartMillis
                | Target::StartMicros
                | Target::StartNanos) => cp.start.absolute = Some((t, at)),
                t @ (Target::EndSeconds | Target::EndMillis | Target::EndMicros | Target::EndNanos) => {
                    cp.end.absolute = Some((t, at))
                }
                Target::StartSysUptime => cp.start.uptime = Some(at),
                Target::EndSysUptime => cp.end.uptime = Some(at),
                Target::StartDeltaMicros => cp.start.delta = Some(at),
                Target::EndDeltaMicros => cp.end.delta = Some(at),
                t if is_direct(t) => cp.direct.push((t, at)),
                _ => return None,
            }
        }
        cp.octets = cp.octets.or(octet_total);
        cp.packets = cp.packets.or(packet_total);
        let has = |t: Target| cp.direct.iter().any(|&(d, _)| d == t);
        // Two fields for one column are settled by value in the row path.
        for (a, b) in [
            (Target::SrcV4, Target::SrcV6),
            (Target::DstV4, Target::DstV6),
            (Target::NextHopV4, Target::NextHopV6),
        ] {
            if has(a) && has(b) {
                return None;
            }
        }
        if has(Target::IcmpCode) && !has(Target::IcmpType) {
            return None;
        }
        if !has(Target::IcmpType) {
            let at = |t: Target| cp.direct.iter().find(|&&(d, _)| d == t).map(|&(_, at)| at);
            cp.icmp = at(Target::Protocol).map(|p| (p, at(Target::DstPort), at(Target::SrcPort)));
        }
        Some(cp)
    }
}

/// Targets whose value goes to one column and nowhere else.
fn is_direct(t: Target) -> bool {
    use Target::*;
    matches!(
        t,
        Protocol
            | Tos
            | TcpFlags
            | SrcPort
            | DstPort
            | SrcV4
            | DstV4
            | SrcV6
            | DstV6
            | NextHopV4
            | NextHopV6
            | SrcAs
            | DstAs
            | InIf
            | OutIf
            | Vlan
            | SrcMac
            | DstMac
            | MinIpLen
            | MaxIpLen
            | IcmpType
            | IcmpCode
            | FragmentFlags
            | ForwardingStatus
            | FlowDirection
            | FlowEndReason
    )
}

/// The unsigned value of a field; the plan only admits lengths of 1..=8 bytes.
#[inline(always)]
fn uint(v: &[u8]) -> u64 {
    be_uint(v).unwrap_or(0)
}

/// The address of a field; the plan only admits fields of the address's exact length.
#[inline(always)]
fn address(v: Option<Addr16>) -> Addr16 {
    v.unwrap_or([0; 16])
}

/// Decodes every whole record of `body` into `out`; returns how many.
pub fn decode_set(
    cp: &ColumnPlan,
    plan: &Plan,
    body: &[u8],
    set: &SetContext,
    stats: &mut DecodeStats,
    out: &mut FlowBuilders,
) -> usize {
    let n = body.len() / cp.record_len;
    if n == 0 {
        return 0;
    }
    let records = &body[..n * cp.record_len];
    let row = out.len();
    // Each field of every record: `field(at)` iterates its bytes record by record.
    let field = |at: At| records.chunks_exact(cp.record_len).map(move |r| &r[at.offset..at.offset + at.len]);

    for &(target, at) in &cp.direct {
        direct(out, row, target, field(at));
    }
    per_set(cp, set, stats, out, row, n, &field);
    if let Some((proto, dst, src)) = cp.icmp {
        icmp(out, row, field(proto), dst.map(field), src.map(field));
    }
    if !cp.extra.is_empty() {
        for (i, r) in records.chunks_exact(cp.record_len).enumerate() {
            let entries = cp.extra.iter().filter_map(|&(key, at, implied)| {
                let v = &r[at.offset..at.offset + at.len];
                (implied.is_none_or(|w| v != [w])).then_some((&*plan.keys[key as usize], v))
            });
            if entries.clone().next().is_some() {
                out.push_extra(row + i, entries);
            }
        }
    }
    out.commit_rows(n);
    n
}

fn direct<'a>(out: &mut FlowBuilders, row: usize, target: Target, values: impl Iterator<Item = &'a [u8]>) {
    use schema::fill;
    match target {
        Target::Protocol => fill::<U8>(&mut out.protocol, row, values.map(|v| uint(v) as u8)),
        Target::Tos => fill::<U8>(&mut out.tos, row, values.map(|v| uint(v) as u8)),
        Target::TcpFlags => fill::<U16>(&mut out.tcp_flags, row, values.map(|v| uint(v) as u16)),
        Target::SrcPort => fill::<U16>(&mut out.src_port, row, values.map(|v| uint(v) as u16)),
        Target::DstPort => fill::<U16>(&mut out.dst_port, row, values.map(|v| uint(v) as u16)),
        Target::SrcV4 => fill::<Addr>(&mut out.src_addr, row, values.map(|v| address(v4(v)))),
        Target::DstV4 => fill::<Addr>(&mut out.dst_addr, row, values.map(|v| address(v4(v)))),
        Target::SrcV6 => fill::<Addr>(&mut out.src_addr, row, values.map(|v| address(v6(v)))),
        Target::DstV6 => fill::<Addr>(&mut out.dst_addr, row, values.map(|v| address(v6(v)))),
        Target::NextHopV4 => fill::<Addr>(&mut out.next_hop, row, values.map(|v| address(v4(v)))),
        Target::NextHopV6 => fill::<Addr>(&mut out.next_hop, row, values.map(|v| address(v6(v)))),
        Target::SrcAs => fill::<U32>(&mut out.src_as, row, values.map(|v| uint(v) as u32)),
        Target::DstAs => fill::<U32>(&mut out.dst_as, row, values.map(|v| uint(v) as u32)),
        Target::InIf => fill::<U32>(&mut out.in_if, row, values.map(|v| uint(v) as u32)),
        Target::OutIf => fill::<U32>(&mut out.out_if, row, values.map(|v| uint(v) as u32)),
        Target::Vlan => fill::<U16>(&mut out.vlan, row, values.map(|v| uint(v) as u16)),
        Target::SrcMac => fill::<Mac>(&mut out.src_mac, row, values.map(|v| v.try_into().unwrap_or([0; 6]))),
        Target::DstMac => fill::<Mac>(&mut out.dst_mac, row, values.map(|v| v.try_into().unwrap_or([0; 6]))),
        Target::MinIpLen => fill::<U32>(&mut out.min_ip_len, row, values.map(|v| uint(v) as u32)),
        Target::MaxIpLen => fill::<U32>(&mut out.max_ip_len, row, values.map(|v| uint(v) as u32)),
        Target::IcmpType => fill::<U8>(&mut out.icmp_type, row, values.map(|v| uint(v) as u8)),
        Target::IcmpCode => fill::<U8>(&mut out.icmp_code, row, values.map(|v| uint(v) as u8)),
        Target::FragmentFlags => fill::<U8>(&mut out.fragment_flags, row, values.map(|v| uint(v) as u8)),
        Target::ForwardingStatus => {
            fill::<U8>(&mut out.forwarding_status, row, values.map(|v| forwarding_status(uint(v))))
        }
        Target::FlowDirection => fill::<U8>(&mut out.flow_direction, row, values.map(|v| uint(v) as u8)),
        Target::FlowEndReason => fill::<U8>(&mut out.flow_end_reason, row, values.map(|v| uint(v) as u8)),
        // `is_direct` admits only the targets above.
        _ => {}
    }
}

/// The columns that come from the message and set rather than the record: receive time,
/// exporter, domain, kind, sampling and the scaled counts, flow start and end.
fn per_set<'a, I: Iterator<Item = &'a [u8]>>(
    cp: &ColumnPlan,
    set: &SetContext,
    stats: &mut DecodeStats,
    out: &mut FlowBuilders,
    row: usize,
    n: usize,
    field: &impl Fn(At) -> I,
) {
    use schema::fill;
    let ctx = set.msg;
    fill::<Ts>(&mut out.time_received, row, std::iter::repeat_n(ctx.received_us, n));
    fill::<Ts>(&mut out.time_exported, row, std::iter::repeat_n(ctx.export_us(), n));
    fill::<Addr>(&mut out.exporter, row, std::iter::repeat_n(ctx.exporter, n));
    fill::<U32>(&mut out.observation_domain, row, std::iter::repeat_n(ctx.domain, n));
    fill::<Label>(&mut out.source_kind, row, std::iter::repeat_n(ctx.kind.as_str(), n));

    let rate = finalize::choose_rate(set.scope_rate, set.configured, stats, n as u64);
    if let Some(rate) = rate {
        fill::<U32>(&mut out.sampling_rate, row, std::iter::repeat_n(rate, n));
    }
    let factor = rate.unwrap_or(1) as u64;
    if let Some(at) = cp.octets {
        fill::<U64>(&mut out.bytes_reported, row, field(at).map(uint));
        fill::<U64>(&mut out.bytes, row, field(at).map(|v| uint(v).saturating_mul(factor)));
    }
    if let Some(at) = cp.packets {
        fill::<U64>(&mut out.packets_reported, row, field(at).map(uint));
        fill::<U64>(&mut out.packets, row, field(at).map(|v| uint(v).saturating_mul(factor)));
    }
    time(&cp.start, set, &mut out.flow_start, row, field);
    time(&cp.end, set, &mut out.flow_end, row, field);
}

/// Fills a time column from the field the row path would take for it.
fn time<'a, I: Iterator<Item = &'a [u8]>>(
    t: &TimeFields,
    set: &SetContext,
    column: &mut <Ts as schema::ColumnKind>::Builder,
    row: usize,
    field: &impl Fn(At) -> I,
) {
    use schema::fill;
    let ctx = set.msg;
    if let Some((target, at)) = t.absolute {
        let values = field(at).map(uint);
        match target {
            Target::StartSeconds | Target::EndSeconds => {
                fill::<Ts>(column, row, values.map(|s| to_us(s, 1_000_000)))
            }
            Target::StartMillis | Target::EndMillis => {
                fill::<Ts>(column, row, values.map(|s| to_us(s, 1_000)))
            }
            _ => fill::<Ts>(column, row, values.map(ntp_to_us)),
        }
        return;
    }
    // Whether uptimes convert depends only on the message and scope, not on the record.
    let uptime_base = ctx.sys_uptime_ms.is_some() || set.system_init_ms.is_some();
    if let Some(at) = t.uptime.filter(|_| uptime_base) {
        let values = field(at)
            .map(|v| finalize::uptime_to_us(ctx, set.system_init_ms, uint(v) as u32).unwrap_or_default());
        fill::<Ts>(column, row, values);
    } else if let Some(at) = t.delta {
        let export_us = ctx.export_us();
        fill::<Ts>(column, row, field(at).map(|v| finalize::delta_to_us(export_us, uint(v) as u32)));
    }
}

/// ICMP type and code from the ports, for the ICMP rows only (the row path's rule).
fn icmp<'a>(
    out: &mut FlowBuilders,
    row: usize,
    protocols: impl Iterator<Item = &'a [u8]>,
    mut dst: Option<impl Iterator<Item = &'a [u8]>>,
    mut src: Option<impl Iterator<Item = &'a [u8]>>,
) {
    for (i, p) in protocols.enumerate() {
        let d = dst.as_mut().and_then(|it| it.next()).map(|v| uint(v) as u16);
        let s = src.as_mut().and_then(|it| it.next()).map(|v| uint(v) as u16);
        if let Some(tc) = finalize::icmp_from_ports(Some(uint(p) as u8), d, s) {
            schema::push_at::<U8>(&mut out.icmp_type, row + i, (tc >> 8) as u8);
            schema::push_at::<U8>(&mut out.icmp_code, row + i, tc as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(fields: &[(u32, u16, u16)]) -> Plan {
        Plan::of_fields(fields)
    }

    #[test]
    fn plain_fixed_templates_go_column_first() {
        let p = plan(&[(0, 8, 4), (0, 12, 4), (0, 7, 2), (0, 11, 2), (0, 4, 1), (0, 1, 8), (0, 153, 8)]);
        let cp = p.columnar.expect("typical template");
        assert_eq!(cp.record_len, 29);
        assert!(cp.icmp.is_some(), "protocol and ports without ICMP fields: read ICMP from the ports");
        assert_eq!(cp.octets, Some(At { offset: 13, len: 8 }));
    }

    #[test]
    fn templates_with_rules_between_fields_take_the_row_path() {
        // Both address families: which one is real is decided by value.
        assert!(plan(&[(0, 8, 4), (0, 27, 16)]).columnar.is_none());
        // A variable-length field.
        assert!(plan(&[(0, 8, 4), (0, 82, 0xFFFF)]).columnar.is_none());
        // Sampling fields in the record and vDS tenant fields.
        assert!(plan(&[(0, 8, 4), (0, 34, 4)]).columnar.is_none());
        assert!(plan(&[(0, 8, 4), (6876, 880, 1)]).columnar.is_none());
    }
}
