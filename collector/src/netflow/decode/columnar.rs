//! Column-first decoding of a data set with a [`ColumnPlan`]: each field is read for all
//! records of the set in one tight loop straight into its column, and the per-set values
//! (exporter, sampling, time base) are filled in bulk. This is what keeps the decoder
//! within reach of one hard-wired to the template (decision 0003).
//!
//! It gives exactly what the row path ([`super::record`] and [`super::finalize`]) gives:
//! both take columns from [`columns`] and times and counts from [`rules`];
//! `tests/corpus.rs` decodes the corpus both ways and compares the batches.

use crate::schema::{self, Addr, FlowBuilders, Label, Ts, U8, U32, U64};

use crate::netflow::plan::column_plan::{At, ColumnPlan, TimeColumns};
use crate::netflow::plan::columns::{self, TimeUnit};
use crate::netflow::plan::record_plan::RecordPlan;
use crate::netflow::plan::rules::{self, TimeSource};
use crate::netflow::stats::NetflowStats;
use crate::netflow::wire::values::be_uint;

use super::finalize::{self, SetContext};

/// The unsigned value of a field; the plan only admits lengths of 1..=8 bytes.
#[inline(always)]
fn uint(v: &[u8]) -> u64 {
    be_uint(v).unwrap_or(0)
}

/// Decodes every whole record of `body` into `out`; returns how many.
pub fn decode_set(
    cp: &ColumnPlan,
    plan: &RecordPlan,
    body: &[u8],
    set: &SetContext,
    stats: &mut NetflowStats,
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
        columns::fill_column(out, row, target, field(at));
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

/// The columns that come from the message and set rather than the record: receive time,
/// exporter, domain, kind, sampling and the scaled counts, flow start and end.
fn per_set<'a, I: Iterator<Item = &'a [u8]>>(
    cp: &ColumnPlan,
    set: &SetContext,
    stats: &mut NetflowStats,
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

    let rate = finalize::choose_rate(set.scope_rate, set.configured, &mut stats.shared, n as u64);
    if let Some(rate) = rate {
        fill::<U32>(&mut out.sampling_rate, row, std::iter::repeat_n(rate, n));
    }
    if let Some(at) = cp.octets {
        fill::<U64>(&mut out.bytes_reported, row, field(at).map(uint));
        fill::<U64>(&mut out.bytes, row, field(at).map(|v| rules::scaled(uint(v), rate)));
    }
    if let Some(at) = cp.packets {
        fill::<U64>(&mut out.packets_reported, row, field(at).map(uint));
        fill::<U64>(&mut out.packets, row, field(at).map(|v| rules::scaled(uint(v), rate)));
    }
    time(&cp.start, set, &mut out.flow_start, row, field);
    time(&cp.end, set, &mut out.flow_end, row, field);
}

/// Fills a time column from the field [`rules::time_source`] picks.
fn time<'a, I: Iterator<Item = &'a [u8]>>(
    t: &TimeColumns,
    set: &SetContext,
    column: &mut <Ts as schema::ColumnKind>::Builder,
    row: usize,
    field: &impl Fn(At) -> I,
) {
    use schema::fill;
    let ctx = set.msg;
    // Which field wins depends only on the template, the message and the scope: decided
    // once per set.
    let base = rules::has_uptime_base(ctx, set.system_init_ms);
    match rules::time_source(t.absolute, t.uptime, t.delta, base) {
        // One loop per unit: the conversion is not looked up record by record.
        Some(TimeSource::Absolute((target, at))) => match TimeUnit::of(target) {
            Some(TimeUnit::Seconds) => {
                fill::<Ts>(column, row, field(at).map(|v| TimeUnit::Seconds.to_us(uint(v))))
            }
            Some(TimeUnit::Millis) => {
                fill::<Ts>(column, row, field(at).map(|v| TimeUnit::Millis.to_us(uint(v))))
            }
            Some(TimeUnit::Ntp) => fill::<Ts>(column, row, field(at).map(|v| TimeUnit::Ntp.to_us(uint(v)))),
            None => {}
        },
        Some(TimeSource::Uptime(at)) => fill::<Ts>(
            column,
            row,
            field(at)
                .map(|v| rules::uptime_to_us(ctx, set.system_init_ms, uint(v) as u32).unwrap_or_default()),
        ),
        Some(TimeSource::Delta(at)) => {
            let export_us = ctx.export_us();
            fill::<Ts>(column, row, field(at).map(|v| rules::delta_to_us(export_us, uint(v) as u32)))
        }
        None => {}
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
