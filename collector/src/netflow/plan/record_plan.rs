//! The decode plan a template is compiled into once, when it arrives. Records are then decoded by walking the plan, never the registry.

use crate::netflow::wire::template::{Template, VARLEN};

use super::column_plan::ColumnPlan;
use super::columns;
use super::ie::{self, Target};

/// One step of a decode plan.
#[derive(Clone, Copy, Debug)]
pub struct FieldOp {
    pub target: Target,
    pub len: u16,
    /// Index into [`RecordPlan::keys`]: the `extra` key used when the value goes to `extra`.
    pub key: u16,
    /// Whether [`columns`] gives the target a column: decided here once, so the row path
    /// dispatches each value through one match, not two.
    pub column: bool,
}

/// A template compiled for decoding.
#[derive(Clone, Debug)]
pub struct RecordPlan {
    pub ops: Vec<FieldOp>,
    /// `PEN/ID` keys of the plan's fields, built once here (never per record).
    pub keys: Vec<Box<str>>,
    /// Record length when no field is variable-length.
    pub fixed_len: Option<usize>,
    /// Smallest possible record length (a variable-length field takes at least 1 byte).
    pub min_len: usize,
    pub is_options: bool,
    /// The column-first form, when the template allows it.
    pub columnar: Option<ColumnPlan>,
}

/// Ids of the standard 5-tuple fields that OVS tunnel templates use for the inner packet.
fn inner_of(t: Target) -> Option<Target> {
    Some(match t {
        Target::SrcV4 => Target::InnerSrcV4,
        Target::DstV4 => Target::InnerDstV4,
        Target::SrcV6 => Target::InnerSrcV6,
        Target::DstV6 => Target::InnerDstV6,
        Target::SrcPort => Target::InnerSrcPort,
        Target::DstPort => Target::InnerDstPort,
        Target::Protocol => Target::InnerProtocol,
        Target::MaxIpLen => Target::MaxInnerIpLen,
        _ => return None,
    })
}

/// Whether the template is an OVS tunnel template: it carries the outer header in the
/// VMware tunnel IEs, so its standard IEs describe the inner packet.
fn is_ovs_tunnel(t: &Template) -> bool {
    t.fields.iter().any(|f| f.pen == ie::PEN_VMWARE && (893..=897).contains(&f.id))
}

/// ipVersion says again what the address columns say when every address of the template
/// is of one family (IPv4 addresses are stored v4-mapped): then it is checked per record
/// instead of stored. With both families or none, it goes to `extra` like any IE without a
/// column. (It was a tenth of the collector's work for softflowd's IPFIX, one `extra`
/// entry per flow.)
fn resolve_ip_version(ops: &mut [FieldOp], seen: &[Target]) {
    use Target::*;
    let any = |ts: &[Target]| seen.iter().any(|t| ts.contains(t));
    let v4 = any(&[SrcV4, DstV4, NextHopV4, InnerSrcV4, InnerDstV4, TunnelSrcV4, TunnelDstV4]);
    let v6 = any(&[SrcV6, DstV6, NextHopV6, InnerSrcV6, InnerDstV6]);
    let resolved = match (v4, v6) {
        (true, false) => IpVersionOf4,
        (false, true) => IpVersionOf6,
        _ => Extra,
    };
    for op in ops.iter_mut().filter(|op| op.target == IpVersion) {
        op.target = resolved;
    }
}

impl RecordPlan {
    /// Compiles a template. The mapping rules, in order:
    /// 1. a field whose (PEN, id) is unknown, or whose length does not fit its column, goes
    ///    to `extra` (never dropped);
    /// 2. in OVS tunnel templates the standard 5-tuple and maximumIpTotalLength describe the
    ///    inner packet and land in `inner_*`; the tunnel IEs fill the outer columns;
    /// 3. a field that repeats within a template is taken by position: the second
    ///    interfaceName is the egress port's, a repeated 5-tuple field (Cisco SRv6) is the
    ///    inner header's, any other repeat goes to `extra` under `PEN/ID#N`.
    pub fn compile(t: &Template) -> RecordPlan {
        let ovs_tunnel = is_ovs_tunnel(t);
        let mut ops = Vec::with_capacity(t.fields.len());
        let mut keys: Vec<Box<str>> = Vec::with_capacity(t.fields.len());
        let mut seen: Vec<Target> = Vec::new();
        let (mut fixed, mut min_len, mut all_fixed) = (0usize, 0usize, true);
        for f in &t.fields {
            let mut target = match ie::lookup(f.pen, f.id) {
                // A zero-length field carries nothing. Sent to `extra`, thousands of them
                // in a template with one-byte records would turn a 64 kB datagram into
                // gigabytes of empty entries.
                _ if f.len == 0 => Target::Padding,
                Some(e) if ie::fits(e.shape, f.len) => e.target,
                _ => Target::Extra,
            };
            if ovs_tunnel && let Some(inner) = inner_of(target) {
                target = inner;
            }
            if target == Target::MinIpLen && ovs_tunnel {
                target = Target::Extra;
            }
            if target != Target::Extra && target != Target::Padding {
                if seen.contains(&target) {
                    target = match target {
                        Target::IfName => Target::OutIfName,
                        other => inner_of(other).filter(|i| !seen.contains(i)).unwrap_or(Target::Extra),
                    };
                }
                seen.push(target);
            }
            let base = format!("{}/{}", f.pen, f.id);
            let repeats = keys.iter().filter(|k| k.split('#').next() == Some(&base)).count();
            let key = if repeats == 0 { base } else { format!("{base}#{}", repeats + 1) };
            keys.push(key.into_boxed_str());
            ops.push(FieldOp { target, len: f.len, key: (keys.len() - 1) as u16, column: false });
            if f.len == VARLEN {
                all_fixed = false;
                min_len += 1;
            } else {
                fixed += f.len as usize;
                min_len += f.len as usize;
            }
        }
        resolve_ip_version(&mut ops, &seen);
        for op in &mut ops {
            op.column = columns::has_column(op.target);
        }
        let mut plan = RecordPlan {
            ops,
            keys,
            fixed_len: all_fixed.then_some(fixed),
            min_len,
            is_options: t.options,
            columnar: None,
        };
        plan.columnar = ColumnPlan::compile(&plan);
        plan
    }
}

