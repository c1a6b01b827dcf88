//! The tables the store compacts, and what compaction does with each: the statement that
//! sorts (flows) or re-sums (rollups) an hour's rows, and the sort order the output
//! records.

use arrow::datatypes::SchemaRef;

use plumb_collector::schema::flows_schema;

use super::CompactionConfig;
use crate::layout::FLOWS_DIR;
use crate::rollup::Rollup;

/// The tables the store compacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Flows,
    Rollup(Rollup),
}

impl Table {
    pub const ALL: [Table; 3] =
        [Table::Flows, Table::Rollup(Rollup::Flows), Table::Rollup(Rollup::Interfaces)];

    pub fn dir(self) -> &'static str {
        match self {
            Table::Flows => FLOWS_DIR,
            Table::Rollup(r) => r.dir(),
        }
    }

    pub(super) fn schema(self) -> SchemaRef {
        match self {
            Table::Flows => flows_schema(),
            Table::Rollup(r) => r.schema(),
        }
    }

    /// The statement that turns the inputs (table `input`) into the output rows.
    pub(super) fn sql(self, cfg: &CompactionConfig) -> String {
        match self {
            Table::Flows => format!("SELECT * FROM input ORDER BY {}", order_by(&cfg.sort)),
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

    pub(super) fn sort_columns(self, cfg: &CompactionConfig) -> Vec<String> {
        match self {
            Table::Flows => cfg.sort.clone(),
            Table::Rollup(r) => r.key_columns().iter().map(|s| s.to_string()).collect(),
        }
    }
}

fn order_by<S: AsRef<str>>(cols: &[S]) -> String {
    cols.iter().map(|c| format!("\"{}\" ASC NULLS FIRST", c.as_ref())).collect::<Vec<_>>().join(", ")
}
