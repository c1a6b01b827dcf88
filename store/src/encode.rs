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

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowNativeType, DataType, Field, Schema, SchemaRef, TimeUnit, ToByteSlice, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use bytes::Bytes;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::Encoding;
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::{ByteArray, FixedLenByteArray};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::file::statistics::Statistics;
use parquet::file::writer::{
    SerializedFileWriter, SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite,
};
use parquet::schema::types::{ColumnDescPtr, TypePtr};

use super::writer::Codec;

/// How a flat Arrow column becomes PLAIN Parquet values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Values {
    /// `UInt8` stored as INT32.
    Widen8,
    /// `UInt16` stored as INT32.
    Widen16,
    /// `UInt32` as INT32 bits; statistics compare unsigned.
    U32,
    /// `UInt64` as INT64 bits; statistics compare unsigned.
    U64,
    /// `Int64` and microsecond timestamps.
    I64,
    /// `FixedSizeBinary(n)`.
    Fixed(usize),
    /// `Utf8`: a 4-byte length before each value.
    Utf8,
}

impl Values {
    fn of(t: &DataType) -> Option<Values> {
        Some(match t {
            DataType::UInt8 => Values::Widen8,
            DataType::UInt16 => Values::Widen16,
            DataType::UInt32 => Values::U32,
            DataType::UInt64 => Values::U64,
            DataType::Int64 | DataType::Timestamp(TimeUnit::Microsecond, _) => Values::I64,
            DataType::FixedSizeBinary(n) if *n > 0 => Values::Fixed(*n as usize),
            DataType::Utf8 => Values::Utf8,
            _ => return None,
        })
    }
}

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

