//! plumb's self-metrics, each defined once here with its help text, and the bounded
//! exporter label. Hot paths keep plain counters and add them here per batch.

pub mod http;

use std::collections::HashMap;
use std::sync::Mutex;

use ::prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use plumb_collector::addr::{self, Addr16};
use plumb_collector::stats::{DecodeStats, ErrorLabel, Outcome, UNKNOWN_PROTOCOL};

/// Label value for exporters beyond the label limit.
pub const OTHER: &str = "other";

/// Every self-metric of the collector.
pub struct Metrics {
    pub registry: Registry,
    pub datagrams: IntCounterVec,
    pub records: IntCounterVec,
    pub decode_errors: IntCounterVec,
    pub sequence_lost: IntCounterVec,
    pub sequence_resets: IntCounter,
    pub records_repaired: IntCounterVec,
    pub samples: IntCounterVec,
    pub samples_lost: IntCounterVec,
    pub elements_skipped: IntCounter,
    pub dropped_packets: IntCounterVec,
    pub socket_drops: IntCounterVec,
    pub socket_receive_buffer: IntGaugeVec,
    pub sink_batches_dropped: IntCounterVec,
    pub templates: IntGauge,
    pub template_sets_pending: IntGauge,
    pub template_sets_held: IntCounter,
    pub template_sets_evicted: IntCounter,
    pub templates_received: IntCounter,
    pub sampling_unknown: IntCounter,
    pub sampling_configured: IntCounter,
    pub exporter_not_sent: IntGaugeVec,
    pub store_rows: IntCounterVec,
    pub store_bytes: IntCounter,
    pub store_files: IntCounter,
    pub store_implausible: IntCounter,
    pub store_flush_seconds: Histogram,
    pub store_errors: IntCounter,
    pub compactions: IntCounter,
    pub compaction_rows: IntCounter,
    pub compaction_errors: IntCounter,
    pub compaction_seconds: Histogram,
    pub batch_rows: HistogramVec,
    pub capture_packets: IntCounterVec,
    pub capture_dropped: IntCounterVec,
    pub capture_flows: IntCounterVec,
    pub findings: IntCounterVec,
    pub mtu_offload_suppressed: IntCounter,
    pub analysis_errors: IntCounter,
    pub analysis_seconds: Histogram,
    pub uplink_utilization: GaugeVec,
    pub nioc_throughput: GaugeVec,
    pub nioc_entitlement: GaugeVec,
    pub nioc_contention: IntGaugeVec,
    pub nioc_class_state: IntGaugeVec,
    exporters: ExporterLabels,
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric name");
    r.register(Box::new(c.clone())).expect("metric defined once");
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric name");
    r.register(Box::new(c.clone())).expect("metric defined once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric name");
    r.register(Box::new(g.clone())).expect("metric defined once");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid histogram");
    r.register(Box::new(h.clone())).expect("metric defined once");
    h
}

fn float_gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric name");
    r.register(Box::new(g.clone())).expect("metric defined once");
    g
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric name");
    r.register(Box::new(g.clone())).expect("metric defined once");
    g
}

