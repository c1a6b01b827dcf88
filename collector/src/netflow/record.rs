//! Decoding one data record with a compiled [`Plan`] into the raw [`Fields`] of a flow.
//! Values are read in place from the datagram; nothing is allocated per record.

use crate::addr::{self, Addr16};
use crate::schema::FlowRow;

use super::ie::{Target, VARLEN};
use super::template::{Op, Plan};

/// Time fields as the record carries them; made absolute by the message context.
#[derive(Clone, Copy, Default, Debug)]
pub struct TimeFields {
    pub start_uptime_ms: Option<u32>,
    pub end_uptime_ms: Option<u32>,
    /// Absolute times already in µs since the Unix epoch.
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub start_delta_us: Option<u32>,
    pub end_delta_us: Option<u32>,
    pub system_init_ms: Option<u64>,
}

/// Sampling fields as the record carries them.
#[derive(Clone, Copy, Default, Debug)]
pub struct SamplingFields {
    pub interval: Option<u64>,
    pub algorithm: Option<u64>,
    pub sampler_id: Option<u64>,
    pub sampler_mode: Option<u64>,
    pub sampler_random_interval: Option<u64>,
    pub selector_id: Option<u64>,
    pub packet_interval: Option<u64>,
    pub packet_space: Option<u64>,
    pub size: Option<u64>,
    pub population: Option<u64>,
    pub probability: Option<f64>,
}

impl SamplingFields {
    /// The sampling factor these fields state on their own, if any (domain.md §5.2).
    pub fn factor(&self) -> Option<u32> {
        let clamp = |f: f64| (f.is_finite() && f >= 1.0).then(|| f.round().min(u32::MAX as f64) as u32);
        if let Some(n) = self.interval.or(self.sampler_random_interval).filter(|&n| n > 0) {
            return Some(n.min(u32::MAX as u64) as u32);
        }
        if let (Some(i), Some(s)) = (self.packet_interval, self.packet_space)
            && i > 0
        {
            return clamp((i + s) as f64 / i as f64);
        }
        if let (Some(size), Some(pop)) = (self.size, self.population)
            && size > 0
        {
            return clamp(pop as f64 / size as f64);
        }
        self.probability.filter(|&p| p > 0.0).and_then(|p| clamp(1.0 / p))
    }

    pub fn is_empty(&self) -> bool {
        self.factor().is_none()
    }

    /// The id that keys this record's sampler in the options tables (0 when none).
    pub fn sampler_key(&self) -> u64 {
        self.selector_id.or(self.sampler_id).unwrap_or(0)
    }
}

/// Everything one record says, before the message context is applied.
#[derive(Clone, Copy, Default, Debug)]
pub struct Fields<'a> {
    pub row: FlowRow<'a>,
    pub octet_delta: Option<u64>,
    pub packet_delta: Option<u64>,
    pub octet_total: Option<u64>,
    pub packet_total: Option<u64>,
    pub time: TimeFields,
    pub sampling: SamplingFields,
    pub icmp_type_code: Option<u16>,
    pub dot1q_vlan: Option<u16>,
    pub tunnel_type_code: Option<u8>,
    pub not_sent_flows: Option<u64>,
    pub not_sent_packets: Option<u64>,
    pub not_sent_octets: Option<u64>,
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated")]
    Truncated,
}

/// A value that went to `extra`: the plan's key index and the value's byte range.
#[derive(Clone, Copy, Debug)]
pub struct ExtraRef {
    pub key: u16,
    pub start: u32,
    pub end: u32,
}