/// Encodes one column chunk: one data page per array. A chunk whose valid values are all
/// one value (exporter, source kind, domain, sampling rate: about half of a softflowd
/// row's bytes) gets a one-entry dictionary and pages of a single RLE run, so the codec
/// does not churn through a repeated value.
fn encode_chunk<'a>(
    desc: &ColumnDescPtr,
    values: Values,
    want_stats: bool,
    compressor: &mut Compressor,
    arrays: impl Iterator<Item = &'a ArrayRef>,
) -> Result<(Bytes, ColumnCloseResult)> {
    let nullable = desc.max_def_level() > 0;
    let arrays: Vec<&ArrayRef> = arrays.collect();
    if let Some(a) = arrays.iter().find(|a| !nullable && a.null_count() > 0) {
        return Err(ParquetError::General(format!(
            "column {} is required but has {} nulls",
            desc.name(),
            a.null_count()
        )));
    }
    let room = arrays.iter().map(|a| PAGE_HEADER_ROOM + page_capacity(values, a.len())).sum();
    let mut sink = TrackedWrite::new(Vec::with_capacity(room));
    let mut pages = SerializedPageWriter::new(&mut sink);
    let mut stats = MinMax::default();
    let mut totals = PageTotals::default();
    let single = single_value(values, &arrays);
    if let Some(one) = &single {
        let mut dict = Vec::with_capacity(PAGE_HEADER_ROOM);
        put_values(values, one.as_ref(), &mut dict, want_stats.then_some(&mut stats));
        let raw_len = dict.len();
        let buf = compressor.compress(dict)?;
        let page = Page::DictionaryPage { buf, num_values: 1, encoding: Encoding::PLAIN, is_sorted: true };
        totals.add(pages.write_page(CompressedPage::new(page, raw_len))?);
        totals.data_offset = totals.compressed;
    }
    for a in &arrays {
        let mut page = Vec::with_capacity(page_capacity(values, a.len()));
        if nullable {
            put_levels(a.nulls(), a.len(), &mut page);
        }
        let encoding = if single.is_some() {
            put_single_indices(a.len() - a.null_count(), &mut page);
            Encoding::RLE_DICTIONARY
        } else {
            put_values(values, a.as_ref(), &mut page, want_stats.then_some(&mut stats));
            Encoding::PLAIN
        };
        let raw_len = page.len();
        let buf = compressor.compress(page)?;
        let page = Page::DataPage {
            buf,
            num_values: a.len() as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        totals.add(pages.write_page(CompressedPage::new(page, raw_len))?);
    }
    pages.close()?;
    let rows = arrays.iter().map(|a| a.len() as u64).sum::<u64>();
    let nulls = arrays.iter().map(|a| a.null_count() as u64).sum::<u64>();
    let mut encodings = vec![Encoding::PLAIN];
    if nullable {
        encodings.push(Encoding::RLE);
    }
    if single.is_some() {
        encodings.push(Encoding::RLE_DICTIONARY);
    }
    let mut meta = ColumnChunkMetaData::builder(desc.clone())
        .set_encodings(encodings)
        .set_compression(compressor.codec.parquet())
        .set_num_values(rows as i64)
        .set_total_compressed_size(totals.compressed as i64)
        .set_total_uncompressed_size(totals.uncompressed as i64)
        .set_dictionary_page_offset(single.is_some().then_some(0))
        .set_data_page_offset(totals.data_offset as i64);
    if want_stats {
        meta = meta.set_statistics(stats.into_statistics(values, nulls));
    }
    let chunk = Bytes::from(sink.into_inner()?);
    let close = ColumnCloseResult {
        bytes_written: chunk.len() as u64,
        rows_written: rows,
        metadata: meta.build()?,
        bloom_filter: None,
        column_index: None,
        offset_index: None,
    };
    Ok((chunk, close))
}

/// Page bytes written into a chunk so far, and where its first data page starts.
#[derive(Default)]
struct PageTotals {
    compressed: u64,
    uncompressed: u64,
    data_offset: u64,
}

impl PageTotals {
    fn add(&mut self, spec: parquet::column::page::PageWriteSpec) {
        self.compressed += spec.compressed_size as u64;
        self.uncompressed += spec.uncompressed_size as u64;
    }
}

/// The dictionary indices of a page whose `valid` values are all entry 0: a bit width of
/// 1 and one RLE run of zeros (none for a page of nulls only).
fn put_single_indices(valid: usize, out: &mut Vec<u8>) {
    out.push(1);
    if valid > 0 {
        put_rle_run(valid, 0, out);
    }
}

/// The chunk's only value, as a one-row array, when every valid value of every array is
/// that one value (`None` when there are two or more, or none).
fn single_value(values: Values, arrays: &[&ArrayRef]) -> Option<ArrayRef> {
    let (first, at) = arrays.iter().find_map(|a| Some((*a, first_valid(a.as_ref())?)))?;
    let one = first.slice(at, 1);
    arrays.iter().all(|a| all_equal(values, a.as_ref(), one.as_ref())).then_some(one)
}

fn first_valid(a: &dyn Array) -> Option<usize> {
    match a.nulls() {
        Some(n) => n.valid_indices().next(),
        None => (!a.is_empty()).then_some(0),
    }
}

/// Whether every valid value of `a` equals the value of the one-row array `one`. Stops at
/// the first difference, so a varying column costs a few comparisons.
fn all_equal(values: Values, a: &dyn Array, one: &dyn Array) -> bool {
    fn ints<T: ArrowNativeType>(v: &[T], x: T, ranges: &[(usize, usize)]) -> bool {
        ranges.iter().all(|&(s, e)| v[s..e].iter().all(|&y| y == x))
    }
    let ranges = valid_ranges(a);
    match values {
        Values::Widen8 => {
            ints(a.as_primitive::<UInt8Type>().values(), one.as_primitive::<UInt8Type>().value(0), &ranges)
        }
        Values::Widen16 => {
            ints(a.as_primitive::<UInt16Type>().values(), one.as_primitive::<UInt16Type>().value(0), &ranges)
        }
        Values::U32 => {
            ints(a.as_primitive::<UInt32Type>().values(), one.as_primitive::<UInt32Type>().value(0), &ranges)
        }
        Values::U64 => {
            ints(a.as_primitive::<UInt64Type>().values(), one.as_primitive::<UInt64Type>().value(0), &ranges)
        }
        Values::I64 => {
            let (data, one) = (a.to_data(), one.to_data());
            ints(&data.buffer::<i64>(0)[..a.len()], one.buffer::<i64>(0)[0], &ranges)
        }
        Values::Fixed(n) => {
            let (data, x) = (a.as_fixed_size_binary().value_data(), one.as_fixed_size_binary().value(0));
            if let Ok(x) = <[u8; 16]>::try_from(x) {
                let x = u128::from_ne_bytes(x);
                let key = |v: &[u8]| <[u8; 16]>::try_from(v).map(u128::from_ne_bytes).ok();
                ranges.iter().all(|&(s, e)| data[s * n..e * n].chunks_exact(n).all(|v| key(v) == Some(x)))
            } else {
                ranges.iter().all(|&(s, e)| data[s * n..e * n].chunks_exact(n).all(|v| v == x))
            }
        }
        Values::Utf8 => {
            let (s, x) = (a.as_string::<i32>(), one.as_string::<i32>().value(0));
            ranges.iter().all(|&(b, e)| (b..e).all(|i| s.value(i) == x))
        }
    }
}

/// Bytes a page header takes at most (Thrift-encoded, without statistics).
const PAGE_HEADER_ROOM: usize = 64;

/// An upper bound of a page's PLAIN bytes (Snappy and LZ4 may add a few per cent, when
/// the buffer grows once).
fn page_capacity(values: Values, rows: usize) -> usize {
    let per_row = match values {
        Values::Widen8 | Values::Widen16 | Values::U32 => 4,
        Values::U64 | Values::I64 => 8,
        Values::Fixed(n) => n,
        Values::Utf8 => 12,
    };
    16 + rows / 8 + rows * per_row
}

/// Definition levels of a flat nullable column (max level 1) in the RLE/bit-packed
/// hybrid, after their 4-byte length: one RLE run when the page is all valid or all null,
/// otherwise the validity bitmap itself as one bit-packed run (both are LSB-first).
fn put_levels(nulls: Option<&NullBuffer>, len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    match nulls {
        Some(n) if n.null_count() == len => put_rle_run(len, 0, out),
        Some(n) if n.null_count() > 0 => {
            let groups = len.div_ceil(8);
            put_varint(((groups as u64) << 1) | 1, out);
            let bits = n.inner().sliced();
            out.extend_from_slice(&bits.as_slice()[..groups]);
        }
        _ => put_rle_run(len, 1, out),
    }
    let levels = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&levels.to_le_bytes());
}

