//! The rows of a Parquet file an address or time filter keeps, found from its statistics
//! and page index.
//!
//! In a file sorted by an address (compacted `flows` files lead with `src_addr`), the rows
//! inside a range are one run per row group: every page the statistics put wholly inside is
//! kept unread, every page wholly outside is skipped, and only the one or two pages where
//! the run starts and ends are read and compared row by row. A compacted file holds one
//! hour of flow end, so a time range covering the hour keeps its row groups whole. Either
//! way the result is exact, and the scan need not read the filtered column at all.
//!
//! Nothing here trusts the sort: a page whose statistics neither keep nor skip it is always
//! compared. The sort only makes such pages few; where they are many (an unsorted file, or a
//! time range ending inside the hour) that filter is left unresolved for the row group, and
//! [`FilePlan::exact`] tells the caller to filter the file's rows as well.

// Row runs are `Vec<Range<usize>>`; a run list of one range is meant, not a range's items.
#![allow(clippy::single_range_in_vec_init)]

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, FixedSizeBinaryArray, Int64Array, TimestampMicrosecondArray,
};
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;
use datafusion::parquet::file::statistics::Statistics;

use super::key_ranges::{KeyKind, KeyRanges, key, time_key};

/// One column and the keys a filter keeps of it.
#[derive(Clone, Debug)]
pub struct KeyFilter {
    pub column: String,
    pub kind: KeyKind,
    pub keep: KeyRanges,
}

/// The rows of one file to read.
#[derive(Debug)]
pub struct FilePlan {
    /// A superset of the rows every filter keeps; exactly those rows when `exact`.
    pub plan: ParquetAccessPlan,
    /// Whether every filter was resolved in every row group.
    pub exact: bool,
    /// Rows in each row group.
    pub rows: Vec<usize>,
}

impl FilePlan {
    /// Whether any row is left to read.
    pub fn reads_rows(&self) -> bool {
        self.plan.row_group_index_iter().next().is_some()
    }

    /// The plan with every row group it reads as a selection, so that it states how many
    /// rows it reads (`balanced_scan.rs` deals them out among partitions).
    pub fn counted(&self) -> ParquetAccessPlan {
        let access = self.plan.inner().iter().zip(&self.rows).map(|(a, &rows)| match a {
            RowGroupAccess::Scan => RowGroupAccess::Selection(selection(&[0..rows], rows)),
            other => other.clone(),
        });
        ParquetAccessPlan::new(access.collect())
    }
}

/// Which rows of each row group in the file at `path`, whose footer and page index are
/// `meta`, the filters keep. A filter is left unresolved in a row group (the plan keeps
/// more rows, and is not exact) where more pages would have to be compared than in a
/// sorted file, or where the file has no page index.
pub fn access_plan(path: &Path, meta: &Arc<ParquetMetaData>, filters: &[KeyFilter]) -> Result<FilePlan> {
    let file = File::open(path)?;
    let mut plan = ParquetAccessPlan::new_all(meta.num_row_groups());
    let mut exact = true;
    let mut counts = Vec::with_capacity(meta.num_row_groups());
    for rg in 0..meta.num_row_groups() {
        let rows = row_count(meta, rg)?;
        counts.push(rows);
        let mut kept = vec![0..rows];
        for f in filters {
            // A column the file lacks reads as nulls, which no range keeps.
            let Some(leaf) = leaf_index(meta, &f.column) else {
                kept.clear();
                break;
            };
            match row_group_runs(&file, meta, rg, leaf, f)? {
                Some(runs) => kept = intersect(&kept, &runs),
                None => exact = false,
            }
            if kept.is_empty() {
                break;
            }
        }
        plan.set(rg, access(&kept, rows));
    }
    Ok(FilePlan { plan, exact, rows: counts })
}

/// Smallest and largest key in a column chunk's statistics.
fn chunk_bounds(kind: KeyKind, s: &Statistics) -> Option<(u128, u128)> {
    match (kind, s) {
        (KeyKind::Time, Statistics::Int64(v)) => Some((time_key(*v.min_opt()?), time_key(*v.max_opt()?))),
        (KeyKind::Addr, _) => Some((key(s.min_bytes_opt()?)?, key(s.max_bytes_opt()?)?)),
        _ => None,
    }
}

/// Smallest and largest key of page `p` in a column index.
fn page_bounds(kind: KeyKind, index: &ColumnIndexMetaData, p: usize) -> Option<(u128, u128)> {
    match (kind, index) {
        (KeyKind::Addr, ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(v)) => {
            Some((key(v.min_value(p)?)?, key(v.max_value(p)?)?))
        }
        (KeyKind::Time, ColumnIndexMetaData::INT64(v)) => {
            Some((time_key(*v.min_value(p)?), time_key(*v.max_value(p)?)))
        }
        _ => None,
    }
}

