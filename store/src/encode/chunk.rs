//! One column chunk of a flush file: its pages (a one-entry dictionary first when the
//! chunk holds a single value, then one data page per batch) written through the parquet
//! crate's page writer, so page headers stay the crate's, and the chunk's metadata for the
//! footer. Which bytes go into a page is [`super::page`]; the chunk adds the framing.

use arrow::array::{Array, ArrayRef};
use bytes::Bytes;
use parquet::basic::Encoding;
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::compress::Compressor;
use super::dictionary::{put_single_indices, single_value};
use super::page::{Values, page_capacity, put_levels, put_values};
use super::statistics::MinMax;

/// Encodes one column chunk: one data page per array. A chunk whose valid values are all
/// one value (exporter, source kind, domain, sampling rate: about half of a softflowd
/// row's bytes) gets a one-entry dictionary and pages of a single RLE run, so the codec
/// does not churn through a repeated value.
pub(super) fn encode_chunk<'a>(
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

/// Bytes a page header takes at most (Thrift-encoded, without statistics).
const PAGE_HEADER_ROOM: usize = 64;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use crate::codec::Codec;
    use crate::encode::FileEncoder;

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
