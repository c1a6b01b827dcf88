//! Which `flows` column each field target fills, and how its bytes convert: one table that
//! both decode paths read. The row path stores a record's value into its [`FlowRow`] slot
//! ([`set_in_row`]); the column-first path fills the column for every record of a set
//! ([`fill_column`]). A new column for an IE is one line here (plus its registry entry).
//!
//! Two parts:
//! - `both`: targets whose value lands in a column of its own whatever the other fields of
//!   the template say; the column-first path takes templates made only of these (plus
//!   counts and times, see `decode::rules`).
//! - `row_only`: targets whose column depends on other fields or values of the record
//!   (inner headers, tunnel endpoints, vDS attributes); only the row path decodes them.
//!
//! How a value is stored is the entry's rule: `plain` sets the slot; `real` never lets an
//! unspecified address replace a real one (templates that carry both families, one zeroed:
//! Procera); `outer(inner)` puts an address of the other family after a real one in the
//! inner column (Cisco SRv6 templates: outer IPv6, then the inner IPv4 5-tuple).

use crate::addr::{self, Addr16};
use crate::netflow::wire::values::{be_uint, ntp_to_us, to_us, v4, v6};
use crate::schema::{self, Addr, FlowBuilders, FlowRow, Mac, U8, U16, U32};

use super::ie::Target;

macro_rules! column_table {
    (
        both { $( $t:ident => $col:ident : $kind:ident = $conv:ident, $rule:ident $( ( $inner:ident ) )? ; )* }
        row_only { $( $rt:ident => $rcol:ident = $rconv:ident, $rrule:ident ; )* }
    ) => {
        /// Whether this table gives the target a column (in either part).
        pub fn has_column(t: Target) -> bool {
            matches!(t, $( Target::$t )|* $( | Target::$rt )*)
        }

        /// Whether the target's value goes to a column of its own, with no rule between
        /// fields: the column-first path may take it.
        pub fn is_direct(t: Target) -> bool {
            matches!(t, $( Target::$t )|*)
        }

        /// Row path: stores `v` into its column's slot. `None` when the target has no
        /// column in this table; `Some(false)` when the value does not convert (it then
        /// goes to `extra`).
        #[inline]
        pub fn set_in_row<'a>(row: &mut FlowRow<'a>, t: Target, v: &'a [u8]) -> Option<bool> {
            Some(match t {
                $( Target::$t => column_table!(@store $rule row $col $( $inner )?, $conv(v)), )*
                $( Target::$rt => column_table!(@store $rrule row $rcol, $rconv(v)), )*
                _ => return None,
            })
        }

        /// Column-first path: fills the target's column from `row` on with one value per
        /// record. The plan admits only lengths that convert, so a default never shows.
        #[inline]
        pub fn fill_column<'a>(
            out: &mut FlowBuilders,
            row: usize,
            t: Target,
            values: impl Iterator<Item = &'a [u8]>,
        ) {
            match t {
                $( Target::$t => schema::fill::<$kind>(
                    &mut out.$col,
                    row,
                    values.map(|v| $conv(v).unwrap_or_default()),
                ), )*
                _ => {}
            }
        }
    };
    (@store plain $row:ident $col:ident, $v:expr) => {
        store(&mut $row.$col, $v)
    };
    (@store real $row:ident $col:ident, $v:expr) => {
        keep_real(&mut $row.$col, $v)
    };
    (@store outer $row:ident $col:ident $inner:ident, $v:expr) => {
        outer_or_inner(&mut $row.$col, &mut $row.$inner, $v)
    };
}

