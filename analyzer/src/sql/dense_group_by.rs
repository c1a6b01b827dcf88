//! Grouping by a one- or two-byte column without hashing.
//!
//! Ports, protocols, TCP flags and DSCP are what flow questions group by most, and they
//! have at most 65,536 values. DataFusion's partial aggregation hashes every row into a
//! table (a sixth of the CPU of "top TCP ports over a day"); here the key indexes an array
//! directly, as DuckDB's perfect hash aggregate does. [`DenseGroupBy`] replaces a partial
//! `AggregateExec` whose one group key is a `UInt8` or `UInt16` expression and whose
//! aggregates are plain `count` and `sum` of 64-bit integers, and emits the same partial
//! states, so the final aggregation above it is unchanged.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, UInt8Array, UInt16Array, UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef, UInt8Type, UInt16Type, UInt64Type};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, config::ConfigOptions, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ColumnarValue, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

/// The physical optimizer rule; runs after DataFusion's own rules.
#[derive(Debug, Default)]
pub struct DenseGroupBy;

impl PhysicalOptimizerRule for DenseGroupBy {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            let dense = p.downcast_ref::<AggregateExec>().and_then(DenseAggregateExec::replacing);
            Ok(match dense {
                Some(d) => Transformed::yes(Arc::new(d) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(p),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "plumb_dense_group_by"
    }

    fn schema_check(&self) -> bool {
        true
    }
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

/// A partial aggregation over a one- or two-byte key, by array index.
#[derive(Debug)]
pub struct DenseAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    key: Arc<dyn PhysicalExpr>,
    key_type: DataType,
    aggregates: Vec<Aggregate>,
    /// The partial states' schema of the aggregation this replaces.
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl DenseAggregateExec {
    /// The dense form of `agg`, when it is a partial aggregation this can run.
    fn replacing(agg: &AggregateExec) -> Option<Self> {
        let groups = agg.group_expr();
        if *agg.mode() != AggregateMode::Partial
            || agg.limit_options().is_some()
            || !groups.is_single()
            || groups.expr().len() != 1
            || agg.filter_expr().iter().any(Option::is_some)
        {
            return None;
        }
        let input_schema = agg.input().schema();
        let key = Arc::clone(&groups.expr()[0].0);
        let key_type = key.data_type(&input_schema).ok()?;
        if !matches!(key_type, DataType::UInt8 | DataType::UInt16) {
            return None;
        }
        let schema = agg.schema();
        if schema.fields().len() != 1 + agg.aggr_expr().len() {
            return None;
        }
        let mut aggregates = Vec::new();
        for (i, a) in agg.aggr_expr().iter().enumerate() {
            let [arg] = a.expressions().try_into().ok()?;
            if a.is_distinct() || !a.order_bys().is_empty() {
                return None;
            }
            let arg_type = arg.data_type(&input_schema).ok()?;
            let state_type = schema.field(i + 1).data_type();
            aggregates.push(match (a.fun().name(), &arg_type, state_type) {
                ("count", _, DataType::Int64) => Aggregate::Count(arg),
                ("sum", DataType::UInt64, DataType::UInt64) => Aggregate::SumU64(arg),
                ("sum", DataType::Int64, DataType::Int64) => Aggregate::SumI64(arg),
                _ => return None,
            });
        }
        let partitions = agg.input().output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Some(Self {
            input: Arc::clone(agg.input()),
            key,
            key_type,
            aggregates,
            schema,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            key: Arc::clone(&self.key),
            key_type: self.key_type.clone(),
            aggregates: self.aggregates.clone(),
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for DenseAggregateExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let states: Vec<&str> = self.schema.fields().iter().skip(1).map(|f| f.name().as_str()).collect();
        write!(f, "DenseAggregateExec: gby=[{}], aggr=[{}]", self.key, states.join(", "))
    }
}

impl ExecutionPlan for DenseAggregateExec {
    fn name(&self) -> &str {
        "DenseAggregateExec"
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
        let mut r = f(&self.key)?;
        for a in &self.aggregates {
            if r == TreeNodeRecursion::Stop {
                break;
            }
            r = f(a.arg())?;
        }
        Ok(r)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Ok([input]) = <[_; 1]>::try_from(children) else {
            return internal_err!("DenseAggregateExec has one input");
        };
        Ok(Arc::new(self.with_input(input)))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context)?;
        let width = if self.key_type == DataType::UInt8 { 1 << 8 } else { 1 << 16 };
        let mut groups = Groups::new(width, &self.aggregates);
        let (key, aggregates, schema) =
            (Arc::clone(&self.key), self.aggregates.clone(), Arc::clone(&self.schema));
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let out_schema = Arc::clone(&schema);
        let once = futures::stream::once(async move {
            while let Some(batch) = input.next().await {
                let batch = batch?;
                let _timer = metrics.elapsed_compute().timer();
                groups.add(&batch, &key, &aggregates)?;
            }
            let _timer = metrics.elapsed_compute().timer();
            let out = groups.finish(&schema)?;
            metrics.record_output(out.num_rows());
            Ok(out)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, once)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Per-key state: slot `width` holds the null key.
struct Groups {
    width: usize,
    seen: Vec<bool>,
    states: Vec<State>,
    slots: Vec<u32>,
}

enum State {
    Count(Vec<i64>),
    SumU64(Vec<u64>, Vec<bool>),
    SumI64(Vec<i64>, Vec<bool>),
}

impl Groups {
    fn new(width: usize, aggregates: &[Aggregate]) -> Self {
        let n = width + 1;
        let states = aggregates
            .iter()
            .map(|a| match a {
                Aggregate::Count(_) => State::Count(vec![0; n]),
                Aggregate::SumU64(_) => State::SumU64(vec![0; n], vec![false; n]),
                Aggregate::SumI64(_) => State::SumI64(vec![0; n], vec![false; n]),
            })
            .collect();
        Self { width, seen: vec![false; n], states, slots: Vec::new() }
    }

    fn add(
        &mut self,
        batch: &RecordBatch,
        key: &Arc<dyn PhysicalExpr>,
        aggregates: &[Aggregate],
    ) -> Result<()> {
        let rows = batch.num_rows();
        let keys = key.evaluate(batch)?.into_array(rows)?;
        self.slots.clear();
        match keys.data_type() {
            DataType::UInt8 => self.slots_of(keys.as_primitive::<UInt8Type>(), |v| v as u32),
            DataType::UInt16 => self.slots_of(keys.as_primitive::<UInt16Type>(), |v| v as u32),
            other => return internal_err!("DenseAggregateExec key is {other}"),
        }
        for &s in &self.slots {
            self.seen[s as usize] = true;
        }
        for (state, agg) in self.states.iter_mut().zip(aggregates) {
            let arg = agg.arg().evaluate(batch)?;
            add_values(state, &self.slots, arg, rows)?;
        }
        Ok(())
    }

    fn slots_of<T>(
        &mut self,
        keys: &datafusion::arrow::array::PrimitiveArray<T>,
        slot: impl Fn(T::Native) -> u32,
    ) where
        T: datafusion::arrow::datatypes::ArrowPrimitiveType,
    {
        let null_slot = self.width as u32;
        match keys.nulls() {
            None => self.slots.extend(keys.values().iter().map(|&v| slot(v))),
            Some(n) => self.slots.extend(
                keys.values().iter().zip(n.iter()).map(|(&v, ok)| if ok { slot(v) } else { null_slot }),
            ),
        }
    }

    /// The keys seen, in key order with the null key last, and their states.
    fn finish(&self, schema: &SchemaRef) -> Result<RecordBatch> {
        let present: Vec<usize> = (0..=self.width).filter(|&i| self.seen[i]).collect();
        let valid = |i: &usize| *i < self.width;
        let key: ArrayRef = if self.width == 1 << 8 {
            Arc::new(present.iter().map(|i| valid(i).then_some(*i as u8)).collect::<UInt8Array>())
        } else {
            Arc::new(present.iter().map(|i| valid(i).then_some(*i as u16)).collect::<UInt16Array>())
        };
        let mut columns = vec![key];
        for state in &self.states {
            columns.push(match state {
                State::Count(c) => Arc::new(Int64Array::from_iter_values(present.iter().map(|&i| c[i]))),
                State::SumU64(s, has) => Arc::new(UInt64Array::new(
                    present.iter().map(|&i| s[i]).collect(),
                    Some(NullBuffer::from_iter(present.iter().map(|&i| has[i]))),
                )),
                State::SumI64(s, has) => Arc::new(Int64Array::new(
                    present.iter().map(|&i| s[i]).collect(),
                    Some(NullBuffer::from_iter(present.iter().map(|&i| has[i]))),
                )),
            });
        }
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

fn add_values(state: &mut State, slots: &[u32], arg: ColumnarValue, rows: usize) -> Result<()> {
    if let State::Count(c) = state {
        match &arg {
            // count(*) counts a non-null literal: every row.
            ColumnarValue::Scalar(v) if !v.is_null() => slots.iter().for_each(|&s| c[s as usize] += 1),
            ColumnarValue::Scalar(_) => {}
            ColumnarValue::Array(a) => match a.logical_nulls() {
                None => slots.iter().for_each(|&s| c[s as usize] += 1),
                Some(n) => {
                    slots.iter().zip(n.iter()).filter(|(_, ok)| *ok).for_each(|(&s, _)| c[s as usize] += 1)
                }
            },
        }
        return Ok(());
    }
    let values = arg.into_array(rows)?;
    match state {
        State::SumU64(sums, has) => {
            sum_into(sums, has, slots, values.as_primitive::<UInt64Type>(), u64::wrapping_add)
        }
        State::SumI64(sums, has) => {
            sum_into(sums, has, slots, values.as_primitive::<Int64Type>(), i64::wrapping_add)
        }
        State::Count(_) => {}
    }
    Ok(())
}

fn sum_into<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
    sums: &mut [T::Native],
    has: &mut [bool],
    slots: &[u32],
    values: &datafusion::arrow::array::PrimitiveArray<T>,
    add: impl Fn(T::Native, T::Native) -> T::Native,
) {
    let v = values.values();
    match values.nulls() {
        None => {
            for (&s, &x) in slots.iter().zip(v.iter()) {
                let s = s as usize;
                sums[s] = add(sums[s], x);
                has[s] = true;
            }
        }
        Some(n) => {
            for ((&s, &x), ok) in slots.iter().zip(v.iter()).zip(n.iter()) {
                if ok {
                    let s = s as usize;
                    sums[s] = add(sums[s], x);
                    has[s] = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    fn table() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("port", DataType::UInt16, true),
            Field::new("proto", DataType::UInt8, true),
            Field::new("bytes", DataType::UInt64, true),
            Field::new("delta", DataType::Int64, true),
        ]));
        let batches = (0..3u64)
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
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(port), Arc::new(proto), Arc::new(bytes), Arc::new(delta)],
                )
                .unwrap()
            })
            .collect();
        MemTable::try_new(schema, vec![batches]).unwrap()
    }

    fn context(dense: bool) -> SessionContext {
        let config = SessionConfig::new().with_target_partitions(2).with_batch_size(1000);
        let mut state = SessionStateBuilder::new().with_config(config).with_default_features();
        if dense {
            state = state.with_physical_optimizer_rule(Arc::new(DenseGroupBy));
        }
        let ctx = SessionContext::new_with_state(state.build());
        ctx.register_table("t", Arc::new(table())).unwrap();
        ctx
    }

    async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
        (pretty_format_batches(&df.collect().await.unwrap()).unwrap().to_string(), text)
    }

    #[tokio::test]
    async fn dense_grouping_answers_like_hashing() {
        let (plain, dense) = (context(false), context(true));
        for sql in [
            "SELECT port, count(*) AS n, sum(bytes) AS b FROM t GROUP BY port ORDER BY port NULLS LAST",
            "SELECT proto, count(bytes) AS n, sum(bytes) AS b, sum(delta) AS d FROM t GROUP BY proto ORDER BY proto",
            "SELECT port, count(*) AS n FROM t WHERE proto = 11 GROUP BY port ORDER BY n DESC, port LIMIT 20",
            "SELECT proto, sum(bytes) AS b FROM t WHERE port IS NULL GROUP BY proto ORDER BY proto",
            // Behind a filter whose predicate is null where bytes is null.
            "SELECT port, count(*) AS n, sum(delta) AS d FROM t WHERE bytes > 2000000 GROUP BY port ORDER BY port NULLS FIRST",
            // DataFusion splits a distinct count into a grouping and a plain count.
            "SELECT port, count(DISTINCT proto) AS n FROM t GROUP BY port ORDER BY n DESC, port LIMIT 30",
        ] {
            let (want, want_plan) = run(&plain, sql).await;
            let (got, got_plan) = run(&dense, sql).await;
            assert_eq!(got, want, "{sql}");
            assert!(!want_plan.contains("DenseAggregateExec"));
            assert!(got_plan.contains("DenseAggregateExec"), "{sql}\n{got_plan}");
        }
    }

    #[tokio::test]
    async fn other_aggregations_keep_hashing() {
        let dense = context(true);
        for sql in [
            "SELECT bytes, count(*) FROM t GROUP BY bytes",
            "SELECT port, proto, count(*) FROM t GROUP BY port, proto",
            "SELECT port, max(bytes) FROM t GROUP BY port",
            "SELECT port, sum(bytes) FILTER (WHERE proto = 0) FROM t GROUP BY port",
        ] {
            let (_, plan) = run(&dense, sql).await;
            assert!(!plan.contains("DenseAggregateExec"), "{sql}\n{plan}");
        }
    }
}
