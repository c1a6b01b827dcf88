//! The `extra` map column: every IE without a column of its own, keyed `PEN/ID`, so
//! nothing an exporter sends is dropped.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, MapArray, StringBuilder, StructArray};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields};

/// The trailing map column of a table, if it has one.
pub trait ExtraColumns: Default {
    /// Its field, last in the schema.
    fn field() -> Option<Field>;
    /// Its array for `rows` rows.
    fn finish(&mut self, rows: usize) -> Option<ArrayRef>;
}

/// A table without an `extra` column (its sources send nothing beyond its columns).
#[derive(Default)]
pub struct NoExtra;

impl ExtraColumns for NoExtra {
    fn field() -> Option<Field> {
        None
    }
    fn finish(&mut self, _rows: usize) -> Option<ArrayRef> {
        None
    }
}

impl ExtraColumns for ExtraColumn {
    fn field() -> Option<Field> {
        Some(Field::new("extra", extra_data_type(), false))
    }
    fn finish(&mut self, rows: usize) -> Option<ArrayRef> {
        Some(ExtraColumn::finish(self, rows))
    }
}

/// The `extra` map column. Most rows have no entries, so a row costs nothing until one
/// has: the offsets of the rows before it are filled in then, in bulk.
#[derive(Default)]
pub struct ExtraColumn {
    keys: StringBuilder,
    values: BinaryBuilder,
    /// Entry offsets of rows `0..offsets.len() - 1` (empty until the first entry).
    offsets: Vec<i32>,
}

impl ExtraColumn {
    /// Adds `row`'s entries (`row` counts rows appended before it).
    #[inline]
    pub(crate) fn push<'k, 'v>(
        &mut self,
        row: usize,
        entries: impl IntoIterator<Item = (&'k str, &'v [u8])>,
    ) {
        let mut entries = entries.into_iter().peekable();
        if entries.peek().is_none() {
            return;
        }
        self.pad(row);
        for (k, v) in entries {
            self.keys.append_value(k);
            self.values.append_value(v);
        }
        self.offsets.push(self.entries());
    }

    fn entries(&self) -> i32 {
        i32::try_from(arrow::array::ArrayBuilder::len(&self.keys)).unwrap_or(i32::MAX)
    }

    /// Offsets for the rows without entries up to `rows`.
    fn pad(&mut self, rows: usize) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let end = self.entries();
        self.offsets.resize(rows + 1, end);
    }

    fn finish(&mut self, rows: usize) -> ArrayRef {
        self.pad(rows);
        let offsets = OffsetBuffer::new(ScalarBuffer::from(std::mem::take(&mut self.offsets)));
        let keys: ArrayRef = Arc::new(self.keys.finish());
        let values: ArrayRef = Arc::new(self.values.finish());
        let entries = StructArray::new(extra_entry_fields(), vec![keys, values], None);
        Arc::new(MapArray::new(extra_entry_field(), offsets, entries, None, false))
    }
}

/// The `extra` map's entry fields: a `key` (`PEN/ID`) and the raw `value`.
fn extra_entry_fields() -> Fields {
    vec![Field::new("key", DataType::Utf8, false), Field::new("value", DataType::Binary, true)].into()
}

fn extra_entry_field() -> FieldRef {
    Arc::new(Field::new("entries", DataType::Struct(extra_entry_fields()), false))
}

pub(crate) fn extra_data_type() -> DataType {
    DataType::Map(extra_entry_field(), false)
}