fn put_rle_run(len: usize, level: u8, out: &mut Vec<u8>) {
    put_varint((len as u64) << 1, out);
    out.push(level);
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Index ranges of the valid values (Parquet stores only those).
fn valid_ranges(a: &dyn Array) -> Vec<(usize, usize)> {
    match a.nulls() {
        None => vec![(0, a.len())],
        Some(n) if n.null_count() == 0 => vec![(0, a.len())],
        Some(n) => n.inner().set_slices().collect(),
    }
}

/// Appends the PLAIN values of `a` and widens the running min/max.
fn put_values(values: Values, a: &dyn Array, out: &mut Vec<u8>, stats: Option<&mut MinMax>) {
    let ranges = valid_ranges(a);
    match values {
        Values::Widen8 => put_ints(a.as_primitive::<UInt8Type>().values(), &ranges, out, stats, widen),
        Values::Widen16 => put_ints(a.as_primitive::<UInt16Type>().values(), &ranges, out, stats, widen),
        Values::U32 => put_ints(a.as_primitive::<UInt32Type>().values(), &ranges, out, stats, put_le),
        Values::U64 => put_ints(a.as_primitive::<UInt64Type>().values(), &ranges, out, stats, put_le),
        Values::I64 => put_ints(&a.to_data().buffer::<i64>(0)[..a.len()], &ranges, out, stats, put_le),
        Values::Fixed(n) => {
            let data = a.as_fixed_size_binary().value_data();
            for &(s, e) in &ranges {
                out.extend_from_slice(&data[s * n..e * n]);
            }
            if let Some(m) = stats {
                ranges.iter().for_each(|&(s, e)| m.fixed(&data[s * n..e * n], n));
            }
        }
        Values::Utf8 => {
            let s = a.as_string::<i32>();
            let (offsets, data) = (s.value_offsets(), s.value_data());
            let value = |i: usize| &data[offsets[i] as usize..offsets[i + 1] as usize];
            for &(start, end) in &ranges {
                for i in start..end {
                    let v = value(i);
                    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    out.extend_from_slice(v);
                }
            }
            if let Some(m) = stats {
                ranges.iter().for_each(|&(s, e)| m.bytes((s..e).map(value)));
            }
        }
    }
}

/// Appends integer values with `put` and folds each valid run into the min/max.
fn put_ints<T: Copy + Ord + Into<i128>>(
    v: &[T],
    ranges: &[(usize, usize)],
    out: &mut Vec<u8>,
    stats: Option<&mut MinMax>,
    put: fn(&[T], &mut Vec<u8>),
) {
    for &(s, e) in ranges {
        put(&v[s..e], out);
    }
    if let Some(m) = stats {
        for &(s, e) in ranges {
            if let (Some(&lo), Some(&hi)) = (v[s..e].iter().min(), v[s..e].iter().max()) {
                m.ints(lo.into(), hi.into());
            }
        }
    }
}

/// Copies native values as Parquet's little-endian PLAIN.
fn put_le<T: ArrowNativeType + ToLe>(v: &[T], out: &mut Vec<u8>) {
    if cfg!(target_endian = "little") {
        out.extend_from_slice(v.to_byte_slice());
    } else {
        v.iter().for_each(|x| x.put_le(out));
    }
}

/// Widens small unsigned values to Parquet's INT32.
fn widen<T: Copy + Into<u32>>(v: &[T], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + v.len() * 4, 0);
    for (dst, &x) in out[start..].chunks_exact_mut(4).zip(v) {
        dst.copy_from_slice(&x.into().to_le_bytes());
    }
}

