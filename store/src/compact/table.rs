//! The tables the store compacts, and what compaction does with each: the statement that
//! sorts (raw tables) or re-sums (rollups) an hour's rows, and the sort order the output
//! records.

use arrow::datatypes::SchemaRef;

use plumb_collector::schema::Table as RawTable;

use super::CompactionConfig;
use crate::rollup::Rollup;

/// The tables the store compacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// A table of rows as they came (`flows`, `interface_counters`, `drops`, `findings`).
    Raw(RawTable),
    Rollup(Rollup),
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Raw(RawTable::Flows),
        Table::Raw(RawTable::InterfaceCounters),
        Table::Raw(RawTable::Drops),
        Table::Raw(RawTable::Findings),
        Table::Rollup(Rollup::Flows),
        Table::Rollup(Rollup::Interfaces),
    ];

    pub fn dir(self) -> &'static str {
        match self {
            Table::Raw(t) => t.name(),
            Table::Rollup(r) => r.dir(),
        }
    }

    pub(super) fn schema(self) -> SchemaRef {
        match self {
            Table::Raw(t) => t.schema(),
            Table::Rollup(r) => r.schema(),
        }
    }

    /// The statement that turns the inputs (table `input`) into the output rows.
    pub(super) fn sql(self, cfg: &CompactionConfig) -> String {
        match self {
            Table::Raw(_) => format!("SELECT * FROM input ORDER BY {}", order_by(&self.sort_columns(cfg))),
            Table::Rollup(r) => {
                let keys = r.key_columns().join(", ");
                format!(
                    "SELECT {keys}, sum(flows) AS flows, sum(packets) AS packets, sum(bytes) AS bytes \
                     FROM input GROUP BY {keys} ORDER BY {}",
                    order_by(r.key_columns())
                )
            }
        }
    }

    /// The order of the output rows: the configured one for `flows`; a source's series in
    /// time order for the others, which are read per device and interface or reason.
    pub(super) fn sort_columns(self, cfg: &CompactionConfig) -> Vec<String> {
        let fixed: &[&str] = match self {
            Table::Raw(RawTable::Flows) => return cfg.sort.clone(),
            Table::Raw(RawTable::InterfaceCounters) => &["agent", "if_index", "time_received"],
            Table::Raw(RawTable::Drops) => &["agent", "reason_code", "time_received"],
            Table::Raw(RawTable::Findings) => &["kind", "subject", "time_received"],
            Table::Rollup(r) => r.key_columns(),
        };
        fixed.iter().map(|s| s.to_string()).collect()
    }
}

fn order_by<S: AsRef<str>>(cols: &[S]) -> String {
    cols.iter().map(|c| format!("\"{}\" ASC NULLS FIRST", c.as_ref())).collect::<Vec<_>>().join(", ")
}
