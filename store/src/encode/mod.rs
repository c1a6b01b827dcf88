//! Flush files encoded straight from Arrow buffers.
//!
//! A flush file is written once, read a few times and compacted away, so it wants the
//! cheapest valid Parquet: one PLAIN data page per batch and column, definition levels
//! taken from the Arrow validity bitmap (its bits are Parquet's bit-packed levels), and
//! values copied from the Arrow value buffers; a column holding one value throughout is a
//! one-entry dictionary instead. The parquet crate's general Arrow writer
//! spent most of the collector's store thread on per-value work this layout does not
//! need (decision 0006). Column chunks are spliced into a file through the crate's own
//! file writer, so footer, schema and the `ARROW:schema` hint stay the crate's.
//!
//! Flat columns (integers, timestamps, fixed-size binary, UTF-8) take this path; any
//! other column (the `extra` map) goes through the crate's Arrow column writer.
//!
//! The entry point is [`FileEncoder`]: it plans each field of the schema once and lays
//! the encoded chunks out as one row group. One column chunk is [`chunk`]; the bytes of
//! its data pages are [`page`], its one-entry dictionary [`dictionary`], its min/max
//! [`statistics`], and the page compression [`compress`].

mod chunk;
mod compress;
mod dictionary;
mod page;
mod statistics;
#[cfg(test)]
mod test_support;

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::{ColumnDescPtr, TypePtr};

use crate::codec::Codec;
use chunk::encode_chunk;
use compress::Compressor;
use page::Values;

/// What is done with one field of the schema.
enum Plan {
    /// Encoded here into the leaf column `desc`.
    Flat { desc: ColumnDescPtr, values: Values, stats: bool },
    /// Handed to the parquet crate's Arrow writer, set up for a one-field schema.
    Nested { writers: ArrowRowGroupWriterFactory, field: Arc<Field> },
}

/// Room for the footer and the nested columns beyond the flat chunks' bytes.
const FOOTER_ROOM: usize = 64 << 10;

/// Writes batches of one schema as single-row-group Parquet files.
pub struct FileEncoder {
    schema: SchemaRef,
    root: TypePtr,
    /// Footer settings (codec, `ARROW:schema`), and the settings of nested columns.
    props: WriterPropertiesPtr,
    plans: Vec<Plan>,
    codec: Codec,
}

impl FileEncoder {
    /// An encoder for `schema`; `stats(field)` says which flat columns get min/max
    /// statistics (nested columns get none).
    pub fn new(schema: SchemaRef, codec: Codec, stats: impl Fn(&Field) -> bool) -> Result<FileEncoder> {
        let descr = ArrowSchemaConverter::new().convert(&schema)?;
        let mut props = WriterProperties::builder()
            .set_compression(codec.parquet())
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_offset_index_disabled(true)
            .build();
        parquet::arrow::add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let props = Arc::new(props);
        let mut leaf = 0;
        let mut plans = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            match Values::of(f.data_type()) {
                Some(values) => {
                    plans.push(Plan::Flat { desc: descr.column(leaf), values, stats: stats(f) });
                    leaf += 1;
                }
                None => {
                    let one = Arc::new(Schema::new(vec![f.clone()]));
                    let parquet = ArrowSchemaConverter::new().convert(&one)?;
                    leaf += parquet.num_columns();
                    // The factory only reads the schema and settings off a file writer.
                    let probe =
                        SerializedFileWriter::new(std::io::sink(), parquet.root_schema_ptr(), props.clone())?;
                    let writers = ArrowRowGroupWriterFactory::new(&probe, one);
                    plans.push(Plan::Nested { writers, field: f.clone() });
                }
            }
        }
        Ok(FileEncoder { schema, root: descr.root_schema_ptr(), props, plans, codec })
    }

    /// Encodes `batches` (of this encoder's schema) as one file of one row group, one page
    /// per batch and column. The flat columns are encoded first, so the file's buffer is
    /// allocated once at about its final size instead of growing by copies.
    pub fn write(&self, batches: &[RecordBatch]) -> Result<Vec<u8>> {
        if let Some(b) = batches.iter().find(|b| !self.fits(b)) {
            return Err(ParquetError::General(format!(
                "batch schema {:?} is not the file's {:?}",
                b.schema(),
                self.schema
            )));
        }
        let chunks =
            if batches.iter().any(|b| b.num_rows() > 0) { self.encode_flat(batches)? } else { Vec::new() };
        let size: usize = chunks.iter().flatten().map(|(c, _)| c.len()).sum();
        let out = Vec::with_capacity(size + FOOTER_ROOM);
        let mut file = SerializedFileWriter::new(out, self.root.clone(), self.props.clone())?;
        if !chunks.is_empty() {
            let mut rg = file.next_row_group()?;
            for ((i, plan), chunk) in self.plans.iter().enumerate().zip(chunks) {
                match (plan, chunk) {
                    (_, Some((chunk, close))) => rg.append_column(&chunk, close)?,
                    (Plan::Nested { writers, field }, None) => {
                        let arrays = batches.iter().map(|b| b.column(i)).filter(|a| !a.is_empty());
                        write_nested(&mut rg, writers, field, arrays)?
                    }
                    (Plan::Flat { desc, .. }, None) => {
                        return Err(ParquetError::General(format!("column {} was not encoded", desc.name())));
                    }
                }
            }
            rg.close()?;
        }
        file.into_inner()
    }

    /// The encoded chunk of every flat column, in schema order (`None` for nested ones).
    fn encode_flat(&self, batches: &[RecordBatch]) -> Result<Vec<Option<(Bytes, ColumnCloseResult)>>> {
        // Filled chunks encoded so far: a column equal to an earlier one of the same kind
        // (unsampled `bytes` and `bytes_reported`) takes its encoded chunk instead of being
        // encoded and compressed again.
        let mut chunks: Vec<Option<(Bytes, ColumnCloseResult)>> = Vec::with_capacity(self.plans.len());
        let mut filled_columns: Vec<usize> = Vec::new();
        let mut compressor = Compressor::new(self.codec);
        for (i, plan) in self.plans.iter().enumerate() {
            let Plan::Flat { desc, values, stats } = plan else {
                chunks.push(None);
                continue;
            };
            // All-null chunks are a few bytes: not worth comparing.
            let filled = batches.iter().any(|b| b.column(i).null_count() < b.num_rows());
            let twin = filled_columns.iter().find(|&&j| self.same_chunk(batches, j, i));
            let chunk = match twin.and_then(|&j| chunks[j].as_ref()) {
                Some((chunk, close)) => (chunk.clone(), retarget(close, desc)?),
                None => {
                    let arrays = batches.iter().map(|b| b.column(i)).filter(|a| !a.is_empty());
                    encode_chunk(desc, *values, *stats, &mut compressor, arrays)?
                }
            };
            if filled {
                filled_columns.push(i);
            }
            chunks.push(Some(chunk));
        }
        Ok(chunks)
    }

    /// Whether a batch has this encoder's column types, in order (nullability is checked
    /// per chunk, where a null in a required column is an error).
    fn fits(&self, b: &RecordBatch) -> bool {
        let (have, want) = (b.schema_ref().fields(), self.schema.fields());
        have.len() == want.len() && have.iter().zip(want.iter()).all(|(h, w)| h.data_type() == w.data_type())
    }

    /// Whether flat columns `j` and `i` encode to the same bytes: same kind, levels and
    /// statistics setting, and equal arrays in every batch.
    fn same_chunk(&self, batches: &[RecordBatch], j: usize, i: usize) -> bool {
        let (Plan::Flat { desc: dj, values: vj, stats: sj }, Plan::Flat { desc: di, values: vi, stats: si }) =
            (&self.plans[j], &self.plans[i])
        else {
            return false;
        };
        vj == vi
            && sj == si
            && dj.max_def_level() == di.max_def_level()
            && dj.self_type().get_basic_info().logical_type_ref()
                == di.self_type().get_basic_info().logical_type_ref()
            && batches.iter().all(|b| b.column(j).as_ref() == b.column(i).as_ref())
    }
}