trait ToLe {
    fn put_le(&self, out: &mut Vec<u8>);
}

macro_rules! to_le {
    ($($t:ty),*) => {$(
        impl ToLe for $t {
            fn put_le(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
to_le!(u32, u64, i64);

/// Running min and max of a column chunk: integers as `i128` (so unsigned 64-bit values
/// order correctly), byte strings unsigned-lexicographically (Parquet's order for both).
#[derive(Default)]
struct MinMax {
    ints: Option<(i128, i128)>,
    bytes: Option<(Vec<u8>, Vec<u8>)>,
}

impl MinMax {
    fn ints(&mut self, lo: i128, hi: i128) {
        self.ints = Some(match self.ints {
            Some((l, h)) => (l.min(lo), h.max(hi)),
            None => (lo, hi),
        });
    }

    /// Folds in values of `n` bytes each. Up to 16 bytes they compare as big-endian
    /// integers (zero-padded on the right, which keeps the byte order of equal-length
    /// values): a compare per address instead of a `memcmp` call.
    fn fixed(&mut self, data: &[u8], n: usize) {
        if n > 16 {
            return self.bytes(data.chunks_exact(n));
        }
        let key = |v: &[u8]| {
            let mut k = [0u8; 16];
            k[..n].copy_from_slice(v);
            u128::from_be_bytes(k)
        };
        let mut values = data.chunks_exact(n);
        let Some(first) = values.next() else { return };
        let (mut lo, mut hi) = ((key(first), first), (key(first), first));
        for v in values {
            let k = key(v);
            if k < lo.0 {
                lo = (k, v);
            } else if k > hi.0 {
                hi = (k, v);
            }
        }
        self.bytes([lo.1, hi.1].into_iter());
    }

    fn bytes<'a>(&mut self, v: impl Iterator<Item = &'a [u8]>) {
        for x in v {
            match &mut self.bytes {
                Some((lo, hi)) => {
                    if x < lo.as_slice() {
                        *lo = x.to_vec();
                    } else if x > hi.as_slice() {
                        *hi = x.to_vec();
                    }
                }
                None => self.bytes = Some((x.to_vec(), x.to_vec())),
            }
        }
    }

    /// The statistics of a chunk; integers keep their stored (two's-complement) bits.
    fn into_statistics(self, values: Values, nulls: u64) -> Statistics {
        let (lo, hi) = (self.ints.map(|m| m.0), self.ints.map(|m| m.1));
        let (blo, bhi) = match self.bytes {
            Some((l, h)) => (Some(l), Some(h)),
            None => (None, None),
        };
        match values {
            Values::Widen8 | Values::Widen16 | Values::U32 => Statistics::int32(
                lo.map(|v| v as u32 as i32),
                hi.map(|v| v as u32 as i32),
                None,
                Some(nulls),
                false,
            ),
            Values::U64 | Values::I64 => {
                Statistics::int64(lo.map(|v| v as i64), hi.map(|v| v as i64), None, Some(nulls), false)
            }
            Values::Fixed(_) => Statistics::fixed_len_byte_array(
                blo.map(|v| FixedLenByteArray::from(ByteArray::from(v))),
                bhi.map(|v| FixedLenByteArray::from(ByteArray::from(v))),
                None,
                Some(nulls),
                false,
            ),
            Values::Utf8 => Statistics::byte_array(
                blo.map(ByteArray::from),
                bhi.map(ByteArray::from),
                None,
                Some(nulls),
                false,
            ),
        }
    }
}

/// Compresses pages with the file's codec (Parquet's SNAPPY and LZ4_RAW are the raw block
/// formats, ZSTD the frame format).
struct Compressor {
    codec: Codec,
    snappy: snap::raw::Encoder,
    /// Output buffer reused across the pages of a file: zeroing a fresh worst-case buffer
    /// per page cost more than copying the compressed bytes out.
    scratch: Vec<u8>,
}

impl Compressor {
    fn new(codec: Codec) -> Compressor {
        Compressor { codec, snappy: snap::raw::Encoder::new(), scratch: Vec::new() }
    }

    fn compress(&mut self, page: Vec<u8>) -> Result<Bytes> {
        let out = match self.codec {
            Codec::None => page,
            Codec::Snappy => {
                let max = snap::raw::max_compress_len(page.len());
                if self.scratch.len() < max {
                    self.scratch.resize(max, 0);
                }
                let n = self.snappy.compress(&page, &mut self.scratch);
                self.scratch[..n.map_err(|e| ParquetError::External(Box::new(e)))?].to_vec()
            }
            Codec::Lz4 => lz4_flex::block::compress(&page),
            Codec::Zstd(level) => {
                zstd::bulk::compress(&page, level).map_err(|e| ParquetError::External(Box::new(e)))?
            }
        };
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        BinaryBuilder, FixedSizeBinaryArray, MapBuilder, StringArray, StringBuilder,
        TimestampMicrosecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
    };
    use arrow::compute::concat_batches;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// Rows `n` of every flat kind, with nulls placed by `null(i)`, plus a map column.
    fn batch(n: usize, null: impl Fn(usize) -> bool) -> RecordBatch {
        batch_of(n, null, |i| i)
    }

    /// Like [`batch`], with row i's flat values made from `value(i)`.
    fn batch_of(n: usize, null: impl Fn(usize) -> bool, value: impl Fn(usize) -> usize) -> RecordBatch {
        fn some<T>(null: bool, v: T) -> Option<T> {
            (!null).then_some(v)
        }
        let (null, i) = (&null, &value);
        let mut map = MapBuilder::new(None, StringBuilder::new(), BinaryBuilder::new());
        for i in 0..n {
            if i % 3 == 0 {
                map.keys().append_value("6876/950");
                map.values().append_value([i as u8]);
            }
            map.append(true).unwrap();
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt8Array::from_iter((0..n).map(|r| some(null(r), i(r) as u8)))),
            Arc::new(UInt16Array::from_iter((0..n).map(|r| some(null(r), 60_000 + i(r) as u16)))),
            Arc::new(UInt32Array::from_iter((0..n).map(|r| some(null(r), u32::MAX - i(r) as u32)))),
            Arc::new(UInt64Array::from_iter((0..n).map(|r| some(null(r), u64::MAX - 7 * i(r) as u64)))),
            Arc::new(UInt64Array::from_iter_values((0..n).map(|r| i(r) as u64))),
            Arc::new(
                TimestampMicrosecondArray::from_iter(
                    (0..n).map(|r| some(null(r), 1_700_000_000_000_000 - i(r) as i64)),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    (0..n).map(|r| some(null(r), [i(r) as u8; 16])),
                    16,
                )
                .unwrap(),
            ),
            Arc::new(StringArray::from_iter((0..n).map(|r| some(null(r), ["vxlan", "gre", ""][i(r) % 3])))),
            Arc::new(map.finish()),
        ];
        let fields: Vec<Field> = ["u8", "u16", "u32", "u64", "required", "ts", "addr", "label", "extra"]
            .iter()
            .zip(&columns)
            .map(|(name, c)| {
                Field::new(*name, c.data_type().clone(), *name != "required" && *name != "extra")
            })
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn round_trip(batches: &[RecordBatch], codec: Codec) -> (RecordBatch, Vec<u8>) {
        let schema = batches[0].schema();
        let bytes = FileEncoder::new(schema.clone(), codec, |_| true).unwrap().write(batches).unwrap();
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes.clone())).unwrap().build().unwrap();
        let read: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        (concat_batches(&schema, &read).unwrap(), bytes)
    }

    #[test]
    fn every_flat_kind_reads_back_as_written_with_every_codec() {
        let all_valid = batch(100, |_| false);
        let all_null = batch(50, |_| true);
        let mixed = batch(300, |i| i % 7 == 3 || (100..140).contains(&i));
        // Slices whose validity bitmap starts mid-byte.
        let sliced = mixed.slice(3, 200);
        let batches = [all_valid, all_null, sliced, mixed];
        let expected = concat_batches(&batches[0].schema(), &batches).unwrap();
        for codec in [Codec::None, Codec::Snappy, Codec::Lz4, Codec::Zstd(1)] {
            let (read, _) = round_trip(&batches, codec);
            assert_eq!(read, expected, "{codec:?}");
        }
    }

    #[test]
    fn a_column_of_one_value_is_a_one_entry_dictionary_and_reads_back() {
        let one = |n, null: fn(usize) -> bool| batch_of(n, null, |_| 4);
        let mixed = one(300, |i| i % 7 == 3);
        let batches = [one(100, |_| false), one(50, |_| true), mixed.slice(3, 200), mixed];
        let expected = concat_batches(&batches[0].schema(), &batches).unwrap();
        for codec in [Codec::None, Codec::Snappy, Codec::Lz4, Codec::Zstd(1)] {
            let (read, bytes) = round_trip(&batches, codec);
            assert_eq!(read, expected, "{codec:?}");
            let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
            let rg = file.metadata().row_group(0);
            for c in 0..8 {
                let col = rg.column(c);
                assert!(col.dictionary_page_offset().is_some(), "{}", col.column_path());
                let stats = col.statistics().unwrap();
                assert_eq!(stats.min_bytes_opt(), stats.max_bytes_opt(), "{}", col.column_path());
            }
        }
        // A second value anywhere (here in the last batch) keeps the chunk PLAIN.
        let two = [one(100, |_| false), batch_of(10, |_| false, |r| 4 + r / 9)];
        let (read, bytes) = round_trip(&two, Codec::Lz4);
        assert_eq!(read, concat_batches(&two[0].schema(), &two).unwrap());
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        assert!(
            file.metadata().row_group(0).columns()[..8].iter().all(|c| c.dictionary_page_offset().is_none())
        );
    }

    #[test]
    fn statistics_order_unsigned_values_as_unsigned() {
        let b = batch(10, |i| i == 0);
        let (_, bytes) = round_trip(std::slice::from_ref(&b), Codec::Snappy);
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let rg = file.metadata().row_group(0);
        let stats = |i: usize| rg.column(i).statistics().unwrap().clone();
        match stats(2) {
            Statistics::Int32(s) => {
                assert_eq!(*s.min_opt().unwrap() as u32, u32::MAX - 9);
                assert_eq!(*s.max_opt().unwrap() as u32, u32::MAX - 1, "row 0 is null");
            }
            other => panic!("u32 stored as {other:?}"),
        }
        match stats(3) {
            Statistics::Int64(s) => assert_eq!(*s.max_opt().unwrap() as u64, u64::MAX - 7),
            other => panic!("u64 stored as {other:?}"),
        }
        assert_eq!(stats(6).null_count_opt(), Some(1));
        assert_eq!(stats(7).min_bytes_opt(), Some(&b""[..]));
        assert_eq!(stats(7).max_bytes_opt(), Some(&b"vxlan"[..]));
    }

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
    fn columns_without_statistics_say_so() {
        let b = batch(10, |_| false);
        let bytes = FileEncoder::new(b.schema(), Codec::None, |f| f.name() != "addr")
            .unwrap()
            .write(std::slice::from_ref(&b))
            .unwrap();
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let rg = file.metadata().row_group(0);
        assert!(rg.column(6).statistics().is_none());
        assert!(rg.column(5).statistics().is_some());
    }

    #[test]
    fn a_batch_of_another_schema_is_an_error() {
        let b = batch(4, |_| false);
        let other = Arc::new(Schema::new(vec![Field::new("u8", DataType::UInt64, true)]));
        let enc = FileEncoder::new(other, Codec::None, |_| true).unwrap();
        assert!(enc.write(&[b]).is_err());
    }

    #[test]
    fn a_required_column_with_nulls_is_an_error_not_a_corrupt_file() {
        let schema = Arc::new(Schema::new(vec![Field::new("required", DataType::UInt64, false)]));
        let nullable = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("required", DataType::UInt64, true)])),
            vec![Arc::new(UInt64Array::from(vec![Some(1), None])) as ArrayRef],
        )
        .unwrap();
        let enc = FileEncoder::new(schema, Codec::None, |_| true).unwrap();
        assert!(enc.write(&[nullable]).is_err());
    }
}
