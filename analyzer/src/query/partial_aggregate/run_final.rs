//! The final step of a run aggregation: most groups are already final.
//!
//! A run aggregation (`runs.rs`) emits the groups of one source run together, each key
//! once. Over a compacted hour nearly every source is one run in one partition, so its
//! groups need no merging at all: for the top conversations of an hour the partial step
//! emitted 2.37 M groups of 2.33 M, and DataFusion's final step spent a quarter of the
//! query's CPU hashing each of them into a table only to find it new. [`RunFinalExec`]
//! takes the partial step's groups tagged with their run, hash-partitioned by the run key
//! alone, and holds them until its input ends. A run key seen with a single tag passes
//! straight through; the groups of keys seen in several runs (a source split between
//! partitions or emissions, or flush files in arrival order) are merged by whole key.
//! Past its share of [`HOLD_ROWS`] held rows it stops holding and merges everything, so
//! memory stays that of a plain final aggregation.
//!
//! Its output is partitioned by the run key alone, not by every key, so it replaces only
//! final steps whose consumers do not care how rows are partitioned: sorts, filters and
//! projections up to a merge of partitions.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{SchemaRef, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

use super::{
    Aggregate, Grouping, Groups, PartialAggregateExec, PartitionWork, Seeded, left_aligned, one_input, runs,
    seeded, visit,
};

/// Rows held in all partitions together before merging everything instead (about 50
/// bytes each, so 400 MB): each partition holds its share.
pub const HOLD_ROWS: usize = 8 << 20;

/// The share of [`HOLD_ROWS`] after which holding goes on only if most rows held so far
/// belong to run keys seen in one run. Where keys recur (a day of hourly files has most
/// sources in every hour), holding only delays merging them and costs memory: over
/// unsorted rows, where that is all there is, an hour took 1.9 s instead of 1.25 s.
const CHECK_AFTER: usize = 16;

