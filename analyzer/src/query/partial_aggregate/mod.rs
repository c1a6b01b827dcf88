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

mod run_final;
mod runs;
mod value_table;

use value_table::ValueTable;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::PrimitiveArray;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, Int64Array, RecordBatch, UInt8Array, UInt16Array,
    UInt64Array,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Int64Type, Schema, SchemaRef, UInt8Type, UInt16Type, UInt64Type,
};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue, config::ConfigOptions, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ColumnarValue, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

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
    /// The column the store sorts its files by first, whose values arrive in runs.
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

/// One aggregate and the state it keeps per key.
#[derive(Debug, Clone)]
enum Aggregate {
    /// `count(arg)`: rows where `arg` is not null.
    Count(Arc<dyn PhysicalExpr>),
    /// `sum(arg)` of `UInt64` (wrapping, like DataFusion's); null where no value was seen.
    SumU64(Arc<dyn PhysicalExpr>),
    /// `sum(arg)` of `Int64`.
    SumI64(Arc<dyn PhysicalExpr>),
}

impl Aggregate {
    fn arg(&self) -> &Arc<dyn PhysicalExpr> {
        match self {
            Aggregate::Count(a) | Aggregate::SumU64(a) | Aggregate::SumI64(a) => a,
        }
    }
}

/// How the group keys map to slots.
#[derive(Debug, Clone)]
enum Grouping {
    /// One small or address key, of this type.
    Single(DataType),
    /// Keys led by the store's sort column.
    Runs(runs::Layout),
    /// The same keys, their groups found by whole key (`run_final.rs`).
    Global(runs::Layout),
}

