//! Decoding one data record with a compiled [`RecordPlan`] into the raw [`Fields`] of a flow.
//! Values are read in place from the datagram; nothing is allocated per record.

use crate::schema::FlowRow;

use crate::netflow::plan::columns::{self, TimeUnit};
use crate::netflow::plan::ie::Target;
use crate::netflow::plan::record_plan::{FieldOp, RecordPlan};
use crate::netflow::wire::template::VARLEN;
use crate::netflow::wire::values::{be_float, be_uint};

/// Time fields as the record carries them; made absolute by the message context.
#[derive(Clone, Copy, Default, Debug)]
pub struct RecordTimes {
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
    /// The sampling factor these fields state on their own, if any (docs/domain/netflow-ipfix.md, sampling).
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
    pub time: RecordTimes,
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

/// Decodes the record at `data[pos..]`; returns the position after it. Values without a
/// column are pushed to `extras` as byte ranges of `data`.
#[inline]
pub fn decode<'a>(
    plan: &RecordPlan,
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
fn apply<'a>(f: &mut Fields<'a>, op: &FieldOp, v: &'a [u8]) -> bool {
    if op.column {
        return columns::set_in_row(&mut f.row, op.target, v).unwrap_or(false);
    }
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
    let t = &mut f.time;
    let s = &mut f.sampling;
    match op.target {
        Target::Padding => true,
        Target::IpVersionOf4 => v == [4],
        Target::IpVersionOf6 => v == [6],
        Target::OctetDelta => uint!(f.octet_delta, u64),
        Target::PacketDelta => uint!(f.packet_delta, u64),
        Target::OctetTotal => uint!(f.octet_total, u64),
        Target::PacketTotal => uint!(f.packet_total, u64),
        Target::Dot1qVlan => uint!(f.dot1q_vlan, u16),
        Target::IcmpTypeCode => uint!(f.icmp_type_code, u16),
        Target::StartSysUptime => uint!(t.start_uptime_ms, u32),
        Target::EndSysUptime => uint!(t.end_uptime_ms, u32),
        Target::StartSeconds | Target::StartMillis | Target::StartMicros | Target::StartNanos => {
            set!(t.start_us, be_uint(v).and_then(|raw| Some(TimeUnit::of(op.target)?.to_us(raw))))
        }
        Target::EndSeconds | Target::EndMillis | Target::EndMicros | Target::EndNanos => {
            set!(t.end_us, be_uint(v).and_then(|raw| Some(TimeUnit::of(op.target)?.to_us(raw))))
        }
        Target::StartDeltaMicros => uint!(t.start_delta_us, u32),
        Target::EndDeltaMicros => uint!(t.end_delta_us, u32),
        Target::SystemInitMillis => uint!(t.system_init_ms, u64),
        Target::SamplingInterval => uint!(s.interval, u64),
        Target::SamplingAlgorithm => uint!(s.algorithm, u64),
        Target::SamplerId => uint!(s.sampler_id, u64),
        Target::SamplerMode => uint!(s.sampler_mode, u64),
        Target::SamplerRandomInterval => uint!(s.sampler_random_interval, u64),
        Target::SelectorId => uint!(s.selector_id, u64),
        Target::SamplingPacketInterval => uint!(s.packet_interval, u64),
        Target::SamplingPacketSpace => uint!(s.packet_space, u64),
        Target::SamplingSize => uint!(s.size, u64),
        Target::SamplingPopulation => uint!(s.population, u64),
        Target::SamplingProbability => set!(s.probability, be_float(v)),
        Target::TunnelType => uint!(f.tunnel_type_code, u8),
        Target::NotSentFlows => uint!(f.not_sent_flows, u64),
        Target::NotSentPackets => uint!(f.not_sent_packets, u64),
        Target::NotSentOctets => uint!(f.not_sent_octets, u64),
        // Every other target is a column of its own, stored above; `Extra` and an
        // unresolved ipVersion have none.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr;
    use crate::netflow::wire::values::ntp_to_us;

    fn plan(fields: &[(u32, u16, u16)]) -> RecordPlan {
        RecordPlan::of_fields(fields)
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
