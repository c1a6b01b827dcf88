//! Which fields make a flow's times and counts, and how: the rules both decode paths
//! follow, so that the row path and the column-first path cannot drift apart.

use crate::netflow::MsgContext;

/// Where a flow time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSource<A, U, D> {
    /// An absolute time (seconds, milliseconds or NTP since the epoch).
    Absolute(A),
    /// Milliseconds of the exporter's uptime (v5/v9 sysUptime, IPFIX flowStartSysUpTime).
    Uptime(U),
    /// Microseconds before the export time (Open vSwitch).
    Delta(D),
}

/// The precedence of a flow's time fields: an absolute field wins outright; an uptime
/// counts only where it has a base (the v5/v9 header's uptime, or the scope's
/// systemInitTimeMilliseconds); else a delta before the export time.
#[inline]
pub fn time_source<A, U, D>(
    absolute: Option<A>,
    uptime: Option<U>,
    delta: Option<D>,
    uptime_base: bool,
) -> Option<TimeSource<A, U, D>> {
    match (absolute, uptime.filter(|_| uptime_base), delta) {
        (Some(a), _, _) => Some(TimeSource::Absolute(a)),
        (None, Some(u), _) => Some(TimeSource::Uptime(u)),
        (None, None, Some(d)) => Some(TimeSource::Delta(d)),
        (None, None, None) => None,
    }
}

/// Whether uptimes of this message and scope can be made absolute.
#[inline]
pub fn has_uptime_base(ctx: &MsgContext, system_init_ms: Option<u64>) -> bool {
    ctx.sys_uptime_ms.is_some() || system_init_ms.is_some()
}

/// A sysUptime-relative time (ms) as µs since the epoch: v5/v9 against the header's
/// uptime (the subtraction wraps at 2^32), IPFIX against systemInitTimeMilliseconds.
#[inline]
pub fn uptime_to_us(ctx: &MsgContext, system_init_ms: Option<u64>, up: u32) -> Option<i64> {
    match ctx.sys_uptime_ms {
        Some(now) => Some(ctx.export_us().saturating_sub(now.wrapping_sub(up) as i64 * 1_000)),
        None => system_init_ms.map(|init| {
            i64::try_from(init).unwrap_or(i64::MAX).saturating_add(up as i64).saturating_mul(1_000)
        }),
    }
}

/// A time given as µs before the export time (OVS).
#[inline]
pub fn delta_to_us(export_us: i64, delta: u32) -> i64 {
    export_us.saturating_sub(delta as i64)
}

/// The count a record reports: its delta counter, else its total counter.
#[inline]
pub fn reported<T>(delta: Option<T>, total: Option<T>) -> Option<T> {
    delta.or(total)
}

/// A reported count as an estimate of the real traffic: times the sampling factor (1 when
/// unknown), saturating on hostile values.
#[inline(always)]
pub fn scaled(reported: u64, rate: Option<u32>) -> u64 {
    reported.saturating_mul(rate.unwrap_or(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_precedence() {
        use TimeSource::*;
        assert_eq!(time_source(Some(1), Some(2), Some(3), true), Some(Absolute(1)));
        assert_eq!(time_source(None::<u8>, Some(2), Some(3), true), Some(Uptime(2)));
        assert_eq!(
            time_source(None::<u8>, Some(2), Some(3), false),
            Some(Delta(3)),
            "an uptime needs a base"
        );
        assert_eq!(time_source(None::<u8>, Some(2), None::<u8>, false), None);
    }

    #[test]
    fn counts_scale_and_saturate() {
        assert_eq!(reported(Some(1), Some(2)), Some(1));
        assert_eq!(reported(None, Some(2)), Some(2));
        assert_eq!(scaled(10, Some(100)), 1_000);
        assert_eq!(scaled(10, None), 10);
        assert_eq!(scaled(u64::MAX, Some(2)), u64::MAX);
    }
}
