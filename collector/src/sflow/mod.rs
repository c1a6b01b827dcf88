//! sFlow v5 (sflow.org, "sFlow Version 5", with the tunnel, drop-notification and Open
//! vSwitch extensions): datagrams to `flows` rows.
//!
//! A datagram carries samples ([`sample`]); a flow sample's records ([`records`]) become
//! one `flows` row ([`row`]), its sampled header read by the shared packet layer, its
//! counts scaled by its rate. A counter sample becomes one `interface_counters` row
//! ([`counters`]), a dropped-packet notification one `drops` row ([`drops`]) whose packet
//! records are read as a flow sample's are. Every length is
//! checked against the piece it sits in ([`xdr`]): a record or sample whose fixed fields
//! are cut is left out alone; one whose length runs past its parent ends that list there,
//! and what came before it is kept.
//!
//! Loss: datagram sequence numbers per agent and sub-agent, through the same tracker as
//! NetFlow/IPFIX (one unit per datagram), and sample sequence numbers and the agent's own
//! drop count per data source ([`sources`]).

pub mod counters;
pub mod drop_reason;
pub mod drops;
pub mod records;
pub mod row;
pub mod sample;
pub mod sources;
pub mod stats;
pub mod xdr;

use self::records::FlowRecords;
use self::row::Origin;
use self::sample::{CounterSample, DropNotification, FlowSample, format};
use self::sources::{Counters, SampleSequences, SourceKey};
use self::stats::{SflowError, SflowStats};
use self::xdr::Xdr;
use crate::addr::Addr16;
use crate::netflow::SamplingOverride;
use crate::netflow::decode::finalize::choose_rate;
use crate::netflow::state::sequence::{Counted, SequenceTracker};
use crate::packet::dissect::{Dissection, Dissector};
use crate::schema::drops::DropRow;
use crate::schema::interface_counters::CounterRow;
use crate::schema::{FlowBuilders, FlowRow, SideTables};
use crate::source_kind::SourceKind;
use crate::stats::{DecodeStats, ErrorLabel, Outcome};

/// The `version` word of an sFlow v5 datagram, also its protocol tag in the sequence tracker.
const VERSION: u32 = 5;

/// One worker's sFlow decoder.
pub struct Decoder {
    dissector: Dissector,
    d: Dissection,
    seq: SequenceTracker,
    sources: SampleSequences,
    counts: SflowStats,
    row: FlowRow<'static>,
}

/// The datagram header: who sent it and its place in the agent's sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramHeader {
    /// The agent's address; `None` when it sent type 0 (unknown).
    pub agent: Option<Addr16>,
    pub sub_agent: u32,
    pub sequence: u32,
    /// Milliseconds since the agent started.
    pub uptime_ms: u32,
    pub samples: u32,
}

impl DatagramHeader {
    /// Reads the header; the samples follow in the returned reader.
    pub fn parse(buf: &[u8]) -> Result<(DatagramHeader, Xdr<'_>), SflowError> {
        let mut x = Xdr::new(buf);
        if x.u32()? != VERSION {
            return Err(SflowError::Truncated);
        }
        let agent = x.address()?;
        let (sub_agent, sequence, uptime_ms, samples) = (x.u32()?, x.u32()?, x.u32()?, x.u32()?);
        Ok((DatagramHeader { agent, sub_agent, sequence, uptime_ms, samples }, x))
    }
}

impl Decoder {
    /// `max_scopes` bounds the (agent, sub-agent) pairs and the data sources whose
    /// sequence numbers are followed.
    pub fn new(dissector: Dissector, max_scopes: usize) -> Decoder {
        Decoder {
            dissector,
            d: Dissection::default(),
            seq: SequenceTracker::per_domain_only(max_scopes),
            sources: SampleSequences::new(max_scopes),
            counts: SflowStats::default(),
            row: FlowRow::default(),
        }
    }

