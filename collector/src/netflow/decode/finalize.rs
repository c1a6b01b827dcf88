//! From what a record says to a `flows` row: absolute times, sampling, ICMP, VLAN and the
//! tunnel columns. One rule for every source: `src_addr`…`protocol` describe the outermost
//! packet, `inner_*` the encapsulated one, `tunnel_*` the encapsulation.

use crate::netflow::stats::NetflowStats;
use crate::stats::DecodeStats;

use crate::netflow::plan::ie;
use crate::netflow::plan::rules::{self, TimeSource};
use crate::netflow::state::{DecoderState, Scope};
use crate::netflow::{DecoderConfig, MsgContext, SamplingOverride};

use super::record::Fields;

/// What every record of one data set shares, looked up once per set: per-record hash
/// lookups of the sampling tables cost a fifth of the decode time.
pub struct SetContext<'c> {
    pub msg: &'c MsgContext,
    pub scope: Scope,
    pub configured: Option<SamplingOverride>,
    /// The rate announced for the scope without a sampler id.
    pub scope_rate: Option<u32>,
    pub system_init_ms: Option<u64>,
}

impl<'c> SetContext<'c> {
    pub fn new(msg: &'c MsgContext, scope: Scope, state: &DecoderState, config: &DecoderConfig) -> Self {
        Self {
            msg,
            scope,
            configured: config.sampling_overrides.get(&msg.exporter).copied(),
            scope_rate: state.sampling(scope, 0),
            system_init_ms: state.system_init(scope),
        }
    }
}

/// Completes `f.row` in place.
#[inline]
pub fn flow(f: &mut Fields<'_>, set: &SetContext, state: &DecoderState, stats: &mut NetflowStats) {
    let ctx = set.msg;
    ctx.fill_row(&mut f.row);
    times(f, ctx, set.system_init_ms);
    let reported_rate = f.sampling.factor().or_else(|| match f.sampling.sampler_key() {
        0 => set.scope_rate,
        sampler => state.sampling(set.scope, sampler),
    });
    let rate = choose_rate(reported_rate, set.configured, &mut stats.shared, 1);
    let octets = rules::reported(f.octet_delta, f.octet_total);
    let packets = rules::reported(f.packet_delta, f.packet_total);
    apply_counts(f, octets, packets, rate);
    icmp(f);
    let r = &mut f.row;
    if r.vlan.is_none() {
        r.vlan = f.dot1q_vlan;
    }
    tunnel(f);
}

/// Picks the sampling factor of `records` rows: what the exporter announced, else the
/// configured one; a forced configuration wins. Counts rows whose rate came from
/// configuration or is unknown.
pub fn choose_rate(
    reported: Option<u32>,
    configured: Option<SamplingOverride>,
    stats: &mut DecodeStats,
    records: u64,
) -> Option<u32> {
    match (reported, configured) {
        (_, Some(o)) if o.force => {
            stats.records_config_sampling += records;
            Some(o.factor)
        }
        (Some(r), _) => Some(r),
        (None, Some(o)) => {
            stats.records_config_sampling += records;
            Some(o.factor)
        }
        (None, None) => {
            stats.records_unknown_sampling += records;
            None
        }
    }
}

/// Sets reported and scaled counts. An unknown rate keeps scaled = reported.
#[inline]
pub fn apply_counts(f: &mut Fields<'_>, octets: Option<u64>, packets: Option<u64>, rate: Option<u32>) {
    let r = &mut f.row;
    r.sampling_rate = rate;
    r.bytes_reported = octets;
    r.packets_reported = packets;
    r.bytes = octets.map(|o| rules::scaled(o, rate));
    r.packets = packets.map(|p| rules::scaled(p, rate));
}

fn times(f: &mut Fields<'_>, ctx: &MsgContext, scope_init_ms: Option<u64>) {
    let t = &f.time;
    let init = t.system_init_ms.or(scope_init_ms);
    let base = rules::has_uptime_base(ctx, init);
    let time = |source| match source {
        Some(TimeSource::Absolute(us)) => Some(us),
        Some(TimeSource::Uptime(up)) => rules::uptime_to_us(ctx, init, up),
        Some(TimeSource::Delta(d)) => Some(rules::delta_to_us(ctx.export_us(), d)),
        None => None,
    };
    f.row.flow_start = time(rules::time_source(t.start_us, t.start_uptime_ms, t.start_delta_us, base));
    f.row.flow_end = time(rules::time_source(t.end_us, t.end_uptime_ms, t.end_delta_us, base));
}

fn icmp(f: &mut Fields<'_>) {
    let r = &mut f.row;
    if r.icmp_type.is_some() {
        return;
    }
    let code = f.icmp_type_code.or_else(|| {
        // v5-style: type·256 + code in the destination port (OVS, many v9 exporters), else
        // in the source port.
        let proto = r.inner_protocol.filter(|_| r.inner_src_addr.is_some()).or(r.protocol);
        icmp_from_ports(proto, r.dst_port, r.src_port)
    });
    if let Some(tc) = code {
        r.icmp_type = Some((tc >> 8) as u8);
        r.icmp_code = Some(tc as u8);
    }
}

/// ICMP type·256 + code where exporters put it for want of ICMP fields: in the
/// destination port (OVS, many v9 exporters), else in the source port.
#[inline]
pub fn icmp_from_ports(proto: Option<u8>, dst_port: Option<u16>, src_port: Option<u16>) -> Option<u16> {
    if !matches!(proto, Some(1) | Some(58)) {
        return None;
    }
    match (dst_port, src_port) {
        (Some(d), _) if d != 0 => Some(d),
        (_, Some(s)) if s != 0 => Some(s),
        (Some(0), _) => Some(0),
        _ => None,
    }
}

fn tunnel(f: &mut Fields<'_>) {
    let r = &mut f.row;
    if let Some(code) = f.tunnel_type_code {
        r.tunnel_type = ie::tunnel_type_name(code);
    }
    // OVS tunnel records: the tunnel IEs are the outer header.
    if r.tunnel_src.is_some() || r.tunnel_dst.is_some() {
        r.src_addr = r.src_addr.or(r.tunnel_src);
        r.dst_addr = r.dst_addr.or(r.tunnel_dst);
        r.src_port = r.src_port.or(r.tunnel_src_port);
        r.dst_port = r.dst_port.or(r.tunnel_dst_port);
        // OVS reports protocol 0 for Geneve; the outer packet is UDP.
        if r.tunnel_type == Some("geneve") && r.protocol == Some(0) {
            r.protocol = Some(17);
        }
    }
    // vDS: layer2SegmentId carries the type in its top byte and the VNI/key below.
    if let Some(seg) = r.layer2_segment_id.filter(|&s| s != 0) {
        let kind = (seg >> 56) as u8;
        if r.tunnel_type.is_none() {
            r.tunnel_type = ie::tunnel_type_name(kind);
        }
        if r.tunnel_key.is_none() {
            let mask = if kind == 0x02 { 0xFFFF_FFFF } else { 0x00FF_FFFF };
            r.tunnel_key = Some((seg & mask) as u32);
        }
    }
}
