//! Partial aggregations that DataFusion's generic hashing runs slowly.
//!
//! Flow questions group by one column most of the time: a port, protocol, TCP flags or DSCP
//! (at most 65,536 values), or an address (top talkers). Or they group by source and
//! something else (conversations). DataFusion's partial aggregation hashes every row
//! through its generic group-value machinery: for the top TCP ports of a day that was a
//! quarter of the CPU, for the top sources more than half (a `memcmp` per row), and for the
//! conversations of an hour it gave up and passed every row on. [`PartialAggregate`]
//! replaces a partial `AggregateExec` whose aggregates are plain `count` and 64-bit `sum`
//! with [`PartialAggregateExec`], which emits the same partial states, so the final
//! aggregation above it is unchanged, when the keys are:
//! - one `UInt8`/`UInt16`: the key indexes an array directly, as DuckDB's perfect hash
//!   aggregate does;
//! - one `FixedSizeBinary` of up to 16 bytes (an address or MAC): it is read as a `u128` and
//!   looked up in a hash map with a per-process seed, skipping the lookup while the key
//!   repeats (compacted files are sorted by source);
//! - led by the store's sort column (the source address) with small others: the groups of
//!   each run of one source are found among that source's keys alone (`runs.rs`).
//!
//! Past [`MAX_GROUPS`] groups the states are emitted and started afresh, so memory stays
//! bounded whatever the number of groups; the final aggregation merges them. Over files
//! sorted by the run key, the final step of a run aggregation is replaced too
//! (`run_final.rs`): the groups of a source seen in one run pass it without merging.
//!
//! A filter directly below a one-key aggregation is taken in: the rows it drops go to a
//! slot that is never emitted, chosen by a select rather than a branch, instead of
//! `FilterExec` copying the rows it keeps (a quarter of the CPU of the top TCP ports of a
//! day); a filter on one small column is read from a table of its values (`value_table.rs`).
//! And until an argument shows a null, `count` and the null flags of `sum` follow
//! from one row tally per slot, so the hot loop updates two values per row, not four.

mod exec;
mod groups;
mod run_final;
mod runs;
mod value_table;

pub use exec::PartialAggregateExec;
use exec::{Aggregate, Grouping, one_input, visit};
use groups::{Groups, PartitionWork, Seeded, fixed_size_binary, kept_rows, left_aligned, seeded};

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, config::ConfigOptions, internal_err};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};

use super::flows_table::{SortedBy, file_scan};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::union::UnionExec;

/// The name of the run tag column of a tagged partial aggregation.
const RUN_TAG: &str = "plumb_run_tag";

/// Groups past which an address aggregation emits its states and starts afresh.
pub const MAX_GROUPS: usize = 1 << 20;

/// The physical optimizer rule; runs after DataFusion's own rules.
#[derive(Debug)]
pub struct PartialAggregate {
    /// Groups held before their states are emitted ([`MAX_GROUPS`]).
    pub max_groups: usize,
    /// The column whose values arrive in runs. `None` (the session's setting): the column
    /// the files' footers name as their first sort column, where any does.
    pub run_column: Option<String>,
    /// Rows a final step over runs holds, in all partitions, before it merges every group
    /// ([`run_final::HOLD_ROWS`]).
    pub hold_rows: usize,
    /// Whether a final step over runs needs files that say they are sorted by the run
    /// column: over rows in arrival order it holds rows only to merge them all (tests
    /// over in-memory tables turn this off).
    pub sorted_files_only: bool,
}

impl Default for PartialAggregate {
    fn default() -> Self {
        Self {
            max_groups: MAX_GROUPS,
            run_column: None,
            hold_rows: run_final::HOLD_ROWS,
            sorted_files_only: true,
        }
    }
}

impl PhysicalOptimizerRule for PartialAggregate {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            let Some(agg) = p.downcast_ref::<AggregateExec>() else { return Ok(Transformed::no(p)) };
            Ok(match PartialAggregateExec::replacing(agg, self) {
                Some(partial) => Transformed::yes(Arc::new(partial) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(p),
            })
        })
        .data()
        .and_then(|plan| run_final::replace_finals(plan, true, self.hold_rows))
    }

    fn name(&self) -> &str {
        "plumb_partial_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The column the files below `plan` say, in their footers' sorting columns, they are
/// sorted by first: the store's compaction sort, read from the files rather than assumed.
fn footer_sort_column(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    if let Some(config) = file_scan(plan) {
        let mut files = config.file_groups.iter().flat_map(|g| g.iter());
        return files.find_map(|f| f.extensions.get::<SortedBy>().map(|s| s.0.clone()));
    }
    plan.children().into_iter().find_map(footer_sort_column)
}

/// Whether every file `plan` reads says it is sorted by `column`, through operators that
/// keep the order of rows within a partition or (round-robin) within a batch.
fn sorted_files(plan: &Arc<dyn ExecutionPlan>, column: &str) -> bool {
    if let Some(config) = file_scan(plan) {
        let mut files = config.file_groups.iter().flat_map(|g| g.iter()).peekable();
        return files.peek().is_some()
            && files.all(|f| f.extensions.get::<SortedBy>().is_some_and(|s| s.0 == column));
    }
    let any = plan.as_ref() as &dyn std::any::Any;
    let round_robin = plan
        .downcast_ref::<RepartitionExec>()
        .is_some_and(|r| matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)));
    let keeps_order =
        round_robin || any.is::<FilterExec>() || any.is::<ProjectionExec>() || any.is::<UnionExec>();
    let children = plan.children();
    keeps_order && !children.is_empty() && children.iter().all(|c| sorted_files(c, column))
}

/// `expr` over a filter's input, where it read the filter's output through `projection`.
fn below(expr: &Arc<dyn PhysicalExpr>, projection: Option<&[usize]>) -> Option<Arc<dyn PhysicalExpr>> {
    let Some(projection) = projection else {
        return Some(Arc::clone(expr));
    };
    let mapped = Arc::clone(expr).transform(|e| {
        let Some(c) = e.downcast_ref::<Column>() else {
            return Ok(Transformed::no(e));
        };
        match projection.get(c.index()) {
            Some(&i) => Ok(Transformed::yes(Arc::new(Column::new(c.name(), i)) as Arc<dyn PhysicalExpr>)),
            None => internal_err!("column {c} outside the filter's projection"),
        }
    });
    mapped.ok().map(|t| t.data)
}

#[cfg(test)]
mod tests;
