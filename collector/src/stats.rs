//! What a decoder reports of its work, in types that name no decoder: the outcome of a
//! datagram, error counts by `protocol` and `reason` label, and the counters every
//! template or sampling protocol shares. Each decoder counts in a struct of its own on
//! its hot path (plain integers owned by one worker, no atomics) and hands its counts over
//! in these types, so the metrics layer, and a new source, never touch each other.

use crate::source_kind::SourceKind;

/// What one datagram yielded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub kind: Option<SourceKind>,
    /// Flow rows appended.
    pub records: u64,
    /// Units the sequence numbers say were lost before this datagram.
    pub lost: u64,
    /// Errors counted for this datagram.
    pub errors: u64,
    /// Rows with a field corrected for a known exporter bug (Open vSwitch's byte-swapped
    /// sFlow tunnel ports).
    pub repaired: u64,
}

/// The labels of a decode error: the protocol of the datagram (`ipfix`, `sflow`, …, or
/// `unknown`) and the decoder's name for what was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorLabel {
    pub protocol: &'static str,
    pub reason: &'static str,
}

/// The `protocol` label of a datagram whose protocol could not be told.
pub const UNKNOWN_PROTOCOL: &str = "unknown";

/// Counts by (protocol, reason) label: decode errors, and packets an exporter reported
/// dropped. Both are rare and their labels few, so a short list beats a map; an empty
/// list allocates nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    counts: Vec<(ErrorLabel, u64)>,
}

impl ErrorCounts {
    pub fn add(&mut self, label: ErrorLabel, n: u64) {
        if n == 0 {
            return;
        }
        match self.counts.iter_mut().find(|(l, _)| *l == label) {
            Some((_, c)) => *c += n,
            None => self.counts.push((label, n)),
        }
    }

    /// Errors with this reason, whatever the protocol.
    pub fn reason(&self, reason: &str) -> u64 {
        self.counts.iter().filter(|(l, _)| l.reason == reason).map(|(_, n)| n).sum()
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = (ErrorLabel, u64)> + '_ {
        self.counts.iter().copied()
    }
}

/// Decoder counters since the last [`DecodeStats::take`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub errors: ErrorCounts,
    /// Data sets held because their template was unknown.
    pub sets_held: u64,
    /// Held sets dropped to stay within the buffer bound (their records are lost).
    pub sets_evicted: u64,
    /// Held records decoded once their template arrived.
    pub records_released: u64,
    /// Flow records stored with an unknown sampling rate (null `sampling_rate`).
    pub records_unknown_sampling: u64,
    /// Flow records whose rate came from the configuration.
    pub records_config_sampling: u64,
    /// Template records received (data and options).
    pub templates_received: u64,
    pub templates_withdrawn: u64,
    /// Options data records received.
    pub options_records: u64,
    /// Sequence resets (exporter restarts, reordering).
    pub sequence_resets: u64,
    /// Samples of a sampling protocol (sFlow) by type: flow samples, counter samples,
    /// dropped-packet notifications.
    pub flow_samples: u64,
    pub counter_samples: u64,
    pub drop_notifications: u64,
    /// Samples and records of formats the decoder does not read, skipped by their length.
    pub elements_skipped: u64,
    /// Flow samples missing from a data source's sample sequence numbers.
    pub samples_lost: u64,
    /// Flow samples the agent counted as dropped itself (its resources ran short).
    pub samples_dropped_by_agent: u64,
    /// Flow samples a data source's sample pool says were due but that neither arrived
    /// nor were numbered nor counted as dropped (a jump of the pool far beyond chance).
    pub samples_missing_from_pool: u64,
    /// Packets the exporter reported it dropped, one per sFlow dropped-packet
    /// notification (never sampled), by protocol and drop reason.
    pub dropped_packets: ErrorCounts,
}

impl DecodeStats {
    pub fn total_errors(&self) -> u64 {
        self.errors.total()
    }

    /// Errors with this `reason` label, whatever the protocol.
    pub fn error_count(&self, reason: &str) -> u64 {
        self.errors.reason(reason)
    }

    /// Returns the counters and resets them.
    pub fn take(&mut self) -> DecodeStats {
        std::mem::take(self)
    }

    /// Adds `other` to these counters.
    pub fn merge(&mut self, other: &DecodeStats) {
        for (label, n) in other.errors.iter() {
            self.errors.add(label, n);
        }
        self.sets_held += other.sets_held;
        self.sets_evicted += other.sets_evicted;
        self.records_released += other.records_released;
        self.records_unknown_sampling += other.records_unknown_sampling;
        self.records_config_sampling += other.records_config_sampling;
        self.templates_received += other.templates_received;
        self.templates_withdrawn += other.templates_withdrawn;
        self.options_records += other.options_records;
        self.sequence_resets += other.sequence_resets;
        self.flow_samples += other.flow_samples;
        self.counter_samples += other.counter_samples;
        self.drop_notifications += other.drop_notifications;
        self.elements_skipped += other.elements_skipped;
        self.samples_lost += other.samples_lost;
        self.samples_dropped_by_agent += other.samples_dropped_by_agent;
        self.samples_missing_from_pool += other.samples_missing_from_pool;
        for (label, n) in other.dropped_packets.iter() {
            self.dropped_packets.add(label, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_counts_add_up_by_label() {
        let mut s = DecodeStats::default();
        let a = ErrorLabel { protocol: "ipfix", reason: "truncated" };
        let b = ErrorLabel { protocol: "netflow_v9", reason: "truncated" };
        s.errors.add(a, 2);
        s.errors.add(b, 1);
        s.errors.add(a, 1);
        s.errors.add(ErrorLabel { protocol: "ipfix", reason: "bad_length" }, 0);
        assert_eq!(s.error_count("truncated"), 4);
        assert_eq!(s.errors.iter().count(), 2, "a zero count adds no label");
        let mut total = DecodeStats::default();
        total.merge(&s);
        total.merge(&s);
        assert_eq!(total.total_errors(), 8);
        assert_eq!(s.take().total_errors(), 4);
        assert_eq!(s.total_errors(), 0);
    }
}