    /// Decodes the datagram in `buf` from `exporter` (its UDP source), received at
    /// `received_us`; flow samples go to `out`, counter samples and drop notifications to
    /// `side`. `sampling` is the configured rate of this exporter, if any. Returns the
    /// bytes consumed: all of them (a datagram has no length).
    pub fn decode(
        &mut self,
        buf: &[u8],
        exporter: Addr16,
        received_us: i64,
        sampling: Option<SamplingOverride>,
        (out, side): (&mut FlowBuilders, &mut SideTables),
        outcome: &mut Outcome,
    ) -> usize {
        let (h, rest) = match DatagramHeader::parse(buf) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.counts.error(e);
                return buf.len();
            }
        };
        let seq = self.seq.observe(
            h.agent.unwrap_or(exporter),
            VERSION as u8,
            h.sub_agent,
            h.sequence,
            Counted::units(1),
            false,
        );
        outcome.lost += seq.lost;
        self.counts.shared.sequence_resets += seq.reset as u64;
        let origin =
            Origin { exporter, agent: h.agent.unwrap_or(exporter), sub_agent: h.sub_agent, received_us };
        // Built once here: rebuilding the agent's bytes per sample stalled the read of them.
        let scope = SourceKey::new(origin.agent, origin.sub_agent, 0, 0);
        let mut samples = rest.elements(h.samples);
        for e in samples.by_ref() {
            if e.enterprise != 0 {
                self.counts.shared.elements_skipped += 1;
                continue;
            }
            match e.format {
                format::FLOW | format::FLOW_EXPANDED => {
                    match FlowSample::parse(e.body, e.format == format::FLOW_EXPANDED) {
                        Ok(s) => self.flow_sample(origin, scope, s, sampling, out, outcome),
                        Err(err) => self.counts.error(err),
                    }
                }
                format::COUNTERS | format::COUNTERS_EXPANDED => {
                    match CounterSample::parse(e.body, e.format == format::COUNTERS_EXPANDED) {
                        Ok(s) => {
                            self.counts.shared.counter_samples += 1;
                            let mut row = CounterRow::default();
                            counters::counter_row(&mut row, origin, s, &mut self.counts);
                            side.counters.push_row(&row);
                        }
                        Err(err) => self.counts.error(err),
                    }
                }
                format::DISCARDED => match DropNotification::parse(e.body) {
                    Ok(n) => {
                        let shared = &mut self.counts.shared;
                        shared.drop_notifications += 1;
                        let reason = drop_reason::name(n.reason).unwrap_or(drop_reason::OTHER);
                        shared
                            .dropped_packets
                            .add(ErrorLabel { protocol: SourceKind::Sflow.as_str(), reason }, 1);
                        let mut row = DropRow::default();
                        let repaired = drops::drop_row(
                            &mut row,
                            origin,
                            n,
                            &mut self.counts,
                            &self.dissector,
                            &mut self.d,
                        );
                        side.drops.push_row(&row);
                        outcome.repaired += repaired as u64;
                    }
                    Err(err) => self.counts.error(err),
                },
                _ => self.counts.shared.elements_skipped += 1,
            }
        }
        match samples.error() {
            Some(e) => self.counts.error(e),
            // Zero padding after the last sample is tolerated, as for NetFlow.
            None if samples.rest().iter().any(|&b| b != 0) => self.counts.error(SflowError::TrailingBytes),
            None => {}
        }
        buf.len()
    }

    fn flow_sample(
        &mut self,
        origin: Origin,
        scope: SourceKey,
        s: FlowSample<'_>,
        sampling: Option<SamplingOverride>,
        out: &mut FlowBuilders,
        outcome: &mut Outcome,
    ) {
        self.counts.shared.flow_samples += 1;
        let key = scope.source(s.source.class, s.source.index);
        let loss = self.sources.observe(
            key,
            Counters { sequence: s.sequence, agent_drops: s.drops, pool: s.pool },
            s.rate,
        );
        let shared = &mut self.counts.shared;
        shared.samples_lost += loss.missing;
        shared.samples_missing_from_pool += loss.pool_missing;
        // A restart of the numbers is not counted again here: the agent's datagram
        // numbers restart with it, and `plumb replay` loops files whose samples start over.
        shared.samples_dropped_by_agent += loss.agent_dropped;
        // A rate of 0 is a broken agent's: no rate.
        let rate = choose_rate((s.rate != 0).then_some(s.rate), sampling, &mut self.counts.shared, 1);
        let records = FlowRecords::gather(s.records, &mut self.counts);
        let repaired = row::flow_row(
            &mut self.row,
            origin,
            (s.input, s.output),
            rate,
            &records,
            &self.dissector,
            &mut self.d,
        );
        out.append(&self.row, []);
        outcome.records += 1;
        outcome.repaired += repaired as u64;
    }

    /// Moves this decoder's counts into `into`.
    pub fn drain_into(&mut self, into: &mut DecodeStats) {
        self.counts.drain_into(into);
    }

    /// The sequence number the next datagram of (agent, sub-agent) should carry.
    pub fn next_sequence(&self, agent: Addr16, sub_agent: u32) -> Option<u32> {
        self.seq.next_expected(agent, VERSION as u8, sub_agent)
    }
}