/// Big-endian unsigned integer of 1..=8 bytes.
#[inline]
pub fn be_uint(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 8 {
        return None;
    }
    Some(v.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

/// A count of `unit`-µs ticks as µs; hostile values saturate instead of overflowing.
pub(super) fn to_us(ticks: u64, unit: i64) -> i64 {
    i64::try_from(ticks).unwrap_or(i64::MAX).saturating_mul(unit)
}

/// Converts an NTP timestamp (seconds since 1900 and a 2^-32 fraction) to µs since 1970.
pub(super) fn ntp_to_us(v: u64) -> i64 {
    const NTP_TO_UNIX_S: i64 = 2_208_988_800;
    let secs = (v >> 32) as i64 - NTP_TO_UNIX_S;
    let frac_us = ((v & 0xFFFF_FFFF) * 1_000_000) >> 32;
    secs * 1_000_000 + frac_us as i64
}

pub(super) fn v4(v: &[u8]) -> Option<Addr16> {
    Some(addr::from_v4_bytes(v.try_into().ok()?))
}

pub(super) fn v6(v: &[u8]) -> Option<Addr16> {
    v.try_into().ok()
}

/// Decodes the record at `data[pos..]`; returns the position after it. Values without a
/// column are pushed to `extras` as byte ranges of `data`.
#[inline]
pub fn decode<'a>(
    plan: &Plan,
    data: &'a [u8],
    mut pos: usize,
    f: &mut Fields<'a>,
    extras: &mut Vec<ExtraRef>,
) -> Result<usize, RecordError> {
    for op in &plan.ops {
        let len = if op.len == VARLEN {
            let first = *data.get(pos).ok_or(RecordError::Truncated)?;
            pos += 1;
            if first < 255 {
                first as usize
            } else {
                let b = data.get(pos..pos + 2).ok_or(RecordError::Truncated)?;
                pos += 2;
                u16::from_be_bytes([b[0], b[1]]) as usize
            }
        } else {
            op.len as usize
        };
        let end = pos.checked_add(len).ok_or(RecordError::Truncated)?;
        let v = data.get(pos..end).ok_or(RecordError::Truncated)?;
        if op.target != Target::Padding && !apply(f, op, v) {
            extras.push(ExtraRef { key: op.key, start: pos as u32, end: end as u32 });
        }
        pos = end;
    }
    Ok(pos)
}

/// Stores one value; `false` when it has no column (or does not fit one) and goes to `extra`.
#[inline]
fn apply<'a>(f: &mut Fields<'a>, op: &Op, v: &'a [u8]) -> bool {
    let r = &mut f.row;
    macro_rules! uint {
        ($slot:expr, $ty:ty) => {{
            match be_uint(v) {
                Some(n) => {
                    $slot = Some(n as $ty);
                    true
                }
                None => false,
            }
        }};
    }
    macro_rules! set {
        ($slot:expr, $val:expr) => {{
            match $val {
                Some(x) => {
                    $slot = Some(x);
                    true
                }
                None => false,
            }
        }};
    }
    match op.target {
        Target::Padding => true,
        Target::Extra | Target::IpVersion => false,
        Target::IpVersionOf4 => v == [4],
        Target::IpVersionOf6 => v == [6],
        Target::OctetDelta => uint!(f.octet_delta, u64),
        Target::PacketDelta => uint!(f.packet_delta, u64),
        Target::OctetTotal => uint!(f.octet_total, u64),
        Target::PacketTotal => uint!(f.packet_total, u64),
        Target::Protocol => uint!(r.protocol, u8),
        Target::Tos => uint!(r.tos, u8),
        Target::TcpFlags => uint!(r.tcp_flags, u16),
        Target::SrcPort => uint!(r.src_port, u16),
        Target::DstPort => uint!(r.dst_port, u16),
        Target::SrcV4 => outer_or_inner(&mut r.src_addr, &mut r.inner_src_addr, v4(v)),
        Target::DstV4 => outer_or_inner(&mut r.dst_addr, &mut r.inner_dst_addr, v4(v)),
        Target::SrcV6 => outer_or_inner(&mut r.src_addr, &mut r.inner_src_addr, v6(v)),
        Target::DstV6 => outer_or_inner(&mut r.dst_addr, &mut r.inner_dst_addr, v6(v)),
        Target::NextHopV4 => set!(r.next_hop, v4(v)),
        Target::NextHopV6 => set!(r.next_hop, v6(v)),
        Target::SrcAs => uint!(r.src_as, u32),
        Target::DstAs => uint!(r.dst_as, u32),
        Target::InIf => uint!(r.in_if, u32),
        Target::OutIf => uint!(r.out_if, u32),
        Target::IfName => {
            r.in_if_name = Some(v);
            true
        }
        Target::OutIfName => {
            r.out_if_name = Some(v);
            true
        }
        Target::Vlan => uint!(r.vlan, u16),
        Target::Dot1qVlan => uint!(f.dot1q_vlan, u16),
        Target::SrcMac => set!(r.src_mac, v.try_into().ok()),
        Target::DstMac => set!(r.dst_mac, v.try_into().ok()),
        Target::MinIpLen => uint!(r.min_ip_len, u32),
        Target::MaxIpLen => uint!(r.max_ip_len, u32),
        Target::MaxInnerIpLen => uint!(r.max_inner_ip_len, u32),
        Target::IcmpTypeCode => uint!(f.icmp_type_code, u16),
        Target::IcmpType => uint!(r.icmp_type, u8),
        Target::IcmpCode => uint!(r.icmp_code, u8),
        Target::FragmentFlags => uint!(r.fragment_flags, u8),
        Target::ForwardingStatus => set!(r.forwarding_status, be_uint(v).map(forwarding_status)),
        Target::FlowDirection => uint!(r.flow_direction, u8),
        Target::FlowEndReason => uint!(r.flow_end_reason, u8),
        Target::StartSysUptime => uint!(f.time.start_uptime_ms, u32),
        Target::EndSysUptime => uint!(f.time.end_uptime_ms, u32),
        Target::StartSeconds => set!(f.time.start_us, be_uint(v).map(|s| to_us(s, 1_000_000))),
        Target::EndSeconds => set!(f.time.end_us, be_uint(v).map(|s| to_us(s, 1_000_000))),
        Target::StartMillis => set!(f.time.start_us, be_uint(v).map(|s| to_us(s, 1_000))),
        Target::EndMillis => set!(f.time.end_us, be_uint(v).map(|s| to_us(s, 1_000))),
        Target::StartMicros | Target::StartNanos => {
            set!(f.time.start_us, be_uint(v).map(ntp_to_us))
        }
        Target::EndMicros | Target::EndNanos => set!(f.time.end_us, be_uint(v).map(ntp_to_us)),
        Target::StartDeltaMicros => uint!(f.time.start_delta_us, u32),
        Target::EndDeltaMicros => uint!(f.time.end_delta_us, u32),
        Target::SystemInitMillis => uint!(f.time.system_init_ms, u64),
        Target::SamplingInterval => uint!(f.sampling.interval, u64),
        Target::SamplingAlgorithm => uint!(f.sampling.algorithm, u64),
        Target::SamplerId => uint!(f.sampling.sampler_id, u64),
        Target::SamplerMode => uint!(f.sampling.sampler_mode, u64),
        Target::SamplerRandomInterval => uint!(f.sampling.sampler_random_interval, u64),
        Target::SelectorId => uint!(f.sampling.selector_id, u64),
        Target::SamplingPacketInterval => uint!(f.sampling.packet_interval, u64),
        Target::SamplingPacketSpace => uint!(f.sampling.packet_space, u64),
        Target::SamplingSize => uint!(f.sampling.size, u64),
        Target::SamplingPopulation => uint!(f.sampling.population, u64),
        Target::SamplingProbability => set!(f.sampling.probability, be_float(v)),
        Target::Layer2SegmentId => uint!(r.layer2_segment_id, u64),
        Target::InnerProtocol => uint!(r.inner_protocol, u8),
        Target::InnerSrcV4 => set_addr(&mut r.inner_src_addr, v4(v)),
        Target::InnerDstV4 => set_addr(&mut r.inner_dst_addr, v4(v)),
        Target::InnerSrcV6 => set_addr(&mut r.inner_src_addr, v6(v)),
        Target::InnerDstV6 => set_addr(&mut r.inner_dst_addr, v6(v)),
        Target::InnerSrcPort => uint!(r.inner_src_port, u16),
        Target::InnerDstPort => uint!(r.inner_dst_port, u16),
        Target::EgressIfAttr => uint!(r.out_if_attr, u16),
        Target::IngressIfAttr => uint!(r.in_if_attr, u16),
        Target::VxlanExportRole => uint!(r.vxlan_export_role, u8),
        Target::TunnelType => uint!(f.tunnel_type_code, u8),
        Target::TunnelKey => uint!(r.tunnel_key, u32),
        Target::TunnelSrcV4 => set!(r.tunnel_src, v4(v)),
        Target::TunnelDstV4 => set!(r.tunnel_dst, v4(v)),
        Target::TunnelProtocol => uint!(r.protocol, u8),
        Target::TunnelSrcPort => uint!(r.tunnel_src_port, u16),
        Target::TunnelDstPort => uint!(r.tunnel_dst_port, u16),
        Target::NotSentFlows => uint!(f.not_sent_flows, u64),
        Target::NotSentPackets => uint!(f.not_sent_packets, u64),
        Target::NotSentOctets => uint!(f.not_sent_octets, u64),
    }
}