/// A partial aggregation over one small or address key, or keys led by the sort column.
#[derive(Debug)]
pub struct PartialAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    /// The predicate of a filter taken in from below, so that rows it drops are never
    /// copied: they go to a slot that is not emitted.
    filter: Option<Arc<dyn PhysicalExpr>>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    grouping: Grouping,
    aggregates: Vec<Aggregate>,
    /// The partial states' schema of the aggregation this replaces.
    schema: SchemaRef,
    max_groups: usize,
    /// Whether each group carries the tag of the run it came from, for [`run_final`].
    tagged: bool,
    /// Whether the input comes in long runs of the run key: read from files sorted by it.
    sorted: bool,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl PartialAggregateExec {
    /// This form of `agg`, when it is a partial aggregation this can run.
    fn replacing(agg: &AggregateExec, rule: &PartialAggregate) -> Option<Self> {
        let groups = agg.group_expr();
        let n = groups.expr().len();
        if *agg.mode() != AggregateMode::Partial
            || agg.limit_options().is_some()
            || !groups.is_single()
            || n == 0
            || agg.filter_expr().iter().any(Option::is_some)
        {
            return None;
        }
        let (input, filter, projection) = match agg.input().downcast_ref::<FilterExec>() {
            Some(f) if f.fetch().is_none() && n == 1 => {
                (f.input(), Some(Arc::clone(f.predicate())), f.projection().clone())
            }
            _ => (agg.input(), None, None),
        };
        let input_schema = input.schema();
        let keys: Vec<_> =
            groups.expr().iter().map(|(k, _)| below(k, projection.as_deref())).collect::<Option<_>>()?;
        let types: Vec<_> = keys.iter().map(|k| k.data_type(&input_schema).ok()).collect::<Option<_>>()?;
        let grouping = match types.as_slice() {
            [t @ (DataType::UInt8 | DataType::UInt16)] => Grouping::Single(t.clone()),
            [t @ DataType::FixedSizeBinary(w)] if (1..=16).contains(w) => Grouping::Single(t.clone()),
            [_] => return None,
            _ => Grouping::Runs(runs::Layout::of(&keys, &types, rule.run_column.as_deref()?)?),
        };
        let grouping_sorted =
            matches!(grouping, Grouping::Runs(_)).then(|| rule.run_column.clone()).flatten();
        let schema = agg.schema();
        if schema.fields().len() != n + agg.aggr_expr().len() {
            return None;
        }
        let mut aggregates = Vec::new();
        for (i, a) in agg.aggr_expr().iter().enumerate() {
            let [arg] = a.expressions().try_into().ok()?;
            let arg = below(&arg, projection.as_deref())?;
            if a.is_distinct() || !a.order_bys().is_empty() {
                return None;
            }
            let arg_type = arg.data_type(&input_schema).ok()?;
            let state_type = schema.field(i + n).data_type();
            aggregates.push(match (a.fun().name(), &arg_type, state_type) {
                ("count", _, DataType::Int64) => Aggregate::Count(arg),
                ("sum", DataType::UInt64, DataType::UInt64) => Aggregate::SumU64(arg),
                ("sum", DataType::Int64, DataType::Int64) => Aggregate::SumI64(arg),
                _ => return None,
            });
        }
        let partitions = input.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Some(Self {
            input: Arc::clone(input),
            filter,
            keys,
            grouping,
            aggregates,
            schema,
            max_groups: rule.max_groups,
            tagged: false,
            sorted: match (&grouping_sorted, rule.sorted_files_only) {
                (Some(column), true) => sorted_files(input, column),
                (Some(_), false) => true,
                (None, _) => false,
            },
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// This aggregation with a last column tagging each group with its run (see
    /// `RunSlots::run_tags`); `None` unless it groups by runs.
    fn tagged(&self) -> Option<Self> {
        if !matches!(self.grouping, Grouping::Runs(_)) || self.tagged || !self.sorted {
            return None;
        }
        let mut fields: Vec<_> = self.schema.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(RUN_TAG, DataType::UInt64, false)));
        let schema = Arc::new(Schema::new_with_metadata(fields, self.schema.metadata().clone()));
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            self.properties.partitioning.clone(),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Some(Self {
            schema,
            tagged: true,
            properties: Arc::new(properties),
            ..self.with_input(Arc::clone(&self.input))
        })
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            filter: self.filter.clone(),
            keys: self.keys.clone(),
            grouping: self.grouping.clone(),
            aggregates: self.aggregates.clone(),
            schema: Arc::clone(&self.schema),
            max_groups: self.max_groups,
            tagged: self.tagged,
            sorted: self.sorted,
            properties: Arc::clone(&self.properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for PartialAggregateExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
        let states = self.schema.fields().iter().skip(keys.len()).map(|f| f.name().as_str());
        let states: Vec<&str> = states.collect();
        let how = match self.grouping {
            Grouping::Single(_) => "one key",
            Grouping::Runs(_) if self.tagged => "runs of the sort key, tagged",
            Grouping::Runs(_) => "runs of the sort key",
            Grouping::Global(_) => "whole keys",
        };
        write!(f, "PartialAggregateExec: gby=[{}], aggr=[{}], {how}", keys.join(", "), states.join(", "))?;
        match &self.filter {
            Some(p) => write!(f, ", filter={p}"),
            None => Ok(()),
        }
    }
}

impl ExecutionPlan for PartialAggregateExec {
    fn name(&self) -> &str {
        "PartialAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        visit(self.keys.iter().chain(&self.filter).chain(self.aggregates.iter().map(Aggregate::arg)), f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(self.with_input(one_input(children, "PartialAggregateExec")?)))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let mut groups = Groups::new(&self.grouping, &self.aggregates);
        // Tags of different partitions never meet: the partition is in the high bits.
        groups.next_tag = self.tagged.then_some((partition as u64) << 40);
        let run = Run {
            filter: self.filter.clone(),
            table: self.filter.as_ref().and_then(|p| ValueTable::of(p, &self.input.schema())),
            keys: self.keys.clone(),
            aggregates: self.aggregates.clone(),
            schema: Arc::clone(&self.schema),
            max_groups: self.max_groups,
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let stream = futures::stream::unfold(Some((input, groups, run)), |state| async move {
            let (mut input, mut groups, run) = state?;
            while let Some(batch) = input.next().await {
                let added = batch.and_then(|b| {
                    let _timer = run.metrics.elapsed_compute().timer();
                    groups.add(&b, &run)
                });
                if let Err(e) = added {
                    return Some((Err(e), None));
                }
                if groups.len() >= run.max_groups || groups.runs_full() {
                    let out = run.emit(&mut groups);
                    return Some((out, Some((input, groups, run))));
                }
            }
            Some((run.emit(&mut groups), None))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Calls `f` on each expression in turn until it says stop.
fn visit<'a>(
    exprs: impl IntoIterator<Item = &'a Arc<dyn PhysicalExpr>>,
    f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
) -> Result<TreeNodeRecursion> {
    let mut r = TreeNodeRecursion::Continue;
    for e in exprs {
        if r == TreeNodeRecursion::Stop {
            break;
        }
        r = f(e)?;
    }
    Ok(r)
}

/// The input of an operator that has exactly one.
fn one_input(children: Vec<Arc<dyn ExecutionPlan>>, operator: &str) -> Result<Arc<dyn ExecutionPlan>> {
    match <[_; 1]>::try_from(children) {
        Ok([input]) => Ok(input),
        Err(_) => internal_err!("{operator} has one input"),
    }
}

/// What a running partition needs besides its input and groups.
struct Run {
    filter: Option<Arc<dyn PhysicalExpr>>,
    /// The filter as a table of values, when it reads one small column.
    table: Option<ValueTable>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    aggregates: Vec<Aggregate>,
    schema: SchemaRef,
    max_groups: usize,
    metrics: BaselineMetrics,
}

impl Run {
    fn emit(&self, groups: &mut Groups) -> Result<RecordBatch> {
        let _timer = self.metrics.elapsed_compute().timer();
        let out = groups.take(&self.schema)?;
        self.metrics.record_output(out.num_rows());
        Ok(out)
    }
}

/// How row keys become group slots.
enum Slots {
    /// A one- or two-byte key is its own slot; slot `width` is the null key and
    /// `width + 1` takes the rows the filter drops.
    Dense { width: usize },
    /// Slot 0 takes the rows the filter drops; a key of `width` bytes, left-aligned in a
    /// `u128`, gets the next slot when first seen.
    Hashed { width: usize, map: HashMap<u128, u32, Seeded>, keys: Vec<Option<u128>>, null: Option<u32> },
    /// Keys led by the sort column: slots in order of first sight within each run.
    Runs(runs::RunSlots),
}

/// The slot of rows the filter drops, for hashed keys.
const HASHED_DROPPED: u32 = 0;

/// Per-slot states of every aggregate.
struct Groups {
    slots: Slots,
    /// Rows added to each slot since the last emission: a slot with rows is a group, and
    /// while an aggregate's argument has had no nulls its state follows from this alone.
    tally: Vec<i64>,
    states: Vec<State>,
    /// The slot of each row of the batch being added.
    rows: Vec<u32>,
    /// The last run tag given, when groups are emitted with their runs' tags.
    next_tag: Option<u64>,
}

/// An aggregate's states. Until its argument shows a null, `count` is the slot's tally
/// and a sum is non-null wherever the tally is non-zero, so the hot loop writes one value
/// per row; the first null makes both explicit.
enum State {
    Count { counts: Option<Vec<i64>> },
    SumU64 { sums: Vec<u64>, has: Option<Vec<bool>> },
    SumI64 { sums: Vec<i64>, has: Option<Vec<bool>> },
}

impl State {
    fn of(a: &Aggregate) -> Self {
        match a {
            Aggregate::Count(_) => State::Count { counts: None },
            Aggregate::SumU64(_) => State::SumU64 { sums: Vec::new(), has: None },
            Aggregate::SumI64(_) => State::SumI64 { sums: Vec::new(), has: None },
        }
    }

    fn resize(&mut self, n: usize) {
        match self {
            State::Count { counts } => {
                if let Some(c) = counts {
                    c.resize(n, 0)
                }
            }
            State::SumU64 { sums, has } => {
                sums.resize(n, 0);
                if let Some(h) = has {
                    h.resize(n, false)
                }
            }
            State::SumI64 { sums, has } => {
                sums.resize(n, 0);
                if let Some(h) = has {
                    h.resize(n, false)
                }
            }
        }
    }

    /// Empties the state, back to following the tally.
    /// Empties the state, back to following the tally; the sums keep their memory for
    /// the next groups.
    fn reset(&mut self) {
        match self {
            State::Count { counts } => *counts = None,
            State::SumU64 { sums, has } => {
                sums.clear();
                *has = None;
            }
            State::SumI64 { sums, has } => {
                sums.clear();
                *has = None;
            }
        }
    }

    /// Stops following the tally: what it implied so far becomes explicit.
    fn make_explicit(&mut self, tally: &[i64]) {
        match self {
            State::Count { counts } => {
                counts.get_or_insert_with(|| tally.to_vec());
            }
            State::SumU64 { has, .. } | State::SumI64 { has, .. } => {
                has.get_or_insert_with(|| tally.iter().map(|&t| t > 0).collect());
            }
        }
    }

    /// The states of `slots`, in that order.
    fn column(&self, slots: &[usize], tally: &[i64]) -> ArrayRef {
        let nulls = |has: &Option<Vec<bool>>| match has {
            Some(h) => Some(NullBuffer::from_iter(slots.iter().map(|&i| h[i]))),
            None => Some(NullBuffer::from_iter(slots.iter().map(|&i| tally[i] > 0))),
        };
        match self {
            State::Count { counts } => {
                let c = counts.as_deref().unwrap_or(tally);
                Arc::new(Int64Array::from_iter_values(slots.iter().map(|&i| c[i])))
            }
            State::SumU64 { sums, has } => {
                Arc::new(UInt64Array::new(slots.iter().map(|&i| sums[i]).collect(), nulls(has)))
            }
            State::SumI64 { sums, has } => {
                Arc::new(Int64Array::new(slots.iter().map(|&i| sums[i]).collect(), nulls(has)))
            }
        }
    }
}

impl Groups {
    fn new(grouping: &Grouping, aggregates: &[Aggregate]) -> Self {
        let slots = match grouping {
            Grouping::Runs(layout) => Slots::Runs(runs::RunSlots::new(layout.clone())),
            Grouping::Global(layout) => Slots::Runs(runs::RunSlots::global(layout.clone())),
            Grouping::Single(DataType::FixedSizeBinary(w)) => Slots::Hashed {
                width: *w as usize,
                map: HashMap::with_hasher(Seeded::new()),
                keys: vec![None],
                null: None,
            },
            Grouping::Single(DataType::UInt8) => Slots::Dense { width: 1 << 8 },
            Grouping::Single(_) => Slots::Dense { width: 1 << 16 },
        };
        let states = aggregates.iter().map(State::of).collect();
        let mut g = Self { slots, tally: Vec::new(), states, rows: Vec::new(), next_tag: None };
        g.fit_states();
        g
    }

    fn slot_count(&self) -> usize {
        match &self.slots {
            Slots::Dense { width } => width + 2,
            Slots::Hashed { keys, .. } => keys.len(),
            Slots::Runs(r) => r.len(),
        }
    }

    fn fit_states(&mut self) {
        let n = self.slot_count();
        self.tally.resize(n, 0);
        self.states.iter_mut().for_each(|s| s.resize(n));
    }

    /// Whether a run aggregation holds enough groups to emit them.
    fn runs_full(&self) -> bool {
        matches!(&self.slots, Slots::Runs(r) if r.len() >= runs::EMIT_GROUPS)
    }

    /// Address groups held (small keys never need emitting early).
    fn len(&self) -> usize {
        match &self.slots {
            Slots::Dense { .. } => 0,
            Slots::Hashed { keys, .. } => keys.len() - 1,
            Slots::Runs(r) => r.len(),
        }
    }

    fn add(&mut self, batch: &RecordBatch, run: &Run) -> Result<()> {
        let rows = batch.num_rows();
        let keys =
            run.keys.iter().map(|k| k.evaluate(batch)?.into_array(rows)).collect::<Result<Vec<_>>>()?;
        self.rows.clear();
        match (&mut self.slots, keys.as_slice()) {
            (Slots::Runs(r), keys) => r.assign(&mut self.rows, keys)?,
            (Slots::Dense { width }, [keys]) => {
                let keep = match (&run.filter, &run.table) {
                    (Some(p), None) => kept_rows(p.evaluate(batch)?, rows)?,
                    _ => None,
                };
                match keys.data_type() {
                    DataType::UInt8 => {
                        dense_slots(&mut self.rows, *width, keys.as_primitive::<UInt8Type>(), keep.as_ref())
                    }
                    DataType::UInt16 => {
                        dense_slots(&mut self.rows, *width, keys.as_primitive::<UInt16Type>(), keep.as_ref())
                    }
                    other => return internal_err!("PartialAggregateExec key is {other}"),
                }
                if let Some(table) = &run.table {
                    table.drop_rows(batch, &mut self.rows, *width as u32 + 1)?;
                }
            }
            (Slots::Hashed { width, map, keys: seen, null }, [keys]) => {
                let Some(keys) = keys.as_fixed_size_binary_opt() else {
                    return internal_err!("PartialAggregateExec key is {}", keys.data_type());
                };
                let keep = match &run.filter {
                    Some(p) => kept_rows(p.evaluate(batch)?, rows)?,
                    None => None,
                };
                hashed_slots(&mut self.rows, *width, keys, keep.as_ref(), map, seen, null)
            }
            (_, keys) => return internal_err!("PartialAggregateExec has {} keys", keys.len()),
        }
        self.add_values(batch, run)
    }

    /// Adds the aggregates' arguments of a batch whose rows' slots are in `self.rows`.
    fn add_values(&mut self, batch: &RecordBatch, run: &Run) -> Result<()> {
        let rows = batch.num_rows();
        self.fit_states();
        let args = run.aggregates.iter().map(|a| a.arg().evaluate(batch)).collect::<Result<Vec<_>>>()?;
        for (state, arg) in self.states.iter_mut().zip(&args) {
            let has_nulls = match arg {
                ColumnarValue::Scalar(v) => v.is_null(),
                ColumnarValue::Array(a) => a.logical_null_count() > 0,
            };
            if has_nulls {
                state.make_explicit(&self.tally);
            }
        }
        // The tally rides along with the first plain sum: two independent updates per row
        // overlap, two loops of one each would wait on memory twice.
        let mut tally = Some(&mut self.tally[..]);
        for (state, arg) in self.states.iter_mut().zip(args) {
            add_values(state, &self.rows, arg, rows, &mut tally)?;
        }
        if let Some(t) = tally {
            self.rows.iter().for_each(|&s| t[s as usize] += 1);
        }
        Ok(())
    }

    /// The groups seen and their states, leaving none: small keys in key order with the
    /// null key last, addresses in the order first seen.
    fn take(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let tally = &self.tally;
        let tags = match (&self.slots, &mut self.next_tag) {
            (Slots::Runs(r), Some(next)) => Some(r.run_tags(next)),
            _ => None,
        };
        let (present, keys): (Vec<usize>, Vec<ArrayRef>) = match &mut self.slots {
            Slots::Dense { width } => {
                let w = *width;
                let present: Vec<usize> = (0..=w).filter(|&i| tally[i] > 0).collect();
                let key: ArrayRef = if w == 1 << 8 {
                    Arc::new(present.iter().map(|&i| (i < w).then_some(i as u8)).collect::<UInt8Array>())
                } else {
                    Arc::new(present.iter().map(|&i| (i < w).then_some(i as u16)).collect::<UInt16Array>())
                };
                (present, vec![key])
            }
            Slots::Hashed { width, map, keys, null } => {
                let held = &keys[1..];
                let key =
                    fixed_size_binary(*width, held.len(), |s| held[s].is_some(), |s| held[s].unwrap_or(0))?;
                let present = (1..keys.len()).collect();
                map.clear();
                keys.truncate(1);
                *null = None;
                (present, vec![key])
            }
            Slots::Runs(r) => ((0..r.len()).collect(), r.take()?),
        };
        let mut columns = keys;
        columns.extend(self.states.iter().map(|s| s.column(&present, tally)));
        columns.extend(tags.map(|t| Arc::new(UInt64Array::from(t)) as ArrayRef));
        self.tally.clear();
        self.states.iter_mut().for_each(State::reset);
        self.fit_states();
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// The rows a filter keeps (a null predicate drops its row); `None` when it keeps all.
fn kept_rows(predicate: ColumnarValue, rows: usize) -> Result<Option<BooleanBuffer>> {
    Ok(match predicate {
        ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))) => None,
        ColumnarValue::Scalar(ScalarValue::Boolean(_)) => Some(BooleanBuffer::new_unset(rows)),
        ColumnarValue::Array(a) if a.data_type() == &DataType::Boolean => {
            let a = a.as_boolean();
            Some(match a.nulls() {
                Some(n) => a.values() & n.inner(),
                None => a.values().clone(),
            })
        }
        other => return internal_err!("filter predicate is {}", other.data_type()),
    })
}

fn dense_slots<T: ArrowPrimitiveType>(
    out: &mut Vec<u32>,
    width: usize,
    keys: &PrimitiveArray<T>,
    keep: Option<&BooleanBuffer>,
) where
    T::Native: Into<u32>,
{
    let (null_slot, dropped) = (width as u32, width as u32 + 1);
    match keys.nulls() {
        None => out.extend(keys.values().iter().map(|&v| v.into())),
        Some(n) => out
            .extend(keys.values().iter().zip(n.iter()).map(|(&v, ok)| if ok { v.into() } else { null_slot })),
    }
    if let Some(keep) = keep {
        // A select per row, not a branch: filters keep an unpredictable share of rows.
        let start = out.len() - keys.len();
        for (block, bits) in out[start..].chunks_mut(64).zip(keep.bit_chunks().iter_padded()) {
            for (j, s) in block.iter_mut().enumerate() {
                let kept = ((bits >> j) as u32 & 1).wrapping_neg();
                *s = (*s & kept) | (dropped & !kept);
            }
        }
    }
}

/// Slots of address keys; a run of equal keys (sorted input) is looked up once.
fn hashed_slots(
    out: &mut Vec<u32>,
    width: usize,
    keys: &FixedSizeBinaryArray,
    keep: Option<&BooleanBuffer>,
    map: &mut HashMap<u128, u32, Seeded>,
    seen: &mut Vec<Option<u128>>,
    null: &mut Option<u32>,
) {
    let mut last: Option<(u128, u32)> = None;
    let mut slot_of = |k: Option<u128>| {
        let mut new_slot = |k| {
            seen.push(k);
            (seen.len() - 1) as u32
        };
        match (k, last) {
            (None, _) => *null.get_or_insert_with(|| new_slot(None)),
            (Some(k), Some((lk, ls))) if lk == k => ls,
            (Some(k), _) => {
                let s = *map.entry(k).or_insert_with(|| new_slot(Some(k)));
                last = Some((k, s));
                s
            }
        }
    };
    // value_data() starts at the array's first value, also for a slice.
    let values = keys.value_data().chunks_exact(width).take(keys.len()).map(left_aligned);
    if keys.nulls().is_none() && keep.is_none() {
        out.extend(values.map(|k| slot_of(Some(k))));
        return;
    }
    let all = BooleanBuffer::new_set(keys.len());
    let valid = keys.nulls().map_or(&all, |n| n.inner());
    // Dropped rows must not become groups, so the filter goes before the lookup.
    let rows = values.zip(valid.iter()).zip(keep.unwrap_or(&all).iter());
    out.extend(rows.map(|((k, ok), want)| if want { slot_of(ok.then_some(k)) } else { HASHED_DROPPED }));
}

/// Up to 16 bytes as a `u128`, left-aligned so that order and equality follow the bytes.
fn left_aligned(v: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    b[..v.len()].copy_from_slice(v);
    u128::from_be_bytes(b)
}

/// A column of `len` values of `width` bytes from left-aligned `u128`s (a null's bytes are
/// zero), written into one buffer rather than one allocation per group.
fn fixed_size_binary(
    width: usize,
    len: usize,
    valid: impl Fn(usize) -> bool,
    value: impl Fn(usize) -> u128,
) -> Result<ArrayRef> {
    let mut bytes = Vec::with_capacity(len * width);
    for s in 0..len {
        bytes.extend_from_slice(&value(s).to_be_bytes()[..width]);
    }
    let nulls = NullBuffer::from_iter((0..len).map(valid));
    Ok(Arc::new(FixedSizeBinaryArray::try_new(width as i32, bytes.into(), Some(nulls))?))
}

/// A hasher for `u128` keys with a per-process random seed: addresses come from the
/// network, and a fixed function would let crafted ones collide.
#[derive(Clone)]
struct Seeded(u64);

impl Seeded {
    fn new() -> Self {
        Self(std::collections::hash_map::RandomState::new().hash_one(0x706c756d62u64))
    }
}

impl BuildHasher for Seeded {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0)
    }
}

struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    // Keys are hashed through write_u128; this only completes the trait.
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.write_u64(b.into()));
    }

    fn write_u64(&mut self, v: u64) {
        // A folded 128-bit multiply (as foldhash): every input bit reaches every output bit.
        let m = u128::from(self.0 ^ v) * u128::from(0x9e37_79b9_7f4a_7c15u64 ^ self.0.rotate_left(23));
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }

    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
}

