//! The window a detector reads, and the few rows its query returns, read by column name:
//! numbers as `i64` whatever their width, text as `String`, timestamps as µs since the
//! epoch.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use crate::query;

/// A detector's query window: rows received at or after `since_us` (all rows when none)
/// and before `until_us` (no end when none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
}

impl Window {
    /// Rows received at or after `since_us`, to now.
    pub fn since(since_us: Option<i64>) -> Window {
        Window { since_us, until_us: None }
    }

    /// The SQL condition on `time_received`.
    pub fn predicate(&self) -> String {
        self.predicate_on("time_received")
    }

    /// The SQL condition on a timestamp column.
    pub fn predicate_on(&self, column: &str) -> String {
        let since = self.since_us.map(|us| format!("{column} >= to_timestamp_micros({us})"));
        let until = self.until_us.map(|us| format!("{column} < to_timestamp_micros({us})"));
        match (since, until) {
            (Some(s), Some(u)) => format!("{s} AND {u}"),
            (Some(c), None) | (None, Some(c)) => c,
            (None, None) => "TRUE".into(),
        }
    }
}

/// Runs `sql` and returns its rows.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for b in query::run(ctx, sql).await? {
        let columns = Arc::new(Columns::of(&b));
        rows.extend((0..b.num_rows()).map(|index| Row { columns: columns.clone(), index }));
    }
    Ok(rows)
}

/// A result batch's columns, each cast once: text columns as text, the others (numbers,
/// timestamps) as `i64` where they cast.
struct Columns {
    names: Vec<String>,
    ints: Vec<Option<Int64Array>>,
    texts: Vec<Option<StringArray>>,
}

impl Columns {
    fn of(b: &RecordBatch) -> Columns {
        let mut c = Columns { names: Vec::new(), ints: Vec::new(), texts: Vec::new() };
        for (field, col) in b.schema().fields().iter().zip(b.columns()) {
            c.names.push(field.name().clone());
            let text = matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
            let as_text = text.then(|| cast(col, &DataType::Utf8).ok()).flatten();
            c.texts.push(as_text.map(|a| a.as_string::<i32>().clone()));
            let as_int = (!text).then(|| cast(col, &DataType::Int64).ok()).flatten();
            c.ints.push(as_int.map(|a| a.as_primitive::<Int64Type>().clone()));
        }
        c
    }

    fn at(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// One result row.
pub struct Row {
    columns: Arc<Columns>,
    index: usize,
}

impl Row {
    /// An integer or timestamp column; none when null or missing.
    pub fn int(&self, name: &str) -> Option<i64> {
        let col = self.columns.ints[self.columns.at(name)?].as_ref()?;
        col.is_valid(self.index).then(|| col.value(self.index))
    }

    /// A text column (addresses come as text from the query layer).
    pub fn text(&self, name: &str) -> Option<String> {
        let col = self.columns.texts[self.columns.at(name)?].as_ref()?;
        col.is_valid(self.index).then(|| col.value(self.index).to_string())
    }

    /// Text, or `?` when unknown: for explanations.
    pub fn name(&self, col: &str) -> String {
        self.text(col).unwrap_or_else(|| "?".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_closed_at_its_start_and_open_at_its_end() {
        assert_eq!(Window::default().predicate(), "TRUE");
        assert_eq!(Window::since(Some(5)).predicate(), "time_received >= to_timestamp_micros(5)");
        let w = Window { since_us: Some(5), until_us: Some(9) };
        assert_eq!(
            w.predicate_on("minute"),
            "minute >= to_timestamp_micros(5) AND minute < to_timestamp_micros(9)"
        );
    }
}
