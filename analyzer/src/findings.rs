//! What the analyzer reports: a finding says what is wrong, where, the numbers that show
//! it, and what to do. Static checks of the topology ([`crate::topology::validate`]) and,
//! later, the MTU and NIOC detectors all produce these, so `plumb config check`,
//! `plumb analyze` and the `findings` table print and store them one way.

use std::borrow::Cow;
use std::fmt;

use arrow::array::RecordBatch;
use plumb_collector::schema::findings::{FindingBuilders, FindingRow};
use serde::Serialize;

/// Finding kinds (the `kind` column of `findings`, the `kind` label of the metrics).
pub mod kind {
    /// The topology contradicts itself or what vSphere/the overlay allows.
    pub const CONFIG_INVALID: &str = "config.invalid";
    /// A hop said a DF packet was too big (ICMP fragmentation needed, ICMPv6 Packet Too Big).
    pub const MTU_FRAG_NEEDED: &str = "mtu.frag_needed";
    /// A device dropped packets for their size and said so (sFlow drop reasons 4 and 262,
    /// IPFIX forwardingStatus 133).
    pub const MTU_DF_DROP: &str = "mtu.df_drop";
    /// Encapsulated packets larger than their underlay's MTU.
    pub const MTU_OVERSIZE_ENCAP: &str = "mtu.oversize_encap";
    /// Packets larger than the MTU their port group is meant for.
    pub const MTU_OVERSIZE_FRAME: &str = "mtu.oversize_frame";
    /// Full-size TCP segments resent without getting through, and no ICMP to say why.
    pub const MTU_BLACKHOLE: &str = "mtu.blackhole";
    /// Fragmented tunnel packets.
    pub const MTU_FRAGMENTATION: &str = "mtu.fragmentation";
    /// An uplink saturated by classes competing for it, minute after minute.
    pub const NIOC_CONTENTION: &str = "nioc.contention";
    /// A class below its reservation under contention, with signs that it wanted more.
    pub const NIOC_RESERVATION_AT_RISK: &str = "nioc.reservation_at_risk";

    /// Every kind, for metrics that show each from the start.
    pub const ALL: [&str; 9] = [
        CONFIG_INVALID,
        MTU_FRAG_NEEDED,
        MTU_DF_DROP,
        MTU_OVERSIZE_ENCAP,
        MTU_OVERSIZE_FRAME,
        MTU_BLACKHOLE,
        MTU_FRAGMENTATION,
        NIOC_CONTENTION,
        NIOC_RESERVATION_AT_RISK,
    ];
}

/// How bad a finding is; `--fail-on` compares against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing breaks.
    Info,
    /// Something will break under some traffic, or a check could not be made.
    Warning,
    /// Traffic is being lost, or vCenter/the overlay refuses the setting.
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Reads `info`, `warning` or `critical`.
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One number behind a finding, with its unit in the name (`reserved_mbps`, `gap_bytes`,
/// `vmotion_measured_bps`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evidence {
    pub name: Cow<'static, str>,
    pub value: f64,
}

impl Evidence {
    pub fn new(name: impl Into<Cow<'static, str>>, value: f64) -> Evidence {
        Evidence { name: name.into(), value }
    }
}

/// One thing the analyzer found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// One of [`kind`].
    pub kind: &'static str,
    /// The rule within the kind (`nioc_reservation_over_75pct`, `overlay_mtu`, ...).
    pub rule: &'static str,
    pub severity: Severity,
    /// What it is about: `switch dvs-prod`, `overlay calico-vxlan`, `uplink esx01/vmnic0`.
    pub subject: String,
    /// The configuration keys involved, as written in `plumb.toml`.
    pub keys: Vec<String>,
    pub evidence: Vec<Evidence>,
    /// What is wrong, in one sentence.
    pub explanation: String,
    /// What to change.
    pub fix: String,
    /// When the evidence was first and last seen (µs since the epoch); none for the
    /// static checks.
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
}

impl Finding {
    /// The evidence named `name`.
    pub fn evidence(&self, name: &str) -> Option<f64> {
        self.evidence.iter().find(|e| e.name == name).map(|e| e.value)
    }
}