/// Replaces, top-down, the final steps over run aggregations whose output partitioning
/// no consumer relies on.
pub fn replace_finals(
    plan: Arc<dyn ExecutionPlan>,
    free: bool,
    hold_rows: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    let any = plan.as_ref() as &dyn std::any::Any;
    // Whether the children's partitioning is free too: a merge of partitions ends what
    // it means; per-partition sorts, filters and projections pass it on.
    let children_free = if any.is::<CoalescePartitionsExec>() || any.is::<SortPreservingMergeExec>() {
        true
    } else if any.is::<SortExec>() || any.is::<FilterExec>() || any.is::<ProjectionExec>() {
        free
    } else {
        false
    };
    let plan = match plan.downcast_ref::<AggregateExec>() {
        Some(agg) if free => RunFinalExec::replacing(agg, hold_rows)?.unwrap_or(plan),
        _ => plan,
    };
    let children = plan.children().into_iter().cloned().collect::<Vec<_>>();
    let replaced: Vec<_> = children
        .iter()
        .map(|c| replace_finals(Arc::clone(c), children_free, hold_rows))
        .collect::<Result<_>>()?;
    if children.iter().zip(&replaced).all(|(a, b)| Arc::ptr_eq(a, b)) {
        return Ok(plan);
    }
    plan.replace_children(replaced, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
}

/// The final step of a run aggregation whose groups carry their run's tag.
#[derive(Debug)]
pub struct RunFinalExec {
    /// The tagged partial step, hash-partitioned by its run key.
    input: Arc<dyn ExecutionPlan>,
    layout: runs::Layout,
    /// Group keys, then one state per aggregate, then the tag, in the input.
    keys: usize,
    /// Each aggregate's merge: a sum of its partial states.
    merges: Vec<Aggregate>,
    schema: SchemaRef,
    /// Rows this partition holds before every group is merged instead (its share of
    /// [`HOLD_ROWS`]).
    hold_rows: usize,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RunFinalExec {
    /// This form of `agg` when it is the final step, over a hash repartition, of a run
    /// aggregation.
    fn replacing(agg: &AggregateExec, hold_rows: usize) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(parts) = Self::parts(agg) else { return Ok(None) };
        let (partial, n) = parts;
        let Some(tagged) = partial.tagged() else { return Ok(None) };
        let Grouping::Runs(layout) = &partial.grouping else { return Ok(None) };
        let (k, run) = (partial.keys.len(), layout.run());
        let states = tagged.schema.fields().clone();
        let merges: Vec<Aggregate> = partial
            .aggregates
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let state: Arc<dyn PhysicalExpr> = Arc::new(Column::new(states[k + i].name(), k + i));
                match a {
                    Aggregate::Count(_) | Aggregate::SumI64(_) => Aggregate::SumI64(state),
                    Aggregate::SumU64(_) => Aggregate::SumU64(state),
                }
            })
            .collect();
        let by_run = |name: &str| vec![Arc::new(Column::new(name, run)) as Arc<dyn PhysicalExpr>];
        let input = RepartitionExec::try_new(
            Arc::new(tagged) as Arc<dyn ExecutionPlan>,
            Partitioning::Hash(by_run(states[run].name()), n),
        )?;
        let schema = agg.schema();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::Hash(by_run(schema.field(run).name()), n),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(Some(Arc::new(Self {
            input: Arc::new(input),
            layout: layout.clone(),
            keys: k,
            merges,
            schema,
            hold_rows: (hold_rows / n).max(1),
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        })))
    }

    /// The run aggregation below `agg` and the partition count, when `agg` is the final
    /// step of exactly its keys and states.
    fn parts(agg: &AggregateExec) -> Option<(&PartialAggregateExec, usize)> {
        if *agg.mode() != AggregateMode::FinalPartitioned
            || agg.limit_options().is_some()
            || !agg.group_expr().is_single()
            || agg.filter_expr().iter().any(Option::is_some)
        {
            return None;
        }
        let repartition = agg.input().downcast_ref::<RepartitionExec>()?;
        let Partitioning::Hash(_, n) = repartition.partitioning() else { return None };
        if repartition.preserve_order() {
            return None;
        }
        let partial = repartition.input().downcast_ref::<PartialAggregateExec>()?;
        let k = partial.keys.len();
        let in_order = agg
            .group_expr()
            .expr()
            .iter()
            .enumerate()
            .all(|(i, (e, _))| e.downcast_ref::<Column>().is_some_and(|c| c.index() == i));
        let (out, states) = (agg.schema(), &partial.schema);
        // A final aggregate's value has its partial state's type: a sum of sums, a sum of counts.
        let same_types = out.fields().len() == states.fields().len()
            && (k..out.fields().len()).all(|i| out.field(i).data_type() == states.field(i).data_type());
        let same_aggregates = agg.aggr_expr().len() == partial.aggregates.len()
            && agg.aggr_expr().iter().zip(&partial.aggregates).all(|(a, p)| {
                matches!(
                    (a.fun().name(), p),
                    ("count", Aggregate::Count(_)) | ("sum", Aggregate::SumU64(_) | Aggregate::SumI64(_))
                )
            });
        (in_order && agg.group_expr().expr().len() == k && same_types && same_aggregates)
            .then_some((partial, *n))
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            layout: self.layout.clone(),
            keys: self.keys,
            merges: self.merges.clone(),
            schema: Arc::clone(&self.schema),
            hold_rows: self.hold_rows,
            properties: Arc::clone(&self.properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for RunFinalExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<&str> =
            self.schema.fields().iter().take(self.keys).map(|f| f.name().as_str()).collect();
        write!(f, "RunFinalExec: gby=[{}], groups of one run pass through", keys.join(", "))
    }
}