impl Metrics {
    /// Registers every metric; `max_exporters` bounds the exporter label.
    pub fn new(max_exporters: usize) -> Metrics {
        let r = Registry::new();
        let m = Metrics {
            datagrams: counter_vec(
                &r,
                "plumb_datagrams_received_total",
                "Datagrams received, by exporter and protocol.",
                &["exporter", "protocol"],
            ),
            records: counter_vec(
                &r,
                "plumb_flow_records_total",
                "Flow records decoded into the flows table, by exporter and protocol.",
                &["exporter", "protocol"],
            ),
            decode_errors: counter_vec(
                &r,
                "plumb_decode_errors_total",
                "Datagrams, sets or records that could not be decoded, by protocol and reason.",
                &["protocol", "reason"],
            ),
            sequence_lost: counter_vec(
                &r,
                "plumb_sequence_lost_total",
                "Units (v5 flows, v9 packets, IPFIX records) missing according to export sequence numbers.",
                &["exporter", "protocol"],
            ),
            sequence_resets: counter(
                &r,
                "plumb_sequence_resets_total",
                "Sequence numbers that went backwards or jumped implausibly (exporter restarts).",
            ),
            records_repaired: counter_vec(
                &r,
                "plumb_records_repaired_total",
                "Rows with a field corrected for a known exporter bug (Open vSwitch's byte-swapped sFlow tunnel ports), by exporter and protocol.",
                &["exporter", "protocol"],
            ),
            samples: counter_vec(
                &r,
                "plumb_sflow_samples_total",
                "sFlow samples decoded, by kind: flow (one flows row each), counter, drop (dropped-packet notifications).",
                &["kind"],
            ),
            samples_lost: counter_vec(
                &r,
                "plumb_sflow_samples_lost_total",
                "sFlow flow samples lost, by where it shows: sequence (gaps in a data source's sample numbers: \
                 lost datagrams, samples the agent skipped), agent (the agent's own count of samples it dropped) \
                 or pool (a jump of the source's sample pool far beyond what the samples in between explain).",
                &["seen_in"],
            ),
            elements_skipped: counter(
                &r,
                "plumb_sflow_skipped_elements_total",
                "sFlow samples and records of formats plumb does not read, skipped by their length.",
            ),
            dropped_packets: counter_vec(
                &r,
                "plumb_exporter_dropped_packets_total",
                "Packets exporters reported they dropped (sFlow dropped-packet notifications, one packet each, \
                 never sampled), by protocol and drop reason (frag_needed and pkt_too_big are path-MTU drops).",
                &["protocol", "reason"],
            ),
            socket_drops: counter_vec(
                &r,
                "plumb_socket_drops_total",
                "Datagrams the kernel dropped on a listening socket (receive buffer full).",
                &["listener"],
            ),
            socket_receive_buffer: gauge_vec(
                &r,
                "plumb_socket_receive_buffer_bytes",
                "Receive buffer the kernel granted to a listening socket.",
                &["listener"],
            ),
            sink_batches_dropped: counter_vec(
                &r,
                "plumb_sink_batches_dropped_total",
                "Batches dropped because a sink's queue was full.",
                &["sink"],
            ),
            templates: gauge(&r, "plumb_templates", "Templates held (data and options, all exporters)."),
            template_sets_pending: gauge(
                &r,
                "plumb_template_pending_sets",
                "Data sets waiting for their template.",
            ),
            template_sets_held: counter(
                &r,
                "plumb_template_sets_held_total",
                "Data sets that arrived before their template and were held.",
            ),
            template_sets_evicted: counter(
                &r,
                "plumb_template_sets_evicted_total",
                "Held data sets dropped to stay within the buffer bound (their records are lost).",
            ),
            templates_received: counter(&r, "plumb_templates_received_total", "Template records received."),
            sampling_unknown: counter(
                &r,
                "plumb_sampling_unknown_records_total",
                "Flow records stored with an unknown sampling rate (null sampling_rate, counts unscaled).",
            ),
            sampling_configured: counter(
                &r,
                "plumb_sampling_configured_records_total",
                "Flow records scaled by a sampling rate from the configuration.",
            ),
            exporter_not_sent: gauge_vec(
                &r,
                "plumb_exporter_not_sent",
                "Loss the exporter itself reports (IPFIX notSent*TotalCount), by unit.",
                &["exporter", "unit"],
            ),
            store_rows: counter_vec(
                &r,
                "plumb_store_rows_written_total",
                "Rows committed to the Parquet store, by table (flows, interface_counters, drops, findings).",
                &["table"],
            ),
            store_bytes: counter(
                &r,
                "plumb_store_written_bytes_total",
                "Bytes of Parquet files committed to the store.",
            ),
            store_files: counter(
                &r,
                "plumb_store_files_written_total",
                "Parquet files committed to the store.",
            ),
            store_implausible: counter(
                &r,
                "plumb_store_implausible_time_rows_total",
                "Rows filed under their receive hour because the flow end time was missing or implausible.",
            ),
            store_flush_seconds: histogram(
                &r,
                "plumb_store_flush_duration_seconds",
                "Time to commit one flush of the store.",
                vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            ),
            store_errors: counter(
                &r,
                "plumb_store_errors_total",
                "Flushes that failed (the rows stay buffered and are retried).",
            ),
            compactions: counter(
                &r,
                "plumb_store_compactions_total",
                "Compactions committed (an hour's files merged into one sorted file).",
            ),
            compaction_rows: counter(
                &r,
                "plumb_store_compacted_rows_total",
                "Rows rewritten by compaction (flows and rollups).",
            ),
            compaction_errors: counter(
                &r,
                "plumb_store_compaction_errors_total",
                "Compaction rounds that failed (inputs are kept; retried on the next round).",
            ),
            compaction_seconds: histogram(
                &r,
                "plumb_store_compaction_duration_seconds",
                "Time to compact one hour.",
                vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0],
            ),
            batch_rows: {
                let h = HistogramVec::new(
                    HistogramOpts::new("plumb_batch_rows", "Rows per batch handed to the sinks.")
                        .buckets(vec![1.0, 10.0, 100.0, 1000.0, 10000.0, 65536.0]),
                    &["listener"],
                )
                .expect("valid histogram");
                r.register(Box::new(h.clone())).expect("metric defined once");
                h
            },
            capture_packets: counter_vec(
                &r,
                "plumb_capture_packets_total",
                "Packets read from a live capture (plumb collect --interface), by interface.",
                &["interface"],
            ),
            capture_dropped: counter_vec(
                &r,
                "plumb_capture_dropped_packets_total",
                "Packets a live capture lost: `buffer` when the capture buffer was full (plumb fell behind), \
                 `interface` when the interface or driver dropped them first.",
                &["interface", "stage"],
            ),
            capture_flows: counter_vec(
                &r,
                "plumb_capture_flows_total",
                "Flows written from captured packets, by interface and why they ended \
                 (idle, active, fin, end, evicted: the table was full).",
                &["interface", "end"],
            ),
            findings: counter_vec(
                &r,
                "plumb_findings_total",
                "Findings of the collector's analyzer (new ones, or ones whose evidence grew), by kind \
                 (mtu.blackhole, nioc.contention, ...) and severity (info, warning, critical).",
                &["kind", "severity"],
            ),
            mtu_offload_suppressed: counter(
                &r,
                "plumb_mtu_offload_suppressed_total",
                "Packets of captures and sFlow sampled headers taken for offload super-packets (GSO/TSO/GRO, \
                 BIG TCP) and kept out of the MTU lengths, so they are never reported as oversize.",
            ),
            analysis_errors: counter(
                &r,
                "plumb_analysis_errors_total",
                "Analysis runs of the collector that failed (the next run tries again).",
            ),
            analysis_seconds: histogram(
                &r,
                "plumb_analysis_duration_seconds",
                "Time of one analysis run of the collector over its lookback window.",
                vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
            uplink_utilization: float_gauge_vec(
                &r,
                "plumb_uplink_utilization_ratio",
                "Egress of a [topology] uplink in the last complete minute, over its speed (the flows' estimate, \
                 Ethernet framing included).",
                &["host", "uplink"],
            ),
            nioc_throughput: float_gauge_vec(
                &r,
                "plumb_nioc_class_throughput_bits",
                "Bits per second a traffic class sent out of an uplink in the last complete minute.",
                &["host", "uplink", "class"],
            ),
            nioc_entitlement: float_gauge_vec(
                &r,
                "plumb_nioc_class_entitlement_bits",
                "Bits per second NIOC gives a traffic class on an uplink when every active class wants more \
                 (shares, reservations as floors, limits as ceilings).",
                &["host", "uplink", "class"],
            ),
            nioc_contention: gauge_vec(
                &r,
                "plumb_nioc_contention",
                "1 when an uplink was in contention in the last complete minute (at least 90 % used, two or \
                 more classes active), else 0.",
                &["host", "uplink"],
            ),
            nioc_class_state: gauge_vec(
                &r,
                "plumb_nioc_class_state",
                "1 when a traffic class was in this state on an uplink in the last complete minute: share_bound \
                 (NIOC holds it at its share), limit_bound, below_reservation.",
                &["host", "uplink", "class", "state"],
            ),
            exporters: ExporterLabels::new(max_exporters),
            registry: r,
        };
        // Every kind from the start, so a rate over each exists before its first sample.
        for kind in ["flow", "counter", "drop"] {
            m.samples.with_label_values(&[kind]);
        }
        for seen_in in ["sequence", "agent", "pool"] {
            m.samples_lost.with_label_values(&[seen_in]);
        }
        for t in plumb_collector::schema::Table::ALL {
            m.store_rows.with_label_values(&[t.name()]);
        }
        m
    }