/// The close result of an encoded chunk, for column `desc` (a twin's chunk is the same
/// bytes under another column's name).
fn retarget(close: &ColumnCloseResult, desc: &ColumnDescPtr) -> Result<ColumnCloseResult> {
    let m = &close.metadata;
    let mut meta = ColumnChunkMetaData::builder(desc.clone())
        .set_encodings_mask(*m.encodings_mask())
        .set_compression_codec(m.compression_codec())
        .set_num_values(m.num_values())
        .set_total_compressed_size(m.compressed_size())
        .set_total_uncompressed_size(m.uncompressed_size())
        .set_dictionary_page_offset(m.dictionary_page_offset())
        .set_data_page_offset(m.data_page_offset());
    if let Some(s) = m.statistics() {
        meta = meta.set_statistics(s.clone());
    }
    Ok(ColumnCloseResult {
        bytes_written: close.bytes_written,
        rows_written: close.rows_written,
        metadata: meta.build()?,
        bloom_filter: None,
        column_index: None,
        offset_index: None,
    })
}

/// Writes a column the parquet crate's Arrow writer encodes (one chunk per leaf).
fn write_nested<'a, W: Write + Send>(
    rg: &mut SerializedRowGroupWriter<'_, W>,
    writers: &ArrowRowGroupWriterFactory,
    field: &Field,
    arrays: impl Iterator<Item = &'a ArrayRef>,
) -> Result<()> {
    let mut leaves = writers.create_column_writers(0)?;
    for a in arrays {
        for (w, leaf) in leaves.iter_mut().zip(compute_leaves(field, a)?) {
            w.write(&leaf)?;
        }
    }
    for w in leaves {
        w.close()?.append_to_row_group(rg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::test_support::batch;
    use super::test_support::round_trip;
    use super::*;
    use arrow::array::UInt64Array;
    use arrow::datatypes::DataType;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn equal_columns_share_an_encoding_and_read_back_under_their_own_names() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("bytes", DataType::UInt64, true),
            Field::new("bytes_reported", DataType::UInt64, true),
            Field::new("other", DataType::UInt64, true),
        ]));
        let v = |k: u64| {
            Arc::new(UInt64Array::from_iter((0..100).map(|i| (i % 9 != 0).then_some(i * k)))) as ArrayRef
        };
        let b = RecordBatch::try_new(schema.clone(), vec![v(3), v(3), v(5)]).unwrap();
        let (read, bytes) = round_trip(std::slice::from_ref(&b), Codec::Snappy);
        assert_eq!(read, b);
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let rg = file.metadata().row_group(0);
        assert_eq!(rg.column(1).column_path().string(), "bytes_reported");
        assert_eq!(rg.column(0).statistics(), rg.column(1).statistics());
        assert_ne!(rg.column(0).statistics(), rg.column(2).statistics());
    }

    #[test]
    fn a_batch_of_another_schema_is_an_error() {
        let b = batch(4, |_| false);
        let other = Arc::new(Schema::new(vec![Field::new("u8", DataType::UInt64, true)]));
        let enc = FileEncoder::new(other, Codec::None, |_| true).unwrap();
        assert!(enc.write(&[b]).is_err());
    }
}
