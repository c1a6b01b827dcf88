//! NetFlow v5/v7, NetFlow v9 and IPFIX decoding into `flows` rows.
//!
//! [`Decoder`] owns the state of one decoding worker (templates, sampling, sequence
//! numbers, data held for missing templates) and turns datagrams into rows of
//! [`FlowBuilders`]. It reads bottom-up, each layer using only those below it:
//! [`wire`] (stateless views of sets and template records) → [`plan`] (templates compiled
//! into plans, from the IE registry and the one table of columns) → [`state`] (templates,
//! sampling, held data, sequence numbers) → [`decode`] (messages into rows, by the row path
//! or the column-first path). v5/v7 use the `netflow_parser` crate, which is as fast as
//! hand code for fixed records.

pub mod decode;
pub mod plan;
pub mod state;
pub mod stats;
pub mod wire;

use std::collections::HashMap;

use crate::addr::Addr16;
use crate::packet::dissect::Dissector;
use crate::schema::{FlowBuilders, SideTables, TableBatch};
use crate::sflow;
use crate::source_kind::SourceKind;
use crate::stats::DecodeStats;
pub use crate::stats::Outcome;

use stats::{NetflowError, NetflowStats};

use decode::record::ExtraRef;
use decode::{ipfix, v5, v9};
use state::pending::Pending;
use state::sequence::SequenceTracker;
use state::{DecoderState, StateLimits};
use wire::sets::{SetIter, starts_v9_message};

pub use wire::message::MsgContext;

/// A sampling rate set in the configuration for one exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SamplingOverride {
    /// The factor to apply (for a vDS: its samplingRate + 1).
    pub factor: u32,
    /// Use the factor even when the exporter announces its own rate.
    pub force: bool,
}

/// Decoder settings.
#[derive(Clone, Debug)]
pub struct DecoderConfig {
    pub limits: StateLimits,
    /// Bytes of data sets held for missing templates.
    pub pending_max_bytes: usize,
    pub pending_max_sets: usize,
    pub sampling_overrides: HashMap<Addr16, SamplingOverride>,
    /// Decode simple templates column by column (see `columnar`); off only to compare
    /// with the row path in tests.
    pub columnar: bool,
    /// Reads the packet headers sFlow samples carry (which UDP ports are tunnels).
    pub dissector: Dissector,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            limits: StateLimits::default(),
            pending_max_bytes: 16 << 20,
            pending_max_sets: 16_384,
            sampling_overrides: HashMap::new(),
            columnar: true,
            dissector: Dissector::default(),
        }
    }
}

/// One worker's NetFlow/IPFIX decoder.
pub struct Decoder {
    pub state: DecoderState,
    /// Counts handed over message by message, for the caller to take.
    pub stats: DecodeStats,
    /// Counts of the message being decoded.
    counts: NetflowStats,
    pending: Pending,
    seq: SequenceTracker,
    config: DecoderConfig,
    extras: Vec<ExtraRef>,
    /// Last exporter-reported loss (IE 166/167/168) per exporter: flows, packets, octets.
    exporter_not_sent: HashMap<Addr16, [u64; 3]>,
    /// sFlow datagrams go here (the same listeners and files carry both).
    sflow: sflow::Decoder,
    /// Rows of the tables beside `flows` (counter samples, drop notifications), for the
    /// caller to take with each flow batch it cuts.
    side: SideTables,
}