/// Adds a batch's argument values to their slots' states; `make_explicit` has run if the
/// argument has nulls.
fn add_values(
    state: &mut State,
    slots: &[u32],
    arg: ColumnarValue,
    rows: usize,
    tally: &mut Option<&mut [i64]>,
) -> Result<()> {
    match state {
        State::Count { counts: None } => {}
        State::Count { counts: Some(c) } => match &arg {
            // count(*) counts a non-null literal: every row.
            ColumnarValue::Scalar(v) if !v.is_null() => slots.iter().for_each(|&s| c[s as usize] += 1),
            ColumnarValue::Scalar(_) => {}
            ColumnarValue::Array(a) => match a.logical_nulls() {
                None => slots.iter().for_each(|&s| c[s as usize] += 1),
                Some(n) => {
                    slots.iter().zip(n.iter()).filter(|(_, ok)| *ok).for_each(|(&s, _)| c[s as usize] += 1)
                }
            },
        },
        State::SumU64 { sums, has } => {
            let values = arg.into_array(rows)?;
            let values = values.as_primitive::<UInt64Type>();
            sum_into(sums, has.as_deref_mut(), tally, slots, values, u64::wrapping_add)?
        }
        State::SumI64 { sums, has } => {
            let values = arg.into_array(rows)?;
            let values = values.as_primitive::<Int64Type>();
            sum_into(sums, has.as_deref_mut(), tally, slots, values, i64::wrapping_add)?
        }
    }
    Ok(())
}

