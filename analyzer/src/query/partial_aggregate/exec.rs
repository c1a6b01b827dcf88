//! The operator that runs a partial aggregation: what it replaces, how it shows in a
//! plan, and the stream of one partition.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};

use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;

use super::groups::{Groups, PartitionWork};
use super::value_table::ValueTable;
use super::{PartialAggregate, RUN_TAG, below, footer_sort_column, runs, sorted_files};

/// One aggregate and the state it keeps per key.
#[derive(Debug, Clone)]
pub(super) enum Aggregate {
    /// `count(arg)`: rows where `arg` is not null.
    Count(Arc<dyn PhysicalExpr>),
    /// `sum(arg)` of `UInt64` (wrapping, like DataFusion's); null where no value was seen.
    SumU64(Arc<dyn PhysicalExpr>),
    /// `sum(arg)` of `Int64`.
    SumI64(Arc<dyn PhysicalExpr>),
}

impl Aggregate {
    pub(super) fn arg(&self) -> &Arc<dyn PhysicalExpr> {
        match self {
            Aggregate::Count(a) | Aggregate::SumU64(a) | Aggregate::SumI64(a) => a,
        }
    }
}

/// How the group keys map to slots.
#[derive(Debug, Clone)]
pub(super) enum Grouping {
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
    pub(super) input: Arc<dyn ExecutionPlan>,
    /// The predicate of a filter taken in from below, so that rows it drops are never
    /// copied: they go to a slot that is not emitted.
    pub(super) filter: Option<Arc<dyn PhysicalExpr>>,
    pub(super) keys: Vec<Arc<dyn PhysicalExpr>>,
    pub(super) grouping: Grouping,
    pub(super) aggregates: Vec<Aggregate>,
    /// The partial states' schema of the aggregation this replaces.
    pub(super) schema: SchemaRef,
    pub(super) max_groups: usize,
    /// Whether each group carries the tag of the run it came from, for [`run_final`].
    pub(super) tagged: bool,
    /// Whether the input comes in long runs of the run key: read from files sorted by it.
    pub(super) sorted: bool,
    pub(super) properties: Arc<PlanProperties>,
    pub(super) metrics: ExecutionPlanMetricsSet,
}

impl PartialAggregateExec {
    /// This form of `agg`, when it is a partial aggregation this can run.
    pub(super) fn replacing(agg: &AggregateExec, rule: &PartialAggregate) -> Option<Self> {
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
        let run_column = rule.run_column.clone().or_else(|| footer_sort_column(input));
        let keys: Vec<_> =
            groups.expr().iter().map(|(k, _)| below(k, projection.as_deref())).collect::<Option<_>>()?;
        let types: Vec<_> = keys.iter().map(|k| k.data_type(&input_schema).ok()).collect::<Option<_>>()?;
        let grouping = match types.as_slice() {
            [t @ (DataType::UInt8 | DataType::UInt16)] => Grouping::Single(t.clone()),
            [t @ DataType::FixedSizeBinary(w)] if (1..=16).contains(w) => Grouping::Single(t.clone()),
            [_] => return None,
            _ => Grouping::Runs(runs::Layout::of(&keys, &types, run_column.as_deref()?)?),
        };
        let grouping_sorted = matches!(grouping, Grouping::Runs(_)).then(|| run_column.clone()).flatten();
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
    pub(super) fn tagged(&self) -> Option<Self> {
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

    pub(super) fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
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
        let run = PartitionWork {
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
pub(super) fn visit<'a>(
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
pub(super) fn one_input(
    children: Vec<Arc<dyn ExecutionPlan>>,
    operator: &str,
) -> Result<Arc<dyn ExecutionPlan>> {
    match <[_; 1]>::try_from(children) {
        Ok([input]) => Ok(input),
        Err(_) => internal_err!("{operator} has one input"),
    }
}
