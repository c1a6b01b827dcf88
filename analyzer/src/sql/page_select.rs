//! The rows of a Parquet file an address filter keeps, found from its page index.
//!
//! In a file sorted by an address (compacted `flows` files lead with `src_addr`), the rows
//! inside a range are one run per row group: every page the statistics put wholly inside is
//! kept unread, every page wholly outside is skipped, and only the one or two pages where
//! the run starts and ends are read and compared row by row. The result is exact, so the
//! scan need not read the address column at all to filter.
//!
//! Nothing here trusts the sort: a page whose statistics neither keep nor skip it is always
//! compared. The sort only makes such pages few; where they are many (an unsorted file,
//! every page spans the key space) [`access_plan`] says so and the caller filters rows.

// Row runs are `Vec<Range<usize>>`; a run list of one range is meant, not a range's items.
#![allow(clippy::single_range_in_vec_init)]

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, FixedSizeBinaryArray};
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;

use super::addr_ranges::{AddrRanges, key};

/// One address column and the keys a filter keeps of it.
#[derive(Clone, Debug)]
pub struct KeyFilter {
    pub column: String,
    pub keep: AddrRanges,
}

/// Which rows of each row group in the file at `path`, whose footer and page index are
/// `meta`, every filter keeps; `None` when some row group has more pages to compare than a
/// sorted file would (or no page index), so the rows are better filtered one by one.
pub fn access_plan(
    path: &Path,
    meta: &Arc<ParquetMetaData>,
    filters: &[KeyFilter],
) -> Result<Option<ParquetAccessPlan>> {
    let file = File::open(path)?;
    let meta = &meta.clone();
    let mut plan = ParquetAccessPlan::new_all(meta.num_row_groups());
    for rg in 0..meta.num_row_groups() {
        let rows = row_count(meta, rg)?;
        let mut kept = vec![0..rows];
        for f in filters {
            // A column the file lacks reads as nulls, which no range keeps.
            let Some(leaf) = leaf_index(meta, &f.column) else {
                kept.clear();
                break;
            };
            let Some(runs) = row_group_runs(&file, meta, rg, leaf, &f.keep)? else { return Ok(None) };
            kept = intersect(&kept, &runs);
            if kept.is_empty() {
                break;
            }
        }
        plan.set(rg, access(&kept, rows));
    }
    Ok(Some(plan))
}

fn row_count(meta: &ParquetMetaData, rg: usize) -> Result<usize> {
    usize::try_from(meta.row_group(rg).num_rows())
        .map_err(|_| DataFusionError::Execution(format!("row group {rg} has a negative row count")))
}

fn leaf_index(meta: &ParquetMetaData, column: &str) -> Option<usize> {
    let schema = meta.file_metadata().schema_descr();
    schema.columns().iter().position(|c| c.path().parts() == [column])
}

/// The kept rows of one row group as sorted, disjoint runs; `None` if too many pages would
/// have to be compared.
fn row_group_runs(
    file: &File,
    meta: &Arc<ParquetMetaData>,
    rg: usize,
    leaf: usize,
    keep: &AddrRanges,
) -> Result<Option<Vec<Range<usize>>>> {
    let rows = row_count(meta, rg)?;
    if let Some(s) = meta.row_group(rg).column(leaf).statistics() {
        let nulls = s.null_count_opt();
        if nulls == Some(rows as u64) {
            return Ok(Some(Vec::new()));
        }
        if let (Some(lo), Some(hi)) = (s.min_bytes_opt().and_then(key), s.max_bytes_opt().and_then(key)) {
            if !keep.overlaps(lo, hi) {
                return Ok(Some(Vec::new()));
            }
            if keep.covers(lo, hi) && nulls == Some(0) {
                return Ok(Some(vec![0..rows]));
            }
        }
    }
    let index = meta.column_index().and_then(|i| i.get(rg)?.get(leaf));
    let offsets = meta.offset_index().and_then(|i| i.get(rg)?.get(leaf));
    let (Some(index @ ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(values)), Some(offsets)) = (index, offsets)
    else {
        return Ok(None);
    };
    let pages = offsets.page_locations();
    let (mut runs, mut to_compare) = (Vec::new(), Vec::new());
    for (p, loc) in pages.iter().enumerate() {
        let start = usize::try_from(loc.first_row_index).unwrap_or(usize::MAX);
        let end = pages.get(p + 1).map_or(Ok(rows), |n| usize::try_from(n.first_row_index)).unwrap_or(0);
        if start > end || end > rows {
            return Ok(None);
        }
        if index.is_null_page(p) {
            continue;
        }
        match (values.min_value(p).and_then(key), values.max_value(p).and_then(key)) {
            (Some(lo), Some(hi)) if !keep.overlaps(lo, hi) => {}
            (Some(lo), Some(hi)) if keep.covers(lo, hi) && index.null_count(p) == Some(0) => {
                push_run(&mut runs, start..end)
            }
            _ => to_compare.push(start..end),
        }
    }
    // A sorted row group has at most two boundary pages per range.
    if to_compare.len() > 2 * keep.ranges().len() + 2 {
        return Ok(None);
    }
    if !to_compare.is_empty() {
        let exact = compare_rows(file, meta, rg, leaf, &to_compare, keep)?;
        runs = union(&runs, &exact);
    }
    Ok(Some(runs))
}