fn sum_into<T: ArrowPrimitiveType>(
    sums: &mut [T::Native],
    has: Option<&mut [bool]>,
    tally: &mut Option<&mut [i64]>,
    slots: &[u32],
    values: &PrimitiveArray<T>,
    add: impl Fn(T::Native, T::Native) -> T::Native,
) -> Result<()> {
    let v = values.values();
    // A slice of a batch with nulls elsewhere keeps a null buffer with no nulls in it:
    // that is no null, as for the caller's `logical_null_count`.
    match (values.nulls().filter(|n| n.null_count() > 0), has) {
        (None, None) => match tally.take() {
            Some(t) => {
                for (&s, &x) in slots.iter().zip(v.iter()) {
                    let s = s as usize;
                    sums[s] = add(sums[s], x);
                    t[s] += 1;
                }
            }
            None => {
                for (&s, &x) in slots.iter().zip(v.iter()) {
                    let s = s as usize;
                    sums[s] = add(sums[s], x);
                }
            }
        },
        (None, Some(has)) => {
            for (&s, &x) in slots.iter().zip(v.iter()) {
                let s = s as usize;
                sums[s] = add(sums[s], x);
                has[s] = true;
            }
        }
        (Some(n), Some(has)) => {
            for ((&s, &x), ok) in slots.iter().zip(v.iter()).zip(n.iter()) {
                if ok {
                    let s = s as usize;
                    sums[s] = add(sums[s], x);
                    has[s] = true;
                }
            }
        }
        (Some(_), None) => return internal_err!("a sum over nulls must track its groups"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Two partitions of two batches of 5,000 rows, with runs of 30 equal addresses that
    /// go on across batches; `unique` gives each run its own address, otherwise the 167
    /// addresses of a batch recur in every batch.
    fn table(unique: bool) -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("port", DataType::UInt16, true),
            Field::new("proto", DataType::UInt8, true),
            Field::new("bytes", DataType::UInt64, true),
            Field::new("delta", DataType::Int64, true),
            Field::new("addr", DataType::FixedSizeBinary(16), true),
            Field::new("mac", DataType::FixedSizeBinary(6), true),
            Field::new("late", DataType::Int64, true),
        ]));
        let batches: Vec<RecordBatch> = (0..4u64)
            .map(|b| {
                let n = 5000u64;
                let port = UInt16Array::from_iter(
                    (0..n).map(|i| (i % 97 != 0).then_some(((i * 7919 + b) % 70_000 % 65_536) as u16)),
                );
                let proto =
                    UInt8Array::from_iter((0..n).map(|i| (i % 89 != 0).then_some((i % 3) as u8 * 11)));
                let bytes = UInt64Array::from_iter((0..n).map(|i| (i % 13 != 0).then_some(i * 1000 + b)));
                // A group whose sums all wrap, and values that are all null for some keys.
                let delta =
                    Int64Array::from_iter((0..n).map(|i| (i % 5 != 0).then_some(i64::MAX - i as i64)));
                // Runs of equal addresses (as in sorted files), and nulls.
                let addr = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    (0..n).map(|i| {
                        (i % 101 != 0).then(|| {
                            let run = if unique { (b * n + i) / 30 } else { i / 30 };
                            (u128::from(run) << 64 | 0xffff_0a00_0001).to_be_bytes()
                        })
                    }),
                    16,
                )
                .unwrap();
                let mac = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    (0..n).map(|i| {
                        (i % 7 != 0).then_some([0, 0x50, 0x56, 0, (i % 300 / 256) as u8, (i % 300) as u8])
                    }),
                    6,
                )
                .unwrap();
                // Nulls only in the last batch: states that followed the row tally must turn
                // explicit without losing what came before.
                let late =
                    Int64Array::from_iter((0..n).map(|i| (b < 3 || i % 3 != 0).then_some(i as i64 - 7)));
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(port),
                        Arc::new(proto),
                        Arc::new(bytes),
                        Arc::new(delta),
                        Arc::new(addr),
                        Arc::new(mac),
                        Arc::new(late),
                    ],
                )
                .unwrap()
            })
            .collect();
        MemTable::try_new(schema, vec![batches[..2].to_vec(), batches[2..].to_vec()]).unwrap()
    }

    /// DataFusion alone, or with the rule emitting past `max_groups` and holding at most
    /// `hold_rows` in a final step.
    fn context(dense: Option<(usize, usize)>) -> SessionContext {
        let config = SessionConfig::new().with_target_partitions(2).with_batch_size(1000);
        let mut state = SessionStateBuilder::new().with_config(config).with_default_features();
        if let Some((max_groups, hold_rows)) = dense {
            let rule = PartialAggregate {
                max_groups,
                run_column: Some("addr".into()),
                hold_rows,
                sorted_files_only: false,
            };
            state = state.with_physical_optimizer_rule(Arc::new(rule));
        }
        let ctx = SessionContext::new_with_state(state.build());
        ctx.register_table("t", Arc::new(table(false))).unwrap();
        ctx.register_table("u", Arc::new(table(true))).unwrap();
        ctx
    }

    async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
        (pretty_format_batches(&df.collect().await.unwrap()).unwrap().to_string(), text)
    }

    #[tokio::test]
    async fn single_key_grouping_answers_like_datafusion() {
        let plain = context(None);
        // Holding every row in a final step over runs, and holding few: past 125 rows a
        // partition stops holding where keys recur, past 2000 everywhere.
        let (dense, folding) = (context(Some((100, run_final::HOLD_ROWS))), context(Some((100, 4000))));
        // Emitting only at the end: runs go on across batches in the same groups.
        let whole = context(Some((MAX_GROUPS, run_final::HOLD_ROWS)));
        for sql in [
            "SELECT port, count(*) AS n, sum(bytes) AS b FROM t GROUP BY port ORDER BY port NULLS LAST",
            "SELECT proto, count(bytes) AS n, sum(bytes) AS b, sum(delta) AS d FROM t GROUP BY proto ORDER BY proto",
            "SELECT port, count(*) AS n FROM t WHERE proto = 11 GROUP BY port ORDER BY n DESC, port LIMIT 20",
            "SELECT proto, sum(bytes) AS b FROM t WHERE port IS NULL GROUP BY proto ORDER BY proto",
            // Behind a filter whose predicate is null where bytes is null.
            "SELECT port, count(*) AS n, sum(delta) AS d FROM t WHERE bytes > 2000000 GROUP BY port ORDER BY port NULLS FIRST",
            // Addresses: more groups than the test's 100 per emission, so states are emitted
            // several times and merged above.
            "SELECT addr, count(*) AS n, sum(bytes) AS b FROM t GROUP BY addr ORDER BY b DESC NULLS LAST, addr LIMIT 50",
            "SELECT addr, count(*) AS n FROM t WHERE proto = 11 GROUP BY addr ORDER BY addr NULLS FIRST",
            "SELECT mac, count(*) AS n, sum(delta) AS d FROM t GROUP BY mac ORDER BY mac NULLS FIRST",
            "SELECT port, count(late) AS n, sum(late) AS s, count(*) AS r FROM t GROUP BY port ORDER BY port",
            "SELECT addr, count(late) AS n, sum(late) AS s FROM t WHERE port > 1000 GROUP BY addr ORDER BY addr",
            "SELECT proto, count(late) AS n, sum(late) AS s FROM t WHERE late IS NULL OR late > 100 GROUP BY proto ORDER BY proto",
            // Filters on one small column (answered from a table of its values).
            "SELECT port, count(*) AS n, sum(bytes) AS b FROM t WHERE proto IN (0, 11) OR proto IS NULL GROUP BY port ORDER BY port",
            "SELECT proto, count(*) AS n, sum(delta) AS d FROM t WHERE port BETWEEN 100 AND 30000 GROUP BY proto ORDER BY proto",
            // Keys led by the run column: runs of 40 rows, with nulls in every key; more
            // groups than one emission holds; a run longer than the list of keys.
            "SELECT addr, port, count(*) AS n, sum(bytes) AS b FROM t GROUP BY addr, port ORDER BY addr, port",
            "SELECT mac, addr, proto, sum(delta) AS d, count(late) AS n FROM t GROUP BY mac, addr, proto ORDER BY mac, addr, proto",
            "SELECT proto, addr, count(*) AS n, sum(late) AS s FROM t GROUP BY proto, addr ORDER BY proto, addr",
            "SELECT addr, proto, count(*) AS n FROM t GROUP BY addr, proto ORDER BY addr, proto",
            "SELECT addr, mac, port, proto, count(*) AS n FROM t WHERE bytes > 1000 GROUP BY addr, mac, port, proto ORDER BY n DESC, addr, mac, port, proto LIMIT 40",
            // Addresses of one run each: most groups pass the final step untouched, those
            // of runs split between partitions or emissions are merged.
            "SELECT addr, port, count(*) AS n, sum(bytes) AS b FROM u GROUP BY addr, port ORDER BY b DESC NULLS LAST, addr, port LIMIT 300",
            "SELECT addr, proto, count(*) AS n, sum(delta) AS d, sum(late) AS l FROM u GROUP BY addr, proto ORDER BY addr, proto",
            "SELECT mac, addr, count(*) AS n FROM u WHERE proto = 11 GROUP BY mac, addr HAVING count(*) > 1 ORDER BY n, mac, addr",
            // DataFusion splits a distinct count into a grouping and a plain count.
            "SELECT port, count(DISTINCT proto) AS n FROM t GROUP BY port ORDER BY n DESC, port LIMIT 30",
        ] {
            let (want, want_plan) = run(&plain, sql).await;
            let (got, got_plan) = run(&dense, sql).await;
            assert_eq!(got, want, "{sql}");
            assert_eq!(run(&folding, sql).await.0, want, "{sql}");
            assert_eq!(run(&whole, sql).await.0, want, "{sql}");
            // Every final step over runs here feeds a sort: its partitioning is free.
            let runs = got_plan.contains("runs of the sort key");
            assert_eq!(runs, got_plan.contains("RunFinalExec"), "{sql}\n{got_plan}");
            assert!(!want_plan.contains("PartialAggregateExec"));
            assert!(got_plan.contains("PartialAggregateExec"), "{sql}\n{got_plan}");
            // A filter below one key is taken in, not left to copy the rows it keeps.
            let one_key = got_plan.contains("one key");
            assert_eq!(one_key, !got_plan.contains("runs of the sort key"), "{sql}\n{got_plan}");
            assert_eq!(one_key && sql.contains("WHERE"), got_plan.contains(", filter="), "{sql}\n{got_plan}");
        }
    }

    #[tokio::test]
    async fn run_finals_stay_out_of_plans_that_need_partitioning_by_every_key() {
        let (plain, dense) = (context(None), context(Some((100, run_final::HOLD_ROWS))));
        // A join of partitions hashed by every key on both sides, not one side collected.
        for ctx in [&plain, &dense] {
            for option in
                ["hash_join_single_partition_threshold", "hash_join_single_partition_threshold_rows"]
            {
                ctx.sql(&format!("SET datafusion.optimizer.{option} = 0")).await.unwrap();
            }
        }
        for sql in [
            "SELECT count(*), sum(b) FROM (SELECT addr, port, sum(bytes) AS b FROM u GROUP BY addr, port)",
            "SELECT x.addr, x.port, x.b, y.n FROM \
             (SELECT addr, port, sum(bytes) AS b FROM u GROUP BY addr, port) x JOIN \
             (SELECT addr, port, count(*) AS n FROM t GROUP BY addr, port) y \
             ON x.addr = y.addr AND x.port = y.port ORDER BY x.addr, x.port",
        ] {
            let (want, _) = run(&plain, sql).await;
            let (got, plan) = run(&dense, sql).await;
            assert_eq!(got, want, "{sql}");
            assert!(plan.contains("runs of the sort key"), "{sql}\n{plan}");
            assert!(!plan.contains("RunFinalExec"), "{sql}\n{plan}");
            assert!(!plan.contains("CollectLeft"), "{sql}\n{plan}");
        }
    }

    #[test]
    fn a_null_buffer_without_nulls_sums_like_no_buffer() {
        // What a slice of a batch with nulls elsewhere looks like.
        let values = UInt64Array::new(vec![1, 2, 3].into(), Some(NullBuffer::new_valid(3)));
        let (mut sums, mut tally) = (vec![0u64; 2], vec![0i64; 2]);
        let mut t = Some(&mut tally[..]);
        sum_into(&mut sums, None, &mut t, &[0, 1, 0], &values, u64::wrapping_add).expect("summed");
        assert_eq!((sums, tally), (vec![4, 2], vec![2, 1]));
    }

    #[tokio::test]
    async fn other_aggregations_keep_hashing() {
        let dense = context(Some((100, run_final::HOLD_ROWS)));
        for sql in [
            "SELECT bytes, count(*) FROM t GROUP BY bytes",
            "SELECT port, proto, count(*) FROM t GROUP BY port, proto",
            // No run column, or keys that do not pack.
            "SELECT mac, port, count(*) FROM t GROUP BY mac, port",
            "SELECT addr, bytes, count(*) FROM t GROUP BY addr, bytes",
            "SELECT addr, mac, late, count(*) FROM t GROUP BY addr, mac, late",
            "SELECT port, max(bytes) FROM t GROUP BY port",
            "SELECT port, sum(bytes) FILTER (WHERE proto = 0) FROM t GROUP BY port",
        ] {
            let (_, plan) = run(&dense, sql).await;
            assert!(!plan.contains("PartialAggregateExec"), "{sql}\n{plan}");
        }
    }
}
