//! Query results as users read them: addresses and MACs as text, and tables, CSV or JSON
//! (one object per row).

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, FixedSizeBinaryArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use plumb_collector::addr::{ADDR_LEN, MAC_LEN};

use super::udf::format_fixed;

/// Output formats of `plumb query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Replaces address and MAC columns by their text, so every writer shows them as text.
pub fn readable(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        match f.data_type() {
            DataType::FixedSizeBinary(w) if *w as usize == ADDR_LEN || *w as usize == MAC_LEN => {
                let a = c
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                    .ok_or_else(|| ArrowError::CastError("fixed-size column of unexpected type".into()))?;
                cols.push(Arc::new(format_fixed(a, *w as usize)));
                fields.push(Field::new(f.name(), DataType::Utf8, true));
            }
            _ => {
                cols.push(c.clone());
                fields.push(f.as_ref().clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

/// Turns columns CSV cannot hold (maps, lists, structs, binary) into their display text.
fn csv_safe(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let opts = FormatOptions::default().with_null("");
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if f.data_type().is_nested()
            || matches!(
                f.data_type(),
                DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(_)
            )
        {
            let fmt = ArrayFormatter::try_new(c.as_ref(), &opts)?;
            let mut b = StringBuilder::new();
            for i in 0..c.len() {
                if c.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(fmt.value(i).to_string());
                }
            }
            cols.push(Arc::new(b.finish()));
            fields.push(Field::new(f.name(), DataType::Utf8, true));
        } else {
            cols.push(c.clone());
            fields.push(f.as_ref().clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

/// Writes batches (already [`readable`]) in `format`.
pub fn write(out: &mut impl Write, batches: &[RecordBatch], format: Format) -> Result<(), ArrowError> {
    match format {
        Format::Table => {
            writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            for b in batches {
                w.write(&csv_safe(b)?)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(&csv_safe(b)?)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
