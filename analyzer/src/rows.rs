//! The window a detector reads, and the few rows its query returns, read by column name:
//! numbers as `i64` whatever their width, text as `String`, timestamps as µs since the
//! epoch.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use crate::query;

/// A detector's query window: rows received at or after `since_us` (all rows when none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub since_us: Option<i64>,
}

impl Window {
    /// The SQL condition on `time_received`.
    pub fn predicate(&self) -> String {
        self.predicate_on("time_received")
    }

    /// The SQL condition on a timestamp column.
    pub fn predicate_on(&self, column: &str) -> String {
        match self.since_us {
            Some(us) => format!("{column} >= to_timestamp_micros({us})"),
            None => "TRUE".into(),
        }
    }
}

/// Runs `sql` and returns its rows.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<Row>> {
    let batches = query::run(ctx, sql).await?;
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            rows.push(Row { batch: b.clone(), index: i });
        }
    }
    Ok(rows)
}

/// One result row.
pub struct Row {
    batch: RecordBatch,
    index: usize,
}

impl Row {
    /// An integer or timestamp column; none when null or missing.
    pub fn int(&self, name: &str) -> Option<i64> {
        let col = self.batch.column_by_name(name)?.slice(self.index, 1);
        let col = cast(&col, &DataType::Int64).ok()?;
        let col = col.as_primitive::<Int64Type>();
        col.is_valid(0).then(|| col.value(0))
    }

    /// A text column (addresses come as text from the query layer).
    pub fn text(&self, name: &str) -> Option<String> {
        let col = self.batch.column_by_name(name)?.slice(self.index, 1);
        let col = cast(&col, &DataType::Utf8).ok()?;
        let col = col.as_string::<i32>();
        col.is_valid(0).then(|| col.value(0).to_string())
    }

    /// Text, or `?` when unknown: for explanations.
    pub fn name(&self, col: &str) -> String {
        self.text(col).unwrap_or_else(|| "?".into())
    }
}
