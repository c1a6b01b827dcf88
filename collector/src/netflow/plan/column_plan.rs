//! The column-first form of a template: for the common template, fixed-length fields
//! that each map to one column with no rule between fields (softflowd, nProbe, most
//! routers), where each field sits in every record of a set. `decode::columnar` reads
//! each field for all records of a set in one loop straight into its column (decision
//! 0003).
//!
//! [`ColumnPlan::compile`] accepts only templates for which the result is evidently the
//! row path's, field by field: columns from [`columns::is_direct`], counts and times by
//! the rules of [`rules`]; no outer/inner address choice, no tunnel or sampling fields,
//! no strings. Everything else takes the row path.

use super::ie::Target;
use super::record_plan::RecordPlan;
use super::{columns, rules};

/// Where a field sits in every record of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub offset: usize,
    pub len: usize,
}

/// How a time field converts, in the row path's order of precedence.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeColumns {
    /// The last absolute field (seconds, milliseconds or NTP): it wins outright.
    pub absolute: Option<(Target, At)>,
    pub uptime: Option<At>,
    pub delta: Option<At>,
}

/// A template's fields as column-first work.
#[derive(Clone, Debug)]
pub struct ColumnPlan {
    pub record_len: usize,
    /// Fields copied (converted) straight into a column of their own.
    pub direct: Vec<(Target, At)>,
    pub octets: Option<At>,
    pub packets: Option<At>,
    pub start: TimeColumns,
    pub end: TimeColumns,
    /// Protocol and ports, when ICMP type and code are to be read from the ports.
    pub icmp: Option<(At, Option<At>, Option<At>)>,
    /// Fields without a column: plan key, place, and for ipVersion the value the
    /// addresses imply (the field is kept only where it differs).
    pub extra: Vec<(u16, At, Option<u8>)>,
}

impl ColumnPlan {
    /// The column-first form of `plan`, or `None` when the plan needs the row path.
    pub fn compile(plan: &RecordPlan) -> Option<ColumnPlan> {
        let record_len = plan.fixed_len.filter(|&l| l > 0 && !plan.is_options)?;
        let mut cp = ColumnPlan {
            record_len,
            direct: Vec::new(),
            octets: None,
            packets: None,
            start: TimeColumns::default(),
            end: TimeColumns::default(),
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
                t if columns::absolute_start(t) == Some(true) => cp.start.absolute = Some((t, at)),
                t if columns::absolute_start(t) == Some(false) => cp.end.absolute = Some((t, at)),
                Target::StartSysUptime => cp.start.uptime = Some(at),
                Target::EndSysUptime => cp.end.uptime = Some(at),
                Target::StartDeltaMicros => cp.start.delta = Some(at),
                Target::EndDeltaMicros => cp.end.delta = Some(at),
                t if columns::is_direct(t) => cp.direct.push((t, at)),
                _ => return None,
            }
        }
        cp.octets = rules::reported(cp.octets, octet_total);
        cp.packets = rules::reported(cp.packets, packet_total);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(fields: &[(u32, u16, u16)]) -> RecordPlan {
        RecordPlan::of_fields(fields)
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