impl ExecutionPlan for RunFinalExec {
    fn name(&self) -> &str {
        "RunFinalExec"
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
        visit(self.merges.iter().map(Aggregate::arg), f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(self.with_input(one_input(children, "RunFinalExec")?)))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context)?;
        let keys = (0..self.keys).map(|i| {
            let name = self.input.schema().field(i).name().clone();
            Arc::new(Column::new(&name, i)) as Arc<dyn PhysicalExpr>
        });
        let run = PartitionWork {
            filter: None,
            table: None,
            keys: keys.collect(),
            aggregates: self.merges.clone(),
            schema: Arc::clone(&self.schema),
            max_groups: usize::MAX,
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let mut merge = Merge {
            groups: Groups::new(&Grouping::Global(self.layout.clone()), &self.merges),
            run_key: self.layout.run(),
            tag: self.keys + self.merges.len(),
            held: Vec::new(),
            held_rows: Some(0),
            hold_rows: self.hold_rows,
            out: Vec::new(),
        };
        let finish = async move {
            while let Some(batch) = input.next().await {
                let batch = batch?;
                let _timer = run.metrics.elapsed_compute().timer();
                merge.add(batch, &run)?;
            }
            let _timer = run.metrics.elapsed_compute().timer();
            merge.finish(&run)
        };
        let out = futures::stream::once(finish).flat_map(|r| {
            let batches = match r {
                Ok(batches) => batches.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(batches)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), out)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One partition's held groups, merged groups and output.
struct Merge {
    /// Groups of run keys seen in several runs, merged by whole key.
    groups: Groups,
    /// Where the run key and the tag are in the input.
    run_key: usize,
    tag: usize,
    held: Vec<RecordBatch>,
    /// Rows held; `None` once holding stopped and every row is merged.
    held_rows: Option<usize>,
    hold_rows: usize,
    out: Vec<RecordBatch>,
}

/// A run key as a map key: its bytes left-aligned, and whether it is null.
type RunKey = (u128, bool);

impl Merge {
    fn add(&mut self, batch: RecordBatch, run: &PartitionWork) -> Result<()> {
        let Some(before) = self.held_rows else { return self.groups.add(&batch, run) };
        let rows = before + batch.num_rows();
        self.held_rows = Some(rows);
        self.held.push(batch);
        let check = self.hold_rows / CHECK_AFTER;
        if rows > self.hold_rows || (before <= check && rows > check && self.mostly_merged()?) {
            self.held_rows = None;
            for b in std::mem::take(&mut self.held) {
                self.groups.add(&b, run)?;
            }
        }
        Ok(())
    }

    /// The output: held groups of keys seen in one run as they are, then the merged groups.
    fn finish(mut self, run: &PartitionWork) -> Result<Vec<RecordBatch>> {
        let runs = self.runs_per_key()?;
        for batch in std::mem::take(&mut self.held) {
            let once = self.seen_once(&batch, &runs)?;
            let passing = once.count_set_bits();
            if passing > 0 {
                let b = if passing == batch.num_rows() {
                    batch.clone()
                } else {
                    filter_record_batch(&batch, &once.clone().into())?
                };
                self.out.push(self.output(&b, run)?);
            }
            if passing < batch.num_rows() {
                self.groups.add(&filter_record_batch(&batch, &(!&once).into())?, run)?;
            }
        }
        let merged = run.emit(&mut self.groups)?;
        if merged.num_rows() > 0 {
            self.out.push(merged);
        }
        Ok(self.out)
    }

    /// Whether most rows held belong to run keys seen in more than one run.
    fn mostly_merged(&self) -> Result<bool> {
        let runs = self.runs_per_key()?;
        let (mut again, mut all) = (0, 0);
        for batch in &self.held {
            let once = self.seen_once(batch, &runs)?;
            again += once.len() - once.count_set_bits();
            all += once.len();
        }
        Ok(again * 2 > all)
    }

    /// For each run key held, whether it was seen in more than one run.
    fn runs_per_key(&self) -> Result<HashMap<RunKey, (u64, bool), Seeded>> {
        let mut runs: HashMap<RunKey, (u64, bool), Seeded> = HashMap::with_hasher(seeded());
        for batch in &self.held {
            let mut last = None;
            for (key, tag) in self.keys_and_tags(batch)? {
                if last == Some((key, tag)) {
                    continue;
                }
                last = Some((key, tag));
                runs.entry(key).and_modify(|(first, again)| *again |= *first != tag).or_insert((tag, false));
            }
        }
        Ok(runs)
    }

    /// Which rows of `batch` belong to run keys seen in one run only.
    fn seen_once(
        &self,
        batch: &RecordBatch,
        runs: &HashMap<RunKey, (u64, bool), Seeded>,
    ) -> Result<BooleanBuffer> {
        let mut last: Option<(RunKey, bool)> = None;
        let mut once = Vec::with_capacity(batch.num_rows());
        for (key, _) in self.keys_and_tags(batch)? {
            let again = match last {
                Some((k, again)) if k == key => again,
                _ => runs.get(&key).is_none_or(|r| r.1),
            };
            last = Some((key, again));
            once.push(!again);
        }
        Ok(BooleanBuffer::from(once))
    }

    fn keys_and_tags<'a>(&self, batch: &'a RecordBatch) -> Result<impl Iterator<Item = (RunKey, u64)> + 'a> {
        let (Some(keys), Some(tags)) = (
            batch.column(self.run_key).as_fixed_size_binary_opt(),
            batch.column(self.tag).as_primitive_opt::<UInt64Type>(),
        ) else {
            return internal_err!("RunFinalExec input has no run key or tag");
        };
        let width = keys.value_length() as usize;
        let values = keys.value_data().chunks_exact(width.max(1)).take(keys.len());
        Ok(values.enumerate().map(move |(i, v)| {
            let key = if keys.is_valid(i) { (left_aligned(v), false) } else { (0, true) };
            (key, tags.value(i))
        }))
    }

    /// Groups passing through, as output rows: the keys and states, without the tag.
    fn output(&self, batch: &RecordBatch, run: &PartitionWork) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = batch.columns()[..self.tag].to_vec();
        run.metrics.record_output(batch.num_rows());
        Ok(RecordBatch::try_new(Arc::clone(&run.schema), columns)?)
    }
}