column_table! {
    both {
        Protocol => protocol: U8 = uint8, plain;
        Tos => tos: U8 = uint8, plain;
        TcpFlags => tcp_flags: U16 = uint16, plain;
        SrcPort => src_port: U16 = uint16, plain;
        DstPort => dst_port: U16 = uint16, plain;
        SrcV4 => src_addr: Addr = v4, outer(inner_src_addr);
        DstV4 => dst_addr: Addr = v4, outer(inner_dst_addr);
        SrcV6 => src_addr: Addr = v6, outer(inner_src_addr);
        DstV6 => dst_addr: Addr = v6, outer(inner_dst_addr);
        NextHopV4 => next_hop: Addr = v4, plain;
        NextHopV6 => next_hop: Addr = v6, plain;
        SrcAs => src_as: U32 = uint32, plain;
        DstAs => dst_as: U32 = uint32, plain;
        InIf => in_if: U32 = uint32, plain;
        OutIf => out_if: U32 = uint32, plain;
        Vlan => vlan: U16 = uint16, plain;
        SrcMac => src_mac: Mac = mac, plain;
        DstMac => dst_mac: Mac = mac, plain;
        MinIpLen => min_ip_len: U32 = uint32, plain;
        MaxIpLen => max_ip_len: U32 = uint32, plain;
        IcmpType => icmp_type: U8 = uint8, plain;
        IcmpCode => icmp_code: U8 = uint8, plain;
        FragmentFlags => fragment_flags: U8 = uint8, plain;
        ForwardingStatus => forwarding_status: U8 = forwarding, plain;
        FlowDirection => flow_direction: U8 = uint8, plain;
        FlowEndReason => flow_end_reason: U8 = uint8, plain;
    }
    row_only {
        IfName => in_if_name = text, plain;
        OutIfName => out_if_name = text, plain;
        MaxInnerIpLen => max_inner_ip_len = uint32, plain;
        Layer2SegmentId => layer2_segment_id = uint64, plain;
        InnerProtocol => inner_protocol = uint8, plain;
        InnerSrcV4 => inner_src_addr = v4, real;
        InnerDstV4 => inner_dst_addr = v4, real;
        InnerSrcV6 => inner_src_addr = v6, real;
        InnerDstV6 => inner_dst_addr = v6, real;
        InnerSrcPort => inner_src_port = uint16, plain;
        InnerDstPort => inner_dst_port = uint16, plain;
        EgressIfAttr => out_if_attr = uint16, plain;
        IngressIfAttr => in_if_attr = uint16, plain;
        VxlanExportRole => vxlan_export_role = uint8, plain;
        TunnelKey => tunnel_key = uint32, plain;
        TunnelSrcV4 => tunnel_src = v4, plain;
        TunnelDstV4 => tunnel_dst = v4, plain;
        // OVS tunnel records: the tunnel's protocol is the outer packet's.
        TunnelProtocol => protocol = uint8, plain;
        TunnelSrcPort => tunnel_src_port = uint16, plain;
        TunnelDstPort => tunnel_dst_port = uint16, plain;
    }
}

/// The unit of an absolute flow time field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Millis,
    /// NTP format (RFC 7011 §6.1.9–10): flowStart/EndMicroseconds and -Nanoseconds.
    Ntp,
}

impl TimeUnit {
    /// The unit of an absolute time target.
    pub fn of(t: Target) -> Option<TimeUnit> {
        match t {
            Target::StartSeconds | Target::EndSeconds => Some(TimeUnit::Seconds),
            Target::StartMillis | Target::EndMillis => Some(TimeUnit::Millis),
            Target::StartMicros | Target::StartNanos | Target::EndMicros | Target::EndNanos => {
                Some(TimeUnit::Ntp)
            }
            _ => None,
        }
    }

    /// A value of this unit as µs since the epoch.
    #[inline(always)]
    pub fn to_us(self, raw: u64) -> i64 {
        match self {
            TimeUnit::Seconds => to_us(raw, 1_000_000),
            TimeUnit::Millis => to_us(raw, 1_000),
            TimeUnit::Ntp => ntp_to_us(raw),
        }
    }
}

/// Whether the target is a flow start (`Some(true)`) or end time in absolute units.
pub fn absolute_start(t: Target) -> Option<bool> {
    match t {
        Target::StartSeconds | Target::StartMillis | Target::StartMicros | Target::StartNanos => Some(true),
        Target::EndSeconds | Target::EndMillis | Target::EndMicros | Target::EndNanos => Some(false),
        _ => None,
    }
}

#[inline(always)]
fn store<T>(slot: &mut Option<T>, v: Option<T>) -> bool {
    match v {
        Some(x) => {
            *slot = Some(x);
            true
        }
        None => false,
    }
}

/// An unspecified address never replaces a real one (it goes to `extra`).
#[inline]
fn keep_real(slot: &mut Option<Addr16>, v: Option<Addr16>) -> bool {
    match v {
        Some(a) if slot.is_none() || !is_unspecified(&a) => {
            *slot = Some(a);
            true
        }
        _ => false,
    }
}

