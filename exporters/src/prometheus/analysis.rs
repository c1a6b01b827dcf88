//! The analyzer's metrics: what it found (findings, MTU evidence) and the state of every
//! identified uplink and its traffic classes in the last complete minute. Labels come from
//! bounded sets: finding kinds and severities, the topology's uplinks, traffic classes and
//! segments (overlays, port groups), and exporters through the exporter label limit.

use ::prometheus::{Gauge, GaugeVec, Histogram, IntCounter, IntCounterVec, IntGaugeVec, Registry};

use super::register::{counter, counter_vec, float_gauge, float_gauge_vec, gauge_vec, histogram};

pub struct AnalysisMetrics {
    pub findings: IntCounterVec,
    pub findings_active: IntGaugeVec,
    pub mtu_evidence: IntCounterVec,
    pub errors: IntCounter,
    pub seconds: Histogram,
    pub last_success: Gauge,
    pub uplink_speed: GaugeVec,
    pub uplink_utilization: GaugeVec,
    pub nioc_throughput: GaugeVec,
    pub nioc_entitlement: GaugeVec,
    pub nioc_class_utilization: GaugeVec,
    pub nioc_contention: IntGaugeVec,
    pub nioc_class_state: IntGaugeVec,
    pub nioc_reservation_at_risk: IntGaugeVec,
}

impl AnalysisMetrics {
    pub fn new(r: &Registry) -> AnalysisMetrics {
        let uplink = &["host", "uplink"];
        let class = &["host", "uplink", "class"];
        AnalysisMetrics {
            findings: counter_vec(
                r,
                "plumb_findings_total",
                "Findings of the collector's analyzer (new ones, or ones whose evidence grew), by kind \
                 (mtu.blackhole, nioc.contention, ...) and severity (info, warning, critical).",
                &["kind", "severity"],
            ),
            findings_active: gauge_vec(
                r,
                "plumb_findings_active",
                "Distinct findings whose evidence was last seen within the analyzer's lookback \
                 (config.invalid ones for as long as the configuration has them), by kind and severity.",
                &["kind", "severity"],
            ),
            mtu_evidence: counter_vec(
                r,
                "plumb_mtu_evidence_packets_total",
                "Packets that show an MTU problem, counted by the analyzer once each as they settle in the \
                 store, by kind and segment. Kinds: mtu.frag_needed (ICMP fragmentation-needed / Packet Too \
                 Big messages), mtu.df_drop (packets devices dropped for their size), mtu.fragmentation \
                 (fragmented tunnel packets), mtu.oversize_encap (tunnel packets of flows whose largest \
                 packet exceeds the overlay's underlay MTU; sampled packets exactly, aggregated flows as an \
                 upper bound), mtu.blackhole (full-size TCP segments resent). Segment: `overlay/NAME` or \
                 `port_group/NAME` of the topology, else `exporter/ADDRESS` of the device that saw them.",
                &["kind", "segment"],
            ),
            errors: counter(
                r,
                "plumb_analysis_errors_total",
                "Analysis runs of the collector that failed (the next run tries again).",
            ),
            seconds: histogram(
                r,
                "plumb_analysis_duration_seconds",
                "Time of one analysis run of the collector over its lookback window.",
                vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
            last_success: float_gauge(
                r,
                "plumb_analysis_last_success_timestamp_seconds",
                "When the last analysis run of the collector succeeded (Unix time).",
            ),
            uplink_speed: float_gauge_vec(
                r,
                "plumb_uplink_speed_bytes",
                "Link speed of a [topology] uplink that flows identify (exporter and ifIndex, or vDS port key), \
                 in bytes per second (Prometheus' base unit; × 8 for bits).",
                uplink,
            ),
            uplink_utilization: float_gauge_vec(
                r,
                "plumb_uplink_utilization_ratio",
                "Egress of a [topology] uplink in the last complete minute, over its speed (the flows' estimate, \
                 Ethernet framing included).",
                uplink,
            ),
            nioc_throughput: float_gauge_vec(
                r,
                "plumb_nioc_class_throughput_bytes_per_second",
                "Bytes per second (× 8 for bits) a traffic class sent out of an uplink in the last complete minute, \
                 Ethernet framing included.",
                class,
            ),
            nioc_entitlement: float_gauge_vec(
                r,
                "plumb_nioc_class_entitlement_bytes_per_second",
                "Bytes per second (× 8 for bits) NIOC gives a traffic class on an uplink when every active class wants more \
                 (shares, reservations as floors, limits as ceilings).",
                class,
            ),
            nioc_class_utilization: float_gauge_vec(
                r,
                "plumb_nioc_class_utilization_ratio",
                "What a traffic class sent out of an uplink in the last complete minute, over the uplink's speed.",
                class,
            ),
            nioc_contention: gauge_vec(
                r,
                "plumb_nioc_contention",
                "1 when an uplink was in contention in the last complete minute (at least 90 % used, two or \
                 more classes active; 70 % when it also lost packets), else 0.",
                uplink,
            ),
            nioc_class_state: gauge_vec(
                r,
                "plumb_nioc_class_state",
                "1 when a traffic class was in this state on an uplink in the last complete minute: share_bound \
                 (NIOC holds it at its share), limit_bound, below_reservation.",
                &["host", "uplink", "class", "state"],
            ),
            nioc_reservation_at_risk: gauge_vec(
                r,
                "plumb_nioc_reservation_at_risk",
                "1 when the latest analysis found a traffic class squeezed below its NIOC reservation during a \
                 contention of the lookback while it wanted more (finding nioc.reservation_at_risk), else 0.",
                class,
            ),
        }
    }

    /// Shows every finding counter and gauge at zero before its first finding, so a rate
    /// or an alert over it has a series from the start.
    pub fn declare_findings(&self, kinds: &[&str], severities: &[&str]) {
        for k in kinds {
            for s in severities {
                self.findings.with_label_values(&[k, s]);
                self.findings_active.with_label_values(&[k, s]).set(0);
            }
        }
    }

    /// Clears the per-uplink and per-class series, so classes that went quiet and uplinks
    /// that left the topology disappear; the run then sets what it saw.
    pub fn reset_uplinks(&self) {
        for g in [
            &self.uplink_speed,
            &self.uplink_utilization,
            &self.nioc_throughput,
            &self.nioc_entitlement,
            &self.nioc_class_utilization,
        ] {
            g.reset();
        }
        for g in [&self.nioc_contention, &self.nioc_class_state, &self.nioc_reservation_at_risk] {
            g.reset();
        }
    }
}