impl Decoder {
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            state: DecoderState::new(config.limits),
            stats: DecodeStats::default(),
            counts: NetflowStats::default(),
            pending: Pending::new(config.pending_max_bytes, config.pending_max_sets),
            seq: SequenceTracker::new(config.limits.max_templates),
            sflow: sflow::Decoder::new(config.dissector.clone(), config.limits.max_templates),
            config,
            extras: Vec::with_capacity(64),
            exporter_not_sent: HashMap::new(),
            side: SideTables::default(),
        }
    }

    /// Rows of `interface_counters` and `drops` decoded since the last
    /// [`Decoder::finish_side_tables`].
    pub fn side_rows(&self) -> usize {
        self.side.rows()
    }

    /// The batches of `interface_counters` and `drops` decoded so far. Callers take them
    /// whenever they cut a flow batch, and when [`Decoder::side_rows`] grows large.
    pub fn finish_side_tables(&mut self) -> Vec<TableBatch> {
        self.side.finish()
    }

    /// Decodes every message in `buf` (one UDP payload, or several concatenated messages
    /// read from a file) sent by `exporter` and received at `received_us`.
    pub fn decode(
        &mut self,
        buf: &[u8],
        exporter: Addr16,
        received_us: i64,
        out: &mut FlowBuilders,
    ) -> Outcome {
        let errors_before = self.stats.total_errors();
        let mut outcome = Outcome::default();
        let mut rest = buf;
        let mut first = true;
        while !rest.is_empty() {
            let kind = SourceKind::detect(rest);
            if !first && kind.is_none() {
                if rest.iter().any(|&b| b != 0) {
                    self.counts.error(NetflowError::TrailingBytes);
                }
                self.counts.drain_into(outcome.kind, &mut self.stats);
                break;
            }
            first = false;
            let consumed = match kind {
                Some(SourceKind::NetflowV5) | Some(SourceKind::NetflowV7) => {
                    v5::decode(self, rest, exporter, received_us, out, &mut outcome)
                }
                Some(SourceKind::NetflowV9) => {
                    v9::decode(self, rest, exporter, received_us, out, &mut outcome)
                }
                Some(SourceKind::Ipfix) => {
                    ipfix::decode(self, rest, exporter, received_us, out, &mut outcome)
                }
                Some(SourceKind::Sflow) => {
                    let sampling = self.config.sampling_overrides.get(&exporter).copied();
                    let n = self.sflow.decode(
                        rest,
                        exporter,
                        received_us,
                        sampling,
                        (out, &mut self.side),
                        &mut outcome,
                    );
                    self.sflow.drain_into(&mut self.stats);
                    n
                }
                Some(SourceKind::Pcap) | None => {
                    self.counts.error(NetflowError::UnknownVersion);
                    rest.len()
                }
            };
            self.counts.drain_into(kind, &mut self.stats);
            outcome.kind = outcome.kind.or(kind);
            // A decoder that consumed nothing would loop; treat the rest as unreadable.
            if consumed == 0 {
                break;
            }
            rest = &rest[consumed.min(rest.len())..];
        }
        outcome.errors = self.stats.total_errors() - errors_before;
        outcome
    }

    /// The sequence number the next message of a stream should carry, after what this
    /// decoder has seen (`plumb replay --rewrite-sequence` continues a looped file from it).
    /// A stream is (exporter, protocol, domain): the domain is the IPFIX observation
    /// domain, the v9 source id, v5's engine type · 256 + engine id, or sFlow's sub-agent
    /// (whose exporter is the agent address the datagrams carry).
    pub fn next_sequence(&self, exporter: Addr16, kind: SourceKind, domain: u32) -> Option<u32> {
        let version = match kind {
            SourceKind::Sflow => return self.sflow.next_sequence(exporter, domain),
            SourceKind::NetflowV5 => 5,
            SourceKind::NetflowV7 => 7,
            SourceKind::NetflowV9 => 9,
            SourceKind::Ipfix => 10,
            SourceKind::Pcap => return None,
        };
        self.seq.next_expected(exporter, version, domain)
    }

    /// Data sets currently held for missing templates.
    pub fn pending_sets(&self) -> usize {
        self.pending.len()
    }

    /// Exporter-reported loss (notSent flow, packet and octet totals) per exporter.
    pub fn exporter_not_sent(&self) -> &HashMap<Addr16, [u64; 3]> {
        &self.exporter_not_sent
    }

    fn note_not_sent(&mut self, exporter: Addr16, idx: usize, v: Option<u64>) {
        if let Some(v) = v
            && (self.exporter_not_sent.len() < 4096 || self.exporter_not_sent.contains_key(&exporter))
        {
            self.exporter_not_sent.entry(exporter).or_default()[idx] = v;
        }
    }
}

/// Length of the first message in `buf`, for splitting files that hold datagrams back to
/// back. Unknown data is one message.
pub fn message_len(buf: &[u8]) -> usize {
    if buf.is_empty() {
        return 0;
    }
    let be16 = |at: usize| buf.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize);
    let len = match SourceKind::detect(buf) {
        Some(SourceKind::Ipfix) => be16(2).filter(|&l| l >= 16).unwrap_or(buf.len()),
        Some(SourceKind::NetflowV5) => be16(2).map(|c| 24 + c * 48).unwrap_or(buf.len()),
        Some(SourceKind::NetflowV7) => be16(2).map(|c| 24 + c * 52).unwrap_or(buf.len()),
        Some(SourceKind::NetflowV9) if buf.len() >= 20 => {
            let mut it = SetIter::new(&buf[20..], starts_v9_message);
            for _ in it.by_ref() {}
            20 + it.consumed()
        }
        _ => buf.len(),
    };
    len.clamp(1, buf.len())
}