    /// Shows each of these error labels at zero until it first counts, so that a rate
    /// over it exists from the start. Each decoder lists its own.
    pub fn declare_errors(&self, labels: impl IntoIterator<Item = ErrorLabel>) {
        for l in labels {
            self.decode_errors.with_label_values(&[l.protocol, l.reason]);
        }
    }

    /// The bounded label value of an exporter.
    pub fn exporter_label(&self, a: &Addr16) -> String {
        self.exporters.label(a)
    }

    /// Adds decoder counters (taken since the last call).
    pub fn add_decode_stats(&self, s: &DecodeStats) {
        for (l, n) in s.errors.iter() {
            self.decode_errors.with_label_values(&[l.protocol, l.reason]).inc_by(n);
        }
        self.template_sets_held.inc_by(s.sets_held);
        self.template_sets_evicted.inc_by(s.sets_evicted);
        self.templates_received.inc_by(s.templates_received);
        self.sampling_unknown.inc_by(s.records_unknown_sampling);
        self.sampling_configured.inc_by(s.records_config_sampling);
        self.sequence_resets.inc_by(s.sequence_resets);
        for (kind, n) in
            [("flow", s.flow_samples), ("counter", s.counter_samples), ("drop", s.drop_notifications)]
        {
            self.samples.with_label_values(&[kind]).inc_by(n);
        }
        self.elements_skipped.inc_by(s.elements_skipped);
        self.samples_lost.with_label_values(&["sequence"]).inc_by(s.samples_lost);
        self.samples_lost.with_label_values(&["agent"]).inc_by(s.samples_dropped_by_agent);
        self.samples_lost.with_label_values(&["pool"]).inc_by(s.samples_missing_from_pool);
        for (l, n) in s.dropped_packets.iter() {
            self.dropped_packets.with_label_values(&[l.protocol, l.reason]).inc_by(n);
        }
    }

