//! Captured frames to `flows` batches: the walk through the packet layer, the flow table,
//! and the counts of what could not be read.

use arrow::array::RecordBatch;

use super::reader::Frame;
use super::table::{FlowTable, TableConfig};
use crate::addr::Addr16;
use crate::packet::dissect::{Dissection, Dissector};
use crate::schema::FlowBuilders;
use crate::source_kind::SourceKind;
use crate::stats::{ErrorCounts, ErrorLabel};

/// What the packets yielded beyond the table's own counts.
#[derive(Clone, Debug, Default)]
pub struct PacketStats {
    pub frames: u64,
    /// Frames whose walk stopped at a malformed or cut-short header, by reason (the rows
    /// still carry what was read above it).
    pub errors: ErrorCounts,
    /// Headers on a tunnel port that did not validate and were read as plain UDP.
    pub not_a_tunnel: u64,
}

/// Frames in, batches of `flows` rows out.
pub struct PacketFlows {
    dissector: Dissector,
    d: Dissection,
    pub table: FlowTable,
    out: FlowBuilders,
    batch_rows: usize,
    pub stats: PacketStats,
}

impl PacketFlows {
    /// `observer` is the `exporter` of the rows: the host the capture was taken on.
    pub fn new(dissector: Dissector, table: TableConfig, observer: Addr16, batch_rows: usize) -> PacketFlows {
        PacketFlows {
            dissector,
            d: Dissection::default(),
            table: FlowTable::new(table, observer),
            out: FlowBuilders::with_capacity(batch_rows),
            batch_rows: batch_rows.max(1),
            stats: PacketStats::default(),
        }
    }

    /// Adds one frame; returns a batch once `batch_rows` rows have ended.
    pub fn frame(&mut self, frame: &Frame<'_>) -> Option<RecordBatch> {
        self.stats.frames += 1;
        self.dissector.dissect(frame.linktype, frame.data, &mut self.d);
        if let Some(e) = self.d.error {
            self.stats.errors.add(ErrorLabel { protocol: SourceKind::Pcap.as_str(), reason: e.reason() }, 1);
        }
        self.stats.not_a_tunnel += self.d.not_a_tunnel.is_some() as u64;
        self.table.add(&self.d, frame.ts_us, &mut self.out);
        self.take_full()
    }

    /// Ends flows idle at `now_us` (live capture calls this when the link is quiet).
    pub fn expire(&mut self, now_us: i64) -> Option<RecordBatch> {
        self.table.expire(now_us, &mut self.out);
        self.take_full()
    }

    fn take_full(&mut self) -> Option<RecordBatch> {
        (self.out.len() >= self.batch_rows).then(|| self.out.finish())
    }

    /// The rows of flows ended so far, if any (live capture hands them on at an interval).
    pub fn take(&mut self) -> Option<RecordBatch> {
        (!self.out.is_empty()).then(|| self.out.finish())
    }

    /// Ends every flow and returns the rows not yet handed out.
    pub fn finish(&mut self) -> RecordBatch {
        self.table.flush(&mut self.out);
        self.out.finish()
    }
}