/// The keys of a decoded column, `None` for nulls.
fn array_keys(kind: KeyKind, a: &ArrayRef) -> Result<Vec<Option<u128>>> {
    let any = a.as_any();
    let keys = match kind {
        KeyKind::Addr => {
            any.downcast_ref::<FixedSizeBinaryArray>().map(|a| a.iter().map(|v| v.and_then(key)).collect())
        }
        KeyKind::Time => any
            .downcast_ref::<TimestampMicrosecondArray>()
            .map(|a| a.iter().map(|v| v.map(time_key)).collect())
            .or_else(|| {
                any.downcast_ref::<Int64Array>().map(|a| a.iter().map(|v| v.map(time_key)).collect())
            }),
    };
    keys.ok_or_else(|| {
        DataFusionError::Execution(format!("a {kind:?} filter met a {} column in the file", a.data_type()))
    })
}

fn row_count(meta: &ParquetMetaData, rg: usize) -> Result<usize> {
    usize::try_from(meta.row_group(rg).num_rows())
        .map_err(|_| DataFusionError::Execution(format!("row group {rg} has a negative row count")))
}

fn leaf_index(meta: &ParquetMetaData, column: &str) -> Option<usize> {
    let schema = meta.file_metadata().schema_descr();
    schema.columns().iter().position(|c| c.path().parts() == [column])
}

/// The kept rows of one row group as sorted, disjoint runs; `None` if the statistics
/// leave too many pages to compare.
fn row_group_runs(
    file: &File,
    meta: &Arc<ParquetMetaData>,
    rg: usize,
    leaf: usize,
    f: &KeyFilter,
) -> Result<Option<Vec<Range<usize>>>> {
    let rows = row_count(meta, rg)?;
    if let Some(s) = meta.row_group(rg).column(leaf).statistics() {
        let nulls = s.null_count_opt();
        if nulls == Some(rows as u64) {
            return Ok(Some(Vec::new()));
        }
        if let Some((lo, hi)) = chunk_bounds(f.kind, s) {
            if !f.keep.overlaps(lo, hi) {
                return Ok(Some(Vec::new()));
            }
            if f.keep.covers(lo, hi) && nulls == Some(0) {
                return Ok(Some(vec![0..rows]));
            }
        }
    }
    let index = meta.column_index().and_then(|i| i.get(rg)?.get(leaf));
    let offsets = meta.offset_index().and_then(|i| i.get(rg)?.get(leaf));
    let (Some(index), Some(offsets)) = (index, offsets) else { return Ok(None) };
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
        match page_bounds(f.kind, index, p) {
            Some((lo, hi)) if !f.keep.overlaps(lo, hi) => {}
            Some((lo, hi)) if f.keep.covers(lo, hi) && index.null_count(p) == Some(0) => {
                push_run(&mut runs, start..end)
            }
            _ => to_compare.push(start..end),
        }
    }
    // A sorted row group has at most two boundary pages per range.
    if to_compare.len() > 2 * f.keep.ranges().len() + 2 {
        return Ok(None);
    }
    if !to_compare.is_empty() {
        let exact = compare_rows(file, meta, rg, leaf, &to_compare, f)?;
        runs = union(&runs, &exact);
    }
    Ok(Some(runs))
}

/// Reads the `pages` of one column chunk and keeps the rows whose key is in the filter.
fn compare_rows(
    file: &File,
    meta: &Arc<ParquetMetaData>,
    rg: usize,
    leaf: usize,
    pages: &[Range<usize>],
    f: &KeyFilter,
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
        for k in array_keys(f.kind, batch?.column(0))? {
            let Some(row) = positions.next() else {
                return Err(DataFusionError::Execution("the reader returned more rows than selected".into()));
            };
            if k.is_some_and(|k| f.keep.contains(k)) {
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

    fn plan(path: &Path, keep: KeyRanges) -> Option<ParquetAccessPlan> {
        let p = file_plan(path, keep);
        p.exact.then_some(p.plan)
    }

    fn file_plan(path: &Path, keep: KeyRanges) -> FilePlan {
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&File::open(path).unwrap())
            .unwrap();
        let filters = [KeyFilter { column: "src_addr".into(), kind: KeyKind::Addr, keep }];
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
            KeyRanges::between(1100, 1200),
            KeyRanges::between(1000, 1000),
            KeyRanges::between(1200, 1200).union(&KeyRanges::between(1400, 1460)),
            KeyRanges::between(0, u128::MAX),
            KeyRanges::between(1493, 1493),
            KeyRanges::between(5000, 6000),
            KeyRanges::between(0, 999),
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
        let inexact = file_plan(&path, KeyRanges::between(100, 200));
        assert!(!inexact.exact);
        assert_eq!(selected(&inexact.plan, keys.len()).len(), keys.len(), "every row is left to the filter");
        // Statistics alone still settle a range outside the file or around all of it.
        let none = plan(&path, KeyRanges::between(5000, 6000)).unwrap();
        assert!(selected(&none, keys.len()).is_empty());
        let all = plan(&path, KeyRanges::all()).unwrap();
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
