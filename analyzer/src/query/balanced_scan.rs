//! Parallel scans split by rows, not bytes.
//!
//! DataFusion splits a scan among partitions by byte ranges of its files, and a row group
//! goes whole to the range that holds its start. An hour's compacted file has seven row
//! groups, six of 1 Mi rows and one of the rest, so on two cores one partition read four
//! and the other three: a question about one hour waited on the partition with 61 % of the
//! rows. Where every file of a scan comes with a plan that states the rows it reads (the
//! exact address and time plans of `flows_table.rs`), [`BalancedScans`] deals those rows
//! out evenly among the same number of partitions, in file and row order, splitting a row
//! group between two partitions by row selections where the share ends inside it.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

use super::flows_table::file_scan;

/// Rows per partition below which a scan is left as DataFusion split it: one batch each
/// is not worth a split row group.
pub const MIN_ROWS_PER_PARTITION: usize = 8192;

/// The physical optimizer rule; runs after DataFusion's, which split scans by bytes.
#[derive(Debug)]
pub struct BalancedScans {
    pub min_rows_per_partition: usize,
}

impl Default for BalancedScans {
    fn default() -> Self {
        Self { min_rows_per_partition: MIN_ROWS_PER_PARTITION }
    }
}

impl PhysicalOptimizerRule for BalancedScans {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            let config = file_scan(&p).and_then(|c| self.balanced(c));
            Ok(match config {
                Some(c) => Transformed::yes(DataSourceExec::from_data_source(c) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(p),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "plumb_balanced_scans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

impl BalancedScans {
    /// The scan with its rows dealt out evenly among its partitions, when every file states
    /// the rows it reads and there are enough of them.
    fn balanced(&self, config: &FileScanConfig) -> Option<FileScanConfig> {
        let n = config.file_groups.len();
        // A scan that declares how its rows are partitioned (by hour folder, say) keeps its
        // files where they are: dealing would break the promise. Order is kept: the
        // partitions read consecutive shares in file and row order, as byte ranges do.
        if n < 2 || config.output_partitioning.is_some() {
            return None;
        }
        let files = counted_files(&config.file_groups)?;
        let total: usize = files.iter().map(|f| f.rows).sum();
        if total < self.min_rows_per_partition * n {
            return None;
        }
        let groups = deal(&files, n).into_iter().map(FileGroup::new).collect();
        // The partition count stays, so the operators above keep what they were planned for.
        Some(FileScanConfigBuilder::from(config.clone()).with_file_groups(groups).build())
    }
}

/// A file of a scan with a plan that states its rows.
struct Counted<'a> {
    file: &'a PartitionedFile,
    plan: &'a ParquetAccessPlan,
    rows: usize,
}

/// The scan's files, each once, when every one has a plan whose row groups are skipped or
/// selected row by row (a `Scan` does not say how many rows it reads).
fn counted_files(groups: &[FileGroup]) -> Option<Vec<Counted<'_>>> {
    let mut files: Vec<Counted> = Vec::new();
    let mut seen = HashSet::new();
    for file in groups.iter().flat_map(FileGroup::iter) {
        let plan = file.extensions.get::<ParquetAccessPlan>()?;
        // A file split into byte ranges appears once per range, each with the whole plan.
        if !seen.insert(&file.object_meta.location) {
            continue;
        }
        let mut rows = 0;
        for access in plan.inner() {
            match access {
                RowGroupAccess::Skip => {}
                RowGroupAccess::Scan => return None,
                RowGroupAccess::Selection(s) => rows += selected(s),
            }
        }
        files.push(Counted { file, plan, rows });
    }
    Some(files)
}

/// `n` partitions of the files' selected rows, as even as rows allow, in file and row order.
fn deal(files: &[Counted], n: usize) -> Vec<Vec<PartitionedFile>> {
    let total: usize = files.iter().map(|f| f.rows).sum();
    let share = total.div_ceil(n);
    let mut parts: Vec<Vec<PartitionedFile>> = vec![Vec::new(); n];
    let (mut part, mut filled) = (0, 0);
    for f in files {
        // The plan of this file in the current partition, if it reads any of it.
        let mut plan: Option<ParquetAccessPlan> = None;
        for (rg, access) in f.plan.inner().iter().enumerate() {
            let RowGroupAccess::Selection(rest) = access else { continue };
            let (mut rest, mut left) = (rest.clone(), selected(rest));
            while left > 0 {
                if filled == share && part + 1 < n {
                    parts[part].extend(plan.take().map(|p| with_plan(f.file, p)));
                    (part, filled) = (part + 1, 0);
                }
                let take = if part + 1 == n { left } else { left.min(share - filled) };
                let (head, tail) = split_selected(&rest, take);
                plan.get_or_insert_with(|| ParquetAccessPlan::new_none(f.plan.len()))
                    .set(rg, RowGroupAccess::Selection(head));
                (rest, left, filled) = (tail, left - take, filled + take);
            }
        }
        parts[part].extend(plan.map(|p| with_plan(f.file, p)));
    }
    parts
}

/// The whole file (no byte range: the plan says what to read) with `plan`.
fn with_plan(file: &PartitionedFile, plan: ParquetAccessPlan) -> PartitionedFile {
    let mut f = file.clone();
    f.range = None;
    f.extensions.insert(plan);
    f
}

fn selected(s: &RowSelection) -> usize {
    s.iter().filter(|r| !r.skip).map(|r| r.row_count).sum()
}

/// `s` split after its `k`-th selected row: the first `k` selected rows, and the rest.
/// Both cover the same rows as `s`, as a row group's selection must.
fn split_selected(s: &RowSelection, k: usize) -> (RowSelection, RowSelection) {
    let total: usize = s.iter().map(|r| r.row_count).sum();
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    let (mut need, mut consumed) = (k, 0);
    for r in s.iter() {
        if need == 0 {
            tail.push(*r);
        } else if r.skip || r.row_count <= need {
            head.push(*r);
            consumed += r.row_count;
            need -= if r.skip { 0 } else { r.row_count };
        } else {
            head.push(RowSelector::select(need));
            tail.push(RowSelector::select(r.row_count - need));
            consumed += need;
            need = 0;
        }
    }
    head.push(RowSelector::skip(total - consumed));
    tail.insert(0, RowSelector::skip(consumed));
    (RowSelection::from(head), RowSelection::from(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(runs: &[(bool, usize)]) -> RowSelection {
        RowSelection::from(
            runs.iter()
                .map(|&(skip, n)| if skip { RowSelector::skip(n) } else { RowSelector::select(n) })
                .collect::<Vec<_>>(),
        )
    }

    /// Row indexes a selection keeps.
    fn rows(s: &RowSelection) -> Vec<usize> {
        let mut at = 0;
        let mut out = Vec::new();
        for r in s.iter() {
            if !r.skip {
                out.extend(at..at + r.row_count);
            }
            at += r.row_count;
        }
        out
    }

    fn covered(s: &RowSelection) -> usize {
        s.iter().map(|r| r.row_count).sum()
    }

    #[test]
    fn a_split_selection_keeps_each_row_once_in_order() {
        let shapes = [
            sel(&[(false, 100)]),
            sel(&[(true, 10), (false, 30), (true, 20), (false, 40)]),
            sel(&[(false, 5), (true, 95)]),
            sel(&[(true, 50), (false, 1), (true, 49)]),
        ];
        for s in &shapes {
            let all = rows(s);
            for k in 0..=all.len() {
                let (head, tail) = split_selected(s, k);
                assert_eq!(covered(&head), covered(s), "{s:?} at {k}");
                assert_eq!(covered(&tail), covered(s), "{s:?} at {k}");
                let (h, t) = (rows(&head), rows(&tail));
                assert_eq!(h, all[..k], "{s:?} at {k}");
                assert_eq!(t, all[k..], "{s:?} at {k}");
            }
        }
    }

    fn file(name: &str) -> PartitionedFile {
        PartitionedFile::new(name.to_string(), 1000)
    }

    fn plan(groups: Vec<RowGroupAccess>) -> ParquetAccessPlan {
        ParquetAccessPlan::new(groups)
    }

    /// (file, row group, selected row indexes) of each partition.
    fn dealt(parts: &[Vec<PartitionedFile>]) -> Vec<Vec<(String, usize, Vec<usize>)>> {
        parts
            .iter()
            .map(|p| {
                let mut out = Vec::new();
                for f in p {
                    assert!(f.range.is_none());
                    let plan = f.extensions.get::<ParquetAccessPlan>().expect("a plan");
                    for (rg, a) in plan.inner().iter().enumerate() {
                        match a {
                            RowGroupAccess::Selection(s) => {
                                out.push((f.object_meta.location.to_string(), rg, rows(s)))
                            }
                            RowGroupAccess::Skip => {}
                            RowGroupAccess::Scan => panic!("a dealt plan scans"),
                        }
                    }
                }
                out
            })
            .collect()
    }

    #[test]
    fn seven_row_groups_split_evenly_between_two_partitions() {
        let groups: Vec<_> = (0..7).map(|i| if i < 6 { 10 } else { 6 }).collect();
        let access = groups.iter().map(|&n| RowGroupAccess::Selection(sel(&[(false, n)]))).collect();
        let (f, p) = (file("hour"), plan(access));
        let files = [Counted { file: &f, plan: &p, rows: 66 }];
        let parts = dealt(&deal(&files, 2));
        let counts: Vec<usize> = parts.iter().map(|p| p.iter().map(|(_, _, r)| r.len()).sum()).collect();
        assert_eq!(counts, [33, 33]);
        // Row group 3 is split: its first three rows in the first partition, the rest in the second.
        assert_eq!(parts[0].last(), Some(&("hour".to_string(), 3, vec![0, 1, 2])));
        assert_eq!(parts[1].first(), Some(&("hour".to_string(), 3, (3..10).collect())));
    }

    #[test]
    fn rows_of_several_files_are_dealt_in_order_and_each_once() {
        let (a, b, c) = (file("a"), file("b"), file("c"));
        let pa = plan(vec![
            RowGroupAccess::Selection(sel(&[(true, 5), (false, 20), (true, 5)])),
            RowGroupAccess::Skip,
        ]);
        let pb = plan(vec![RowGroupAccess::Skip, RowGroupAccess::Selection(sel(&[(false, 3), (true, 7)]))]);
        let pc = plan(vec![RowGroupAccess::Selection(sel(&[(false, 7), (true, 1), (false, 10)]))]);
        let files = [
            Counted { file: &a, plan: &pa, rows: 20 },
            Counted { file: &b, plan: &pb, rows: 3 },
            Counted { file: &c, plan: &pc, rows: 17 },
        ];
        for n in 2..=5 {
            let parts = dealt(&deal(&files, n));
            assert_eq!(parts.len(), n);
            let counts: Vec<usize> = parts.iter().map(|p| p.iter().map(|(_, _, r)| r.len()).sum()).collect();
            let share = 40_usize.div_ceil(n);
            assert!(counts.iter().all(|&c| c <= share), "{n}: {counts:?}");
            assert_eq!(counts.iter().sum::<usize>(), 40, "{n}: {counts:?}");
            // In order, every selected row exactly once.
            let flat: Vec<(String, usize, usize)> = parts
                .iter()
                .flatten()
                .flat_map(|(f, rg, rows)| rows.iter().map(move |&r| (f.clone(), *rg, r)))
                .collect();
            let mut want = Vec::new();
            want.extend((5..25).map(|r| ("a".to_string(), 0, r)));
            want.extend((0..3).map(|r| ("b".to_string(), 1, r)));
            want.extend((0..7).chain(8..18).map(|r| ("c".to_string(), 0, r)));
            assert_eq!(flat, want, "{n}");
        }
    }

    #[test]
    fn scans_without_counted_plans_are_left_alone() {
        let mut scanned = file("a");
        scanned.extensions.insert(plan(vec![RowGroupAccess::Scan]));
        let mut counted = file("b");
        counted.extensions.insert(plan(vec![RowGroupAccess::Selection(sel(&[(false, 10)]))]));
        let bare = file("c");
        assert!(
            counted_files(&[FileGroup::new(vec![scanned]), FileGroup::new(vec![counted.clone()])]).is_none()
        );
        assert!(
            counted_files(&[FileGroup::new(vec![bare]), FileGroup::new(vec![counted.clone()])]).is_none()
        );
        // Byte ranges of one file count it once.
        let groups = [FileGroup::new(vec![counted.clone()]), FileGroup::new(vec![counted])];
        let files = counted_files(&groups).expect("counted");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].rows, 10);
    }
}