/// The findings of one analysis run, made at `now_us`, as a `findings` batch for the store.
pub fn to_batch(found: &[Finding], now_us: i64) -> RecordBatch {
    let mut b = FindingBuilders::with_capacity(found.len());
    for f in found {
        let keys = f.keys.join(", ");
        let evidence: serde_json::Map<String, serde_json::Value> =
            f.evidence.iter().map(|e| (e.name.to_string(), e.value.into())).collect();
        let evidence = serde_json::Value::Object(evidence).to_string();
        b.push_row(&FindingRow {
            time_received: Some(now_us),
            window_start: f.first_us,
            window_end: f.last_us,
            kind: Some(f.kind),
            rule: Some(f.rule),
            severity: Some(f.severity.as_str()),
            subject: Some(f.subject.as_bytes()),
            keys: (!keys.is_empty()).then_some(keys.as_bytes()),
            evidence: Some(evidence.as_bytes()),
            explanation: Some(f.explanation.as_bytes()),
            fix: Some(f.fix.as_bytes()),
        });
    }
    b.finish()
}

/// Prints findings for a person: most severe first, each with its evidence and fix.
pub fn write_report(out: &mut impl std::io::Write, findings: &[Finding]) -> std::io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "no findings");
    }
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted
        .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.kind.cmp(b.kind)).then(a.subject.cmp(&b.subject)));
    for f in sorted {
        writeln!(out, "{:<8} {} {} — {}", f.severity.as_str().to_uppercase(), f.kind, f.rule, f.subject)?;
        writeln!(out, "  {}", f.explanation)?;
        if let (Some(first), Some(last)) = (f.first_us, f.last_us) {
            writeln!(out, "  seen: {} to {}", time(first), time(last))?;
        }
        if !f.evidence.is_empty() {
            let numbers: Vec<String> =
                f.evidence.iter().map(|e| format!("{} = {}", e.name, number(e.value))).collect();
            writeln!(out, "  evidence: {}", numbers.join(", "))?;
        }
        if !f.keys.is_empty() {
            writeln!(out, "  keys: {}", f.keys.join(", "))?;
        }
        writeln!(out, "  fix: {}", f.fix)?;
    }
    Ok(())
}

/// A time as UTC.
fn time(us: i64) -> String {
    arrow::temporal_conversions::timestamp_us_to_datetime(us)
        .map_or_else(|| us.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// A number as a person writes it: no `.0` on whole numbers.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:.3}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity, subject: &str) -> Finding {
        Finding {
            kind: kind::CONFIG_INVALID,
            rule: "overlay_mtu",
            severity,
            subject: subject.into(),
            keys: vec!["topology.overlays[0].inner_mtu".into()],
            evidence: vec![Evidence::new("gap_bytes", 50.0), Evidence::new("ratio", 0.5)],
            explanation: "too big".into(),
            fix: "make it smaller".into(),
            first_us: Some(1_700_000_000_000_000),
            last_us: Some(1_700_000_060_000_000),
        }
    }

    #[test]
    fn the_report_puts_the_worst_first_with_evidence_and_fix() {
        let mut out = Vec::new();
        write_report(&mut out, &[finding(Severity::Warning, "b"), finding(Severity::Critical, "a")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("CRITICAL config.invalid overlay_mtu — a"), "{text}");
        assert!(text.contains("evidence: gap_bytes = 50, ratio = 0.500"), "{text}");
        assert!(text.contains("keys: topology.overlays[0].inner_mtu"), "{text}");
        assert!(text.contains("fix: make it smaller"), "{text}");
        assert!(text.contains("seen: 2023-11-14 22:13:20 UTC to 2023-11-14 22:14:20 UTC"), "{text}");
    }

    #[test]
    fn findings_become_rows_with_their_evidence_as_json() {
        let b = to_batch(&[finding(Severity::Critical, "overlay x")], 42);
        assert_eq!(b.schema(), plumb_collector::schema::findings::schema());
        let text = |name: &str| {
            let c = b.column_by_name(name).unwrap();
            arrow::array::AsArray::as_string::<i32>(c).value(0).to_string()
        };
        assert_eq!(text("kind"), "config.invalid");
        assert_eq!(text("severity"), "critical");
        assert_eq!(text("evidence"), r#"{"gap_bytes":50.0,"ratio":0.5}"#);
        assert_eq!(text("keys"), "topology.overlays[0].inner_mtu");
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
        assert_eq!(Severity::parse("warning"), Some(Severity::Warning));
        assert_eq!(Severity::parse("fatal"), None);
        assert_eq!(serde_json::to_string(&Severity::Critical).unwrap(), "\"critical\"");
    }
}