/// Templates that carry both an IPv4 and an IPv6 address field fill the unused one with
/// zeros (Procera): an unspecified address never replaces a real one (it goes to `extra`).
#[inline]
fn set_addr(slot: &mut Option<Addr16>, v: Option<Addr16>) -> bool {
    match v {
        Some(a) if slot.is_none() || !is_unspecified(&a) => {
            *slot = Some(a);
            true
        }
        _ => false,
    }
}

/// An address field of the other family after a real one is the inner header's (Cisco
/// SRv6 templates: outer IPv6, then the inner IPv4 5-tuple); after an all-zero one it is
/// the real address (Cisco v9 templates carry both families, one zeroed).
#[inline(always)]
fn outer_or_inner(outer: &mut Option<Addr16>, inner: &mut Option<Addr16>, v: Option<Addr16>) -> bool {
    match (*outer, v) {
        (Some(o), Some(a)) if !is_unspecified(&o) && !is_unspecified(&a) && inner.is_none() => {
            *inner = Some(a);
            true
        }
        _ => set_addr(outer, v),
    }
}

fn is_unspecified(a: &Addr16) -> bool {
    a.iter().all(|&b| b == 0) || *a == addr::from_v4_bytes([0; 4])
}

fn be_float(v: &[u8]) -> Option<f64> {
    match v.len() {
        4 => Some(f32::from_be_bytes(v.try_into().ok()?) as f64),
        8 => Some(f64::from_be_bytes(v.try_into().ok()?)),
        _ => None,
    }
}