#[cfg(test)]
use crate::netflow::wire::template::FieldSpec;

#[cfg(test)]
impl RecordPlan {
    /// The plan of a data template of `(PEN, IE id, length)` fields.
    pub fn of_fields(fields: &[(u32, u16, u16)]) -> RecordPlan {
        RecordPlan::compile(&Template {
            id: 256,
            scope_fields: 0,
            options: false,
            fields: fields.iter().map(|&(pen, id, len)| FieldSpec { id, len, pen }).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pen: u32, id: u16, len: u16) -> FieldSpec {
        FieldSpec { id, len, pen }
    }

    fn targets(p: &RecordPlan) -> Vec<Target> {
        p.ops.iter().map(|o| o.target).collect()
    }

    #[test]
    fn ovs_tunnel_templates_put_the_standard_tuple_inside() {
        let t = Template {
            id: 294,
            scope_fields: 0,
            options: false,
            fields: vec![
                spec(0, 8, 4),
                spec(0, 12, 4),
                spec(0, 4, 1),
                spec(6876, 893, 4),
                spec(6876, 894, 4),
                spec(6876, 892, VARLEN),
                spec(0, 26, 8),
            ],
        };
        let p = RecordPlan::compile(&t);
        assert_eq!(
            targets(&p),
            vec![
                Target::InnerSrcV4,
                Target::InnerDstV4,
                Target::InnerProtocol,
                Target::TunnelSrcV4,
                Target::TunnelDstV4,
                Target::TunnelKey,
                Target::MaxInnerIpLen
            ]
        );
        assert_eq!(p.fixed_len, None);
        assert_eq!(p.min_len, 4 + 4 + 1 + 4 + 4 + 1 + 8);
    }

    #[test]
    fn ip_version_is_checked_against_a_single_address_family() {
        let plan = |fields: Vec<FieldSpec>| {
            RecordPlan::compile(&Template { id: 256, scope_fields: 0, options: false, fields })
        };
        let v4 = plan(vec![spec(0, 8, 4), spec(0, 60, 1)]);
        assert_eq!(targets(&v4)[1], Target::IpVersionOf4);
        let v6 = plan(vec![spec(0, 27, 16), spec(0, 60, 1)]);
        assert_eq!(targets(&v6)[1], Target::IpVersionOf6);
        let both = plan(vec![spec(0, 8, 4), spec(0, 27, 16), spec(0, 60, 1)]);
        assert_eq!(targets(&both)[2], Target::Extra);
        let none = plan(vec![spec(0, 4, 1), spec(0, 60, 1)]);
        assert_eq!(targets(&none)[1], Target::Extra);
        let long = plan(vec![spec(0, 8, 4), spec(0, 60, 2)]);
        assert_eq!(targets(&long)[1], Target::Extra, "a 2-byte ipVersion is not the IE we know");
    }

    #[test]
    fn repeated_fields_are_taken_by_position() {
        let t = Template {
            id: 281,
            scope_fields: 0,
            options: false,
            fields: vec![
                spec(0, 82, VARLEN),
                spec(0, 83, VARLEN),
                spec(0, 82, VARLEN),
                spec(0, 83, VARLEN),
                spec(0, 7, 2),
                spec(0, 7, 2),
                spec(0, 7, 2),
            ],
        };
        let p = RecordPlan::compile(&t);
        assert_eq!(
            targets(&p),
            vec![
                Target::IfName,
                Target::Extra,
                Target::OutIfName,
                Target::Extra,
                Target::SrcPort,
                Target::InnerSrcPort,
                Target::Extra
            ]
        );
        assert_eq!(&*p.keys[3], "0/83#2");
        assert_eq!(&*p.keys[6], "0/7#3");
    }

    #[test]
    fn oversize_and_unknown_fields_go_to_extra() {
        let t = Template {
            id: 256,
            scope_fields: 0,
            options: false,
            fields: vec![spec(0, 7, 4), spec(9, 12235, VARLEN), spec(0, 33000, 2)],
        };
        let p = RecordPlan::compile(&t);
        assert_eq!(targets(&p), vec![Target::Extra; 3]);
        assert_eq!(&*p.keys[1], "9/12235");
    }
}
