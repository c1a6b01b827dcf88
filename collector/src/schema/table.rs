//! The tables plumb stores (the decoders' and the analyzer's findings), named for the sinks: a finished batch travels with its
//! table so one queue carries them all and each sink files a batch where it belongs.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::drops::DropBuilders;
use super::interface_counters::CounterBuilders;
use super::{drops, findings, flows_schema, interface_counters};

/// A table plumb stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per flow record, sampled packet or pcap-derived flow.
    Flows,
    /// One row per counter sample (sFlow): an interface's counters at one moment.
    InterfaceCounters,
    /// One row per dropped-packet notification (sFlow).
    Drops,
    /// One row per finding of an analysis run.
    Findings,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Flows, Table::InterfaceCounters, Table::Drops, Table::Findings];

    /// The table's SQL name, also its folder in the store.
    pub fn name(self) -> &'static str {
        match self {
            Table::Flows => "flows",
            Table::InterfaceCounters => "interface_counters",
            Table::Drops => "drops",
            Table::Findings => "findings",
        }
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Flows => flows_schema(),
            Table::InterfaceCounters => interface_counters::schema(),
            Table::Drops => drops::schema(),
            Table::Findings => findings::schema(),
        }
    }
}

/// A finished batch and the table it belongs to; cheap to clone for each sink.
#[derive(Clone, Debug)]
pub struct TableBatch {
    pub table: Table,
    pub batch: Arc<RecordBatch>,
}

impl TableBatch {
    pub fn new(table: Table, batch: RecordBatch) -> TableBatch {
        TableBatch { table, batch: Arc::new(batch) }
    }

    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }
}

/// Builders of the tables beside `flows`. Their rows are few (a counter sample per
/// interface every polling interval, drop notifications rate-limited by the agent), so a
/// decoder keeps them next to the flow builders it is handed, and whoever cuts flow
/// batches takes these with them ([`SideTables::finish`]).
pub struct SideTables {
    pub counters: CounterBuilders,
    pub drops: DropBuilders,
}

impl Default for SideTables {
    fn default() -> Self {
        SideTables { counters: CounterBuilders::with_capacity(256), drops: DropBuilders::with_capacity(64) }
    }
}

impl SideTables {
    /// Rows waiting in all the side tables.
    pub fn rows(&self) -> usize {
        self.counters.len() + self.drops.len()
    }

    /// The batches of the tables that have rows; the builders are empty afterwards.
    pub fn finish(&mut self) -> Vec<TableBatch> {
        let mut out = Vec::new();
        if !self.counters.is_empty() {
            out.push(TableBatch::new(Table::InterfaceCounters, self.counters.finish()));
        }
        if !self.drops.is_empty() {
            out.push(TableBatch::new(Table::Drops, self.drops.finish()));
        }
        out
    }
}