/// An address field after a real one is the inner header's; after an all-zero one it is
/// the real address (Cisco v9 templates carry both families, one zeroed).
#[inline(always)]
fn outer_or_inner(outer: &mut Option<Addr16>, inner: &mut Option<Addr16>, v: Option<Addr16>) -> bool {
    match (*outer, v) {
        (Some(o), Some(a)) if !is_unspecified(&o) && !is_unspecified(&a) && inner.is_none() => {
            *inner = Some(a);
            true
        }
        _ => keep_real(outer, v),
    }
}

fn is_unspecified(a: &Addr16) -> bool {
    a.iter().all(|&b| b == 0) || *a == addr::from_v4_bytes([0; 4])
}

#[inline(always)]
fn uint8(v: &[u8]) -> Option<u8> {
    be_uint(v).map(|n| n as u8)
}

#[inline(always)]
fn uint16(v: &[u8]) -> Option<u16> {
    be_uint(v).map(|n| n as u16)
}

#[inline(always)]
fn uint32(v: &[u8]) -> Option<u32> {
    be_uint(v).map(|n| n as u32)
}

#[inline(always)]
fn uint64(v: &[u8]) -> Option<u64> {
    be_uint(v)
}

#[inline(always)]
fn mac(v: &[u8]) -> Option<[u8; 6]> {
    v.try_into().ok()
}

#[inline(always)]
fn text(v: &[u8]) -> Option<&[u8]> {
    Some(v)
}

#[inline(always)]
fn forwarding(v: &[u8]) -> Option<u8> {
    be_uint(v).map(forwarding_status)
}

/// forwardingStatus is unsigned32 with the meaning in the low byte; when a long encoding
/// has a zero low byte and a non-zero top byte the exporter used the RFC 7270 drawing, so
/// the top byte is taken (docs/domain/netflow-ipfix.md, forwarding status).
pub fn forwarding_status(v: u64) -> u8 {
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

    #[test]
    fn forwarding_status_reads_low_byte_or_misplaced_top_byte() {
        assert_eq!(forwarding_status(0x85), 0x85);
        assert_eq!(forwarding_status(0x8500_0000), 0x85);
        assert_eq!(forwarding_status(0x40), 0x40);
    }

    #[test]
    fn both_paths_read_the_same_value() {
        let mut out = FlowBuilders::with_capacity(1);
        let v: &[u8] = &[0, 0, 0x01, 0xBB];
        let mut row = FlowRow::default();
        assert_eq!(set_in_row(&mut row, Target::DstPort, v), Some(true));
        fill_column(&mut out, 0, Target::DstPort, std::iter::once(v));
        // The columns a batch requires, as every source fills them.
        schema::fill::<crate::schema::Ts>(&mut out.time_received, 0, std::iter::once(1));
        schema::fill::<Addr>(&mut out.exporter, 0, std::iter::once([0; 16]));
        schema::fill::<crate::schema::Label>(&mut out.source_kind, 0, std::iter::once("ipfix"));
        out.commit_rows(1);
        let batch = out.finish();
        let column = batch.column_by_name("dst_port").unwrap();
        let column = column.as_any().downcast_ref::<arrow::array::UInt16Array>().unwrap();
        assert_eq!(row.dst_port, Some(443));
        assert_eq!(column.value(0), 443, "the column-first path reads the same value");
        assert!(is_direct(Target::DstPort) && !is_direct(Target::InnerDstPort));
        assert_eq!(set_in_row(&mut row, Target::OctetDelta, v), None, "counts are not a column of their own");
    }

    #[test]
    fn an_address_after_a_real_one_is_the_inner_header() {
        let mut row = FlowRow::default();
        let outer = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(set_in_row(&mut row, Target::SrcV6, &outer), Some(true));
        assert_eq!(set_in_row(&mut row, Target::SrcV4, &[10, 0, 0, 1]), Some(true));
        assert_eq!(row.src_addr, Some(outer));
        assert_eq!(row.inner_src_addr, addr::parse_text("10.0.0.1"));
        // A zeroed other family is not an inner header, and never replaces the real one.
        let mut row = FlowRow::default();
        set_in_row(&mut row, Target::SrcV4, &[10, 0, 0, 1]);
        assert_eq!(set_in_row(&mut row, Target::SrcV6, &[0; 16]), Some(false));
        assert_eq!((row.src_addr, row.inner_src_addr), (addr::parse_text("10.0.0.1"), None));
    }
}