    /// Sets the exporter-reported loss gauges.
    pub fn set_exporter_not_sent(&self, exporter: &Addr16, v: [u64; 3]) {
        let ex = self.exporter_label(exporter);
        for (unit, n) in ["flows", "packets", "octets"].iter().zip(v) {
            self.exporter_not_sent.with_label_values(&[ex.as_str(), unit]).set(n as i64);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// A worker's cached counter handles per (exporter, protocol), so counting a datagram is
/// a hash lookup and three atomic adds: no lock, no label formatting, no allocation after
/// an exporter's first datagram.
#[derive(Default)]
pub struct LocalCounters {
    handles: HashMap<(Addr16, &'static str), [::prometheus::IntCounter; 4]>,
}

impl LocalCounters {
    pub fn observe(&mut self, metrics: &Metrics, exporter: &Addr16, o: &Outcome) {
        let protocol = o.kind.map_or(UNKNOWN_PROTOCOL, |k| k.as_str());
        let h = self.handles.entry((*exporter, protocol)).or_insert_with(|| {
            let ex = metrics.exporter_label(exporter);
            [
                metrics.datagrams.with_label_values(&[ex.as_str(), protocol]),
                metrics.records.with_label_values(&[ex.as_str(), protocol]),
                metrics.sequence_lost.with_label_values(&[ex.as_str(), protocol]),
                metrics.records_repaired.with_label_values(&[ex.as_str(), protocol]),
            ]
        });
        h[0].inc();
        if o.records > 0 {
            h[1].inc_by(o.records);
        }
        if o.lost > 0 {
            h[2].inc_by(o.lost);
        }
        if o.repaired > 0 {
            h[3].inc_by(o.repaired);
        }
        // Spoofed sources must not grow this without bound; beyond the label limit they
        // share the `other` series anyway, so forgetting handles costs only a lookup.
        if self.handles.len() > 4 * metrics.exporters.max {
            self.handles.clear();
        }
    }
}

/// Maps exporter addresses to label values: the first `max` exporters by address text,
/// later ones as `other`, so a spoofed flood cannot grow the series count.
struct ExporterLabels {
    max: usize,
    known: Mutex<HashMap<Addr16, String>>,
}

impl ExporterLabels {
    fn new(max: usize) -> Self {
        Self { max, known: Mutex::new(HashMap::new()) }
    }

    fn label(&self, a: &Addr16) -> String {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = known.get(a) {
            return l.clone();
        }
        if known.len() >= self.max {
            return OTHER.to_string();
        }
        let mut s = String::new();
        addr::write_text(a, &mut s);
        known.insert(*a, s.clone());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_label_is_bounded() {
        let m = Metrics::new(2);
        let a = |n: u8| addr::from_v4_bytes([10, 0, 0, n]);
        assert_eq!(m.exporter_label(&a(1)), "10.0.0.1");
        assert_eq!(m.exporter_label(&a(2)), "10.0.0.2");
        assert_eq!(m.exporter_label(&a(3)), OTHER);
        assert_eq!(m.exporter_label(&a(1)), "10.0.0.1");
    }

    #[test]
    fn renders_text_exposition() {
        let m = Metrics::new(4);
        m.store_rows.with_label_values(&["flows"]).inc_by(5);
        let text = m.render();
        assert!(text.contains("plumb_store_rows_written_total{table=\"flows\"} 5"));
        assert!(text.contains("# HELP plumb_store_rows_written_total"));
    }

    #[test]
    fn decode_errors_carry_protocol_and_reason() {
        let m = Metrics::new(4);
        let l = ErrorLabel { protocol: "ipfix", reason: "bad_length" };
        m.declare_errors([ErrorLabel { protocol: "sflow", reason: "truncated" }]);
        let mut s = DecodeStats::default();
        s.errors.add(l, 3);
        m.add_decode_stats(&s);
        let text = m.render();
        assert!(
            text.contains(r#"plumb_decode_errors_total{protocol="ipfix",reason="bad_length"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"plumb_decode_errors_total{protocol="sflow",reason="truncated"} 0"#),
            "{text}"
        );
    }
}