/// Reads the `pages` of one column chunk and keeps the rows whose key is in `keep`.
fn compare_rows(
    file: &File,
    meta: &Arc<ParquetMetaData>,
    rg: usize,
    leaf: usize,
    pages: &[Range<usize>],
    keep: &AddrRanges,
) -> Result<Vec<Range<usize>>> {
    let rows = row_count(meta, rg)?;
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
        file.try_clone()?,
        ArrowReaderMetadata::try_new(Arc::clone(meta), options)?,
    )
    .with_projection(ProjectionMask::leaves(meta.file_metadata().schema_descr(), [leaf]))
    .with_row_groups(vec![rg])
    .with_row_selection(selection(pages, rows))
    .build()?;
    let mut positions = pages.iter().flat_map(Clone::clone);
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        let Some(col) = batch.column(0).as_any().downcast_ref::<FixedSizeBinaryArray>() else {
            return Err(DataFusionError::Execution(format!(
                "column {leaf} is {} in the file, not a 16-byte address",
                batch.column(0).data_type()
            )));
        };
        for i in 0..col.len() {
            let Some(row) = positions.next() else {
                return Err(DataFusionError::Execution("the reader returned more rows than selected".into()));
            };
            if col.is_valid(i) && key(col.value(i)).is_some_and(|k| keep.contains(k)) {
                push_run(&mut out, row..row + 1);
            }
        }
    }
    Ok(out)
}

fn push_run(runs: &mut Vec<Range<usize>>, r: Range<usize>) {
    match runs.last_mut() {
        Some(last) if last.end == r.start => last.end = r.end,
        _ if r.is_empty() => {}
        _ => runs.push(r),
    }
}

fn union(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut all: Vec<Range<usize>> = a.iter().chain(b).cloned().collect();
    all.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(all.len());
    for r in all {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => push_run(&mut out, r),
        }
    }
    out
}

fn intersect(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let r = a[i].start.max(b[j].start)..a[i].end.min(b[j].end);
        push_run(&mut out, r);
        if a[i].end < b[j].end { i += 1 } else { j += 1 }
    }
    out
}

/// Skip/select runs over all `rows` of a row group.
fn selection(runs: &[Range<usize>], rows: usize) -> RowSelection {
    let mut selectors = Vec::with_capacity(2 * runs.len() + 1);
    let mut at = 0;
    for r in runs {
        if r.start > at {
            selectors.push(RowSelector::skip(r.start - at));
        }
        selectors.push(RowSelector::select(r.len()));
        at = r.end;
    }
    if rows > at {
        selectors.push(RowSelector::skip(rows - at));
    }
    RowSelection::from(selectors)
}

