//! plumb's self-metrics, each defined once here with its help text, and the bounded
//! exporter label. Hot paths keep plain counters and add them here per batch.

pub mod analysis;
mod exporter_labels;
pub mod http;
mod register;

use ::prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Registry, TextEncoder,
};

use plumb_collector::addr::Addr16;
use plumb_collector::stats::{DecodeStats, ErrorLabel};

pub use analysis::AnalysisMetrics;
use exporter_labels::ExporterLabels;
pub use exporter_labels::LocalCounters;
use register::{counter, counter_vec, float_gauge_vec, gauge, gauge_vec, histogram};

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
    pub mtu_offload_suppressed: IntCounter,
    pub exporter_last_seen: GaugeVec,
    pub analysis: AnalysisMetrics,
    exporters: ExporterLabels,
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
            mtu_offload_suppressed: counter(
                &r,
                "plumb_mtu_offload_suppressed_total",
                "Packets of captures and sFlow sampled headers taken for offload super-packets (GSO/TSO/GRO, \
                 BIG TCP) and kept out of the MTU lengths, so they are never reported as oversize.",
            ),
            exporter_last_seen: float_gauge_vec(
                &r,
                "plumb_exporter_last_seen_timestamp_seconds",
                "When plumb last received a datagram from an exporter (Unix time), by exporter and protocol.",
                &["exporter", "protocol"],
            ),
            analysis: AnalysisMetrics::new(&r),
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

#[cfg(test)]
mod tests {
    use super::*;
    use plumb_collector::addr;
    use plumb_collector::stats::Outcome;

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

    #[test]
    fn a_datagram_sets_its_exporter_last_seen() {
        let m = Metrics::new(4);
        let mut local = LocalCounters::default();
        let ex = addr::from_v4_bytes([192, 0, 2, 9]);
        local.observe(&m, &ex, &Outcome::default(), 1_700_000_000_250_000);
        let text = m.render();
        assert!(
            text.contains(
                r#"plumb_exporter_last_seen_timestamp_seconds{exporter="192.0.2.9",protocol="unknown"} 1700000000.25"#
            ),
            "{text}"
        );
    }
}