/// forwardingStatus is unsigned32 with the meaning in the low byte; when a long encoding
/// has a zero low byte and a non-zero top byte the exporter used the RFC 7270 drawing, so
/// the top byte is taken (domain.md §5.1).
pub(super) fn forwarding_status(v: u64) -> u8 {
    let low = (v & 0xFF) as u8;
    if low == 0 && v > 0xFF {
        let mut top = v;
        while top > 0xFF {
            top >>= 8;
        }
        top as u8
    } else {
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(fields: &[(u32, u16, u16)]) -> Plan {
        Plan::of_fields(fields)
    }

    #[test]
    fn reduced_size_and_varlen_values_decode() {
        let p = plan(&[(0, 1, 3), (0, 82, VARLEN), (0, 8, 4), (6876, 892, VARLEN), (0, 210, 2)]);
        let data = [0, 1, 0, 3, b'e', b't', b'h', 10, 0, 0, 1, 3, 0, 0x13, 0x89, 0, 0];
        let mut f = Fields::default();
        let mut extras = Vec::new();
        let end = decode(&p, &data, 0, &mut f, &mut extras).unwrap();
        assert_eq!(end, data.len());
        assert_eq!(f.octet_delta, Some(256));
        assert_eq!(f.row.in_if_name, Some(&b"eth"[..]));
        assert_eq!(f.row.src_addr, addr::parse_text("10.0.0.1"));
        assert_eq!(f.row.tunnel_key, Some(5001));
        assert!(extras.is_empty());
    }

    #[test]
    fn zero_length_fields_cost_nothing_per_record() {
        let mut fields = vec![(0, 4, 1)];
        fields.extend((0..5_000).map(|i| (0, 1000 + i as u16, 0)));
        let p = plan(&fields);
        let mut extras = Vec::new();
        for pos in 0..100 {
            let mut f = Fields::default();
            assert_eq!(decode(&p, &[6; 100], pos, &mut f, &mut extras), Ok(pos + 1));
        }
        assert!(extras.is_empty());
    }

    #[test]
    fn long_varlen_form_and_truncation() {
        let p = plan(&[(0, 83, VARLEN)]);
        let mut data = vec![255, 1, 0];
        data.extend(std::iter::repeat_n(b'x', 256));
        let mut f = Fields::default();
        let mut extras = Vec::new();
        assert_eq!(decode(&p, &data, 0, &mut f, &mut extras).unwrap(), 259);
        assert_eq!(extras.len(), 1);
        assert_eq!((extras[0].start, extras[0].end), (3, 259));
        assert_eq!(decode(&p, &data[..100], 0, &mut f, &mut extras), Err(RecordError::Truncated));
        assert_eq!(decode(&p, &[255, 1], 0, &mut f, &mut extras), Err(RecordError::Truncated));
    }

    #[test]
    fn ntp_timestamps_convert() {
        // 2020-01-01T00:00:00.5Z
        let secs = 1_577_836_800u64 + 2_208_988_800;
        assert_eq!(ntp_to_us((secs << 32) | 0x8000_0000), 1_577_836_800_500_000);
    }

    #[test]
    fn forwarding_status_reads_low_byte_or_misplaced_top_byte() {
        assert_eq!(forwarding_status(0x85), 0x85);
        assert_eq!(forwarding_status(0x8500_0000), 0x85);
        assert_eq!(forwarding_status(0x40), 0x40);
    }

    #[test]
    fn sampling_factor_precedence() {
        let s = SamplingFields { packet_interval: Some(1), packet_space: Some(999), ..Default::default() };
        assert_eq!(s.factor(), Some(1000));
        let s = SamplingFields { size: Some(1), population: Some(2048), ..Default::default() };
        assert_eq!(s.factor(), Some(2048));
        let s = SamplingFields { probability: Some(0.25), ..Default::default() };
        assert_eq!(s.factor(), Some(4));
        assert_eq!(SamplingFields::default().factor(), None);
    }
}