fn access(kept: &[Range<usize>], rows: usize) -> RowGroupAccess {
    match kept {
        [] => RowGroupAccess::Skip,
        [only] if *only == (0..rows) => RowGroupAccess::Scan,
        _ => RowGroupAccess::Selection(selection(kept, rows)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{RecordBatch, UInt64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::metadata::ParquetMetaDataReader;
    use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

    /// A file of `keys` (None = null) in row groups of 1000 rows and pages of 100.
    fn write(path: &Path, keys: &[Option<u128>]) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("src_addr", DataType::FixedSizeBinary(16), true),
            Field::new("n", DataType::UInt64, false),
        ]));
        let addrs = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
            keys.iter().map(|k| k.map(|k| k.to_be_bytes())),
            16,
        )
        .unwrap();
        let n = UInt64Array::from_iter_values(0..keys.len() as u64);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(addrs), Arc::new(n)]).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(10)
            .set_statistics_enabled(EnabledStatistics::Page)
            .build();
        let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    fn plan(path: &Path, keep: AddrRanges) -> Option<ParquetAccessPlan> {
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&File::open(path).unwrap())
            .unwrap();
        let filters = [KeyFilter { column: "src_addr".into(), keep }];
        access_plan(path, &Arc::new(meta), &filters).unwrap()
    }

    /// The rows a plan selects, over row groups of 1000 rows.
    fn selected(plan: &ParquetAccessPlan, rows: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for (rg, access) in plan.inner().iter().enumerate() {
            let base = rg * 1000;
            let len = (rows - base).min(1000);
            match access {
                RowGroupAccess::Skip => {}
                RowGroupAccess::Scan => out.extend(base..base + len),
                RowGroupAccess::Selection(s) => {
                    let mut at = base;
                    for sel in s.iter() {
                        if !sel.skip {
                            out.extend(at..at + sel.row_count);
                        }
                        at += sel.row_count;
                    }
                    assert_eq!(at, base + len, "a selection covers its whole row group");
                }
            }
        }
        out
    }

    #[test]
    fn a_sorted_file_gives_exactly_the_rows_in_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sorted.parquet");
        // 3500 rows: 50 nulls first (nulls sort first), then runs of 7 equal keys.
        let keys: Vec<Option<u128>> =
            (0..3500u128).map(|i| if i < 50 { None } else { Some(1000 + (i - 50) / 7) }).collect();
        write(&path, &keys);
        let cases = [
            AddrRanges::between(1100, 1200),
            AddrRanges::between(1000, 1000),
            AddrRanges::between(1200, 1200).union(&AddrRanges::between(1400, 1460)),
            AddrRanges::between(0, u128::MAX),
            AddrRanges::between(1493, 1493),
            AddrRanges::between(5000, 6000),
            AddrRanges::between(0, 999),
        ];
        for keep in cases {
            let p = plan(&path, keep.clone()).expect("a sorted file resolves");
            let want: Vec<usize> =
                (0..keys.len()).filter(|&i| keys[i].is_some_and(|k| keep.contains(k))).collect();
            assert_eq!(selected(&p, keys.len()), want, "{keep:?}");
        }
    }

    #[test]
    fn an_unsorted_file_is_left_to_the_row_filter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shuffled.parquet");
        let keys: Vec<Option<u128>> = (0..3000u128).map(|i| Some((i * 7919) % 3001)).collect();
        write(&path, &keys);
        assert!(plan(&path, AddrRanges::between(100, 200)).is_none());
        // Statistics alone still settle a range outside the file or around all of it.
        let none = plan(&path, AddrRanges::between(5000, 6000)).unwrap();
        assert!(selected(&none, keys.len()).is_empty());
        let all = plan(&path, AddrRanges::all()).unwrap();
        assert_eq!(selected(&all, keys.len()).len(), keys.len());
    }

    #[test]
    fn runs_merge_intersect_and_become_selections() {
        let mut r = Vec::new();
        push_run(&mut r, 0..2);
        push_run(&mut r, 2..5);
        push_run(&mut r, 7..7);
        push_run(&mut r, 9..10);
        assert_eq!(r, vec![0..5, 9..10]);
        assert_eq!(union(&r, &[4..8]), vec![0..8, 9..10]);
        assert_eq!(intersect(&r, &[3..9, 9..12]), vec![3..5, 9..10]);
        let s: Vec<RowSelector> = selection(&r, 12).into();
        assert_eq!(
            s,
            vec![RowSelector::select(5), RowSelector::skip(4), RowSelector::select(1), RowSelector::skip(2)]
        );
        assert!(matches!(access(&[0..12], 12), RowGroupAccess::Scan));
        assert!(matches!(access(&[], 12), RowGroupAccess::Skip));
    }
}