/// The message without its template and options-template sets (`plumb replay
/// --skip-templates`); `None` when nothing but templates is left. Other protocols are
/// returned unchanged.
pub fn without_templates(msg: &[u8]) -> Option<Vec<u8>> {
    let (header, template_ids): (usize, &[u16]) = match SourceKind::detect(msg) {
        Some(SourceKind::Ipfix) if msg.len() >= 16 => (16, &[2, 3]),
        Some(SourceKind::NetflowV9) if msg.len() >= 20 => (20, &[0, 1]),
        _ => return Some(msg.to_vec()),
    };
    let mut out = msg[..header].to_vec();
    let mut kept = 0;
    for (id, body) in SetIter::new(&msg[header..], |_| false).flatten() {
        if template_ids.contains(&id) {
            continue;
        }
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        out.extend_from_slice(body);
        kept += 1;
    }
    if kept == 0 {
        return None;
    }
    if header == 16 {
        let len = (out.len() as u16).to_be_bytes();
        out[2..4].copy_from_slice(&len);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPFIX message with a template set (id 256: one IPv4 source) and a data set.
    fn ipfix_message() -> Vec<u8> {
        let mut m = vec![0, 10, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1];
        m.extend([0, 2, 0, 12, 1, 0, 0, 1, 0, 8, 0, 4]);
        m.extend([1, 0, 0, 12, 10, 0, 0, 1, 10, 0, 0, 2]);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    #[test]
    fn ip_version_is_kept_only_where_the_addresses_do_not_say_it() {
        // Template 256: sourceIPv4Address, ipVersion; records saying 4 and (wrongly) 6.
        let mut m = vec![0, 10, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1];
        m.extend([0, 2, 0, 16, 1, 0, 0, 2, 0, 8, 0, 4, 0, 60, 0, 1]);
        m.extend([1, 0, 0, 14, 10, 0, 0, 1, 4, 10, 0, 0, 2, 6]);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        for columnar in [true, false] {
            let mut dec = Decoder::new(DecoderConfig { columnar, ..Default::default() });
            let mut out = FlowBuilders::with_capacity(2);
            dec.decode(&m, [1; 16], 0, &mut out);
            let batch = out.finish();
            let extra = batch.column_by_name("extra").unwrap();
            let extra = extra.as_any().downcast_ref::<arrow::array::MapArray>().unwrap();
            assert_eq!(extra.value_length(0), 0, "ipVersion 4 of an IPv4 flow is the address's");
            let row = extra.value(1);
            let keys = row.column(0).as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
            let values = row.column(1).as_any().downcast_ref::<arrow::array::BinaryArray>().unwrap();
            assert_eq!((keys.value(0), values.value(0)), ("0/60", &[6u8][..]), "columnar: {columnar}");
        }
    }

    #[test]
    fn message_len_splits_back_to_back_messages() {
        let m = ipfix_message();
        let mut two = m.clone();
        two.extend(&m);
        assert_eq!(message_len(&two), m.len());
        assert_eq!(message_len(&[0, 10, 0, 3]), 4, "a bad length is the rest of the buffer");
        assert_eq!(message_len(&[]), 0);
    }

    #[test]
    fn without_templates_keeps_data_and_fixes_the_length() {
        let m = ipfix_message();
        let data_only = without_templates(&m).unwrap();
        assert_eq!(data_only.len(), m.len() - 12);
        assert_eq!(u16::from_be_bytes([data_only[2], data_only[3]]) as usize, data_only.len());
        assert_eq!(&data_only[16..20], &[1, 0, 0, 12]);
        let templates_only = &m[..28];
        let mut t = templates_only.to_vec();
        t[2..4].copy_from_slice(&28u16.to_be_bytes());
        assert!(without_templates(&t).is_none());
        // A decoder that knows the template decodes the stripped message.
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut out = FlowBuilders::with_capacity(4);
        dec.decode(&m, [1; 16], 0, &mut out);
        let o = dec.decode(&data_only, [1; 16], 0, &mut out);
        assert_eq!(o.records, 2, "two 4-byte records in the data set");
        assert_eq!(out.finish().num_rows(), 4);
    }
}
