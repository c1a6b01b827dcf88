//! Partial aggregation by one small or address key, without DataFusion's generic hashing.
//!
//! Flow questions group by one column most of the time: a port, protocol, TCP flags or DSCP
//! (at most 65,536 values), or an address (top talkers). DataFusion's partial aggregation
//! hashes every row through its generic group-value machinery; for the top TCP ports of a
//! day that was a quarter of the CPU, for the top sources more than half (a `memcmp` per
//! row). [`SingleKeyAggregate`] replaces a partial `AggregateExec` whose one group key is a
//! `UInt8`/`UInt16` or a `FixedSizeBinary` of up to 16 bytes, and whose aggregates are plain
//! `count` and 64-bit `sum`, with [`SingleKeyAggregateExec`], which emits the same partial
//! states, so the final aggregation above it is unchanged:
//! - a small key indexes an array directly, as DuckDB's perfect hash aggregate does;
//! - an address is read as a `u128` and looked up in a hash map with a per-process seed,
//!   skipping the lookup while the key repeats (compacted files are sorted by source).
//!   Past [`MAX_GROUPS`] groups the states are emitted and started afresh, so memory stays
//!   bounded whatever the number of distinct addresses; the final aggregation merges them.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, Int64Array, RecordBatch, UInt8Array, UInt16Array,
    UInt64Array,
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

/// Groups past which an address aggregation emits its states and starts afresh.
pub const MAX_GROUPS: usize = 1 << 20;

/// The physical optimizer rule; runs after DataFusion's own rules.
#[derive(Debug)]
pub struct SingleKeyAggregate {
    /// Address groups held before their states are emitted ([`MAX_GROUPS`]).
    pub max_groups: usize,
}

impl Default for SingleKeyAggregate {
    fn default() -> Self {
        Self { max_groups: MAX_GROUPS }
    }
}

impl PhysicalOptimizerRule for SingleKeyAggregate {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            let dense = p
                .downcast_ref::<AggregateExec>()
                .and_then(|a| SingleKeyAggregateExec::replacing(a, self.max_groups));
            Ok(match dense {
                Some(d) => Transformed::yes(Arc::new(d) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(p),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "plumb_single_key_aggregate"
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

/// A partial aggregation over one small or address key.
#[derive(Debug)]
pub struct SingleKeyAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    key: Arc<dyn PhysicalExpr>,
    key_type: DataType,
    aggregates: Vec<Aggregate>,
    /// The partial states' schema of the aggregation this replaces.
    schema: SchemaRef,
    max_groups: usize,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SingleKeyAggregateExec {
    /// The dense form of `agg`, when it is a partial aggregation this can run.
    fn replacing(agg: &AggregateExec, max_groups: usize) -> Option<Self> {
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
        if !matches!(key_type, DataType::UInt8 | DataType::UInt16)
            && !matches!(key_type, DataType::FixedSizeBinary(w) if (1..=16).contains(&w))
        {
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
            max_groups,
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
            max_groups: self.max_groups,
            properties: Arc::clone(&self.properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for SingleKeyAggregateExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let states: Vec<&str> = self.schema.fields().iter().skip(1).map(|f| f.name().as_str()).collect();
        write!(f, "SingleKeyAggregateExec: gby=[{}], aggr=[{}]", self.key, states.join(", "))
    }
}

impl ExecutionPlan for SingleKeyAggregateExec {
    fn name(&self) -> &str {
        "SingleKeyAggregateExec"
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
            return internal_err!("SingleKeyAggregateExec has one input");
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
        let input = self.input.execute(partition, context)?;
        let groups = Groups::new(&self.key_type, &self.aggregates);
        let run = Run {
            key: Arc::clone(&self.key),
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
                    groups.add(&b, &run.key, &run.aggregates)
                });
                if let Err(e) = added {
                    return Some((Err(e), None));
                }
                if groups.len() >= run.max_groups {
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

/// What a running partition needs besides its input and groups.
struct Run {
    key: Arc<dyn PhysicalExpr>,
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
    /// A one- or two-byte key is its own slot; slot `width` is the null key.
    Dense { width: usize, seen: Vec<bool> },
    /// A key of `width` bytes, left-aligned in a `u128`, gets the next slot when first seen.
    Hashed { width: usize, map: HashMap<u128, u32, Seeded>, keys: Vec<Option<u128>>, null: Option<u32> },
}

/// Per-slot states of every aggregate.
struct Groups {
    slots: Slots,
    states: Vec<State>,
    /// The slot of each row of the batch being added.
    rows: Vec<u32>,
}

enum State {
    Count(Vec<i64>),
    SumU64(Vec<u64>, Vec<bool>),
    SumI64(Vec<i64>, Vec<bool>),
}

impl State {
    fn of(a: &Aggregate) -> Self {
        match a {
            Aggregate::Count(_) => State::Count(Vec::new()),
            Aggregate::SumU64(_) => State::SumU64(Vec::new(), Vec::new()),
            Aggregate::SumI64(_) => State::SumI64(Vec::new(), Vec::new()),
        }
    }

    fn resize(&mut self, n: usize) {
        match self {
            State::Count(c) => c.resize(n, 0),
            State::SumU64(s, has) => {
                s.resize(n, 0);
                has.resize(n, false);
            }
            State::SumI64(s, has) => {
                s.resize(n, 0);
                has.resize(n, false);
            }
        }
    }

    /// The states of `slots`, in that order.
    fn column(&self, slots: &[usize]) -> ArrayRef {
        let nulls = |has: &[bool]| Some(NullBuffer::from_iter(slots.iter().map(|&i| has[i])));
        match self {
            State::Count(c) => Arc::new(Int64Array::from_iter_values(slots.iter().map(|&i| c[i]))),
            State::SumU64(s, has) => {
                Arc::new(UInt64Array::new(slots.iter().map(|&i| s[i]).collect(), nulls(has)))
            }
            State::SumI64(s, has) => {
                Arc::new(Int64Array::new(slots.iter().map(|&i| s[i]).collect(), nulls(has)))
            }
        }
    }
}

impl Groups {
    fn new(key_type: &DataType, aggregates: &[Aggregate]) -> Self {
        let slots = match key_type {
            DataType::FixedSizeBinary(w) => Slots::Hashed {
                width: *w as usize,
                map: HashMap::with_hasher(Seeded::new()),
                keys: Vec::new(),
                null: None,
            },
            DataType::UInt8 => Slots::Dense { width: 1 << 8, seen: vec![false; (1 << 8) + 1] },
            _ => Slots::Dense { width: 1 << 16, seen: vec![false; (1 << 16) + 1] },
        };
        let mut g = Self { slots, states: aggregates.iter().map(State::of).collect(), rows: Vec::new() };
        g.fit_states();
        g
    }

    fn slot_count(&self) -> usize {
        match &self.slots {
            Slots::Dense { width, .. } => width + 1,
            Slots::Hashed { keys, .. } => keys.len(),
        }
    }

    fn fit_states(&mut self) {
        let n = self.slot_count();
        self.states.iter_mut().for_each(|s| s.resize(n));
    }

    /// Address groups held (small keys never need emitting early).
    fn len(&self) -> usize {
        match &self.slots {
            Slots::Dense { .. } => 0,
            Slots::Hashed { keys, .. } => keys.len(),
        }
    }

    fn add(
        &mut self,
        batch: &RecordBatch,
        key: &Arc<dyn PhysicalExpr>,
        aggregates: &[Aggregate],
    ) -> Result<()> {
        let rows = batch.num_rows();
        let keys = key.evaluate(batch)?.into_array(rows)?;
        self.rows.clear();
        match (&mut self.slots, keys.data_type()) {
            (Slots::Dense { width, seen }, DataType::UInt8) => {
                dense_slots(&mut self.rows, *width, keys.as_primitive::<UInt8Type>(), |v| v as u32);
                self.rows.iter().for_each(|&s| seen[s as usize] = true);
            }
            (Slots::Dense { width, seen }, DataType::UInt16) => {
                dense_slots(&mut self.rows, *width, keys.as_primitive::<UInt16Type>(), |v| v as u32);
                self.rows.iter().for_each(|&s| seen[s as usize] = true);
            }
            (Slots::Hashed { width, map, keys: seen, null }, DataType::FixedSizeBinary(_)) => {
                hashed_slots(&mut self.rows, *width, keys.as_fixed_size_binary(), map, seen, null);
            }
            (_, other) => return internal_err!("SingleKeyAggregateExec key is {other}"),
        }
        self.fit_states();
        for (state, agg) in self.states.iter_mut().zip(aggregates) {
            let arg = agg.arg().evaluate(batch)?;
            add_values(state, &self.rows, arg, rows)?;
        }
        Ok(())
    }

    /// The groups seen and their states, leaving none: small keys in key order with the
    /// null key last, addresses in the order first seen.
    fn take(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let (present, key): (Vec<usize>, ArrayRef) = match &mut self.slots {
            Slots::Dense { width, seen } => {
                let present: Vec<usize> = (0..=*width).filter(|&i| seen[i]).collect();
                let w = *width;
                let key: ArrayRef = if w == 1 << 8 {
                    Arc::new(present.iter().map(|&i| (i < w).then_some(i as u8)).collect::<UInt8Array>())
                } else {
                    Arc::new(present.iter().map(|&i| (i < w).then_some(i as u16)).collect::<UInt16Array>())
                };
                seen.iter_mut().for_each(|s| *s = false);
                (present, key)
            }
            Slots::Hashed { width, map, keys, null } => {
                let w = *width;
                // One buffer for all keys (a null key's bytes are zero), not one per group.
                let mut values = Vec::with_capacity(keys.len() * w);
                for k in keys.iter() {
                    values.extend_from_slice(&k.unwrap_or(0).to_be_bytes()[..w]);
                }
                let nulls = NullBuffer::from_iter(keys.iter().map(Option::is_some));
                let key = FixedSizeBinaryArray::try_new(w as i32, values.into(), Some(nulls))?;
                let present = (0..keys.len()).collect();
                map.clear();
                keys.clear();
                *null = None;
                (present, Arc::new(key))
            }
        };
        let mut columns = vec![key];
        columns.extend(self.states.iter().map(|s| s.column(&present)));
        for s in &mut self.states {
            s.resize(0);
        }
        self.fit_states();
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

fn dense_slots<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
    out: &mut Vec<u32>,
    width: usize,
    keys: &datafusion::arrow::array::PrimitiveArray<T>,
    slot: impl Fn(T::Native) -> u32,
) {
    let null_slot = width as u32;
    match keys.nulls() {
        None => out.extend(keys.values().iter().map(|&v| slot(v))),
        Some(n) => out
            .extend(keys.values().iter().zip(n.iter()).map(|(&v, ok)| if ok { slot(v) } else { null_slot })),
    }
}

/// Slots of address keys; a run of equal keys (sorted input) is looked up once.
fn hashed_slots(
    out: &mut Vec<u32>,
    width: usize,
    keys: &FixedSizeBinaryArray,
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
    let values = keys.value_data().chunks_exact(width).take(keys.len()).map(|v| {
        let mut b = [0u8; 16];
        b[..width].copy_from_slice(v);
        u128::from_be_bytes(b)
    });
    match keys.nulls() {
        None => out.extend(values.map(|k| slot_of(Some(k)))),
        Some(n) => out.extend(values.zip(n.iter()).map(|(k, ok)| slot_of(ok.then_some(k)))),
    }
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
            Field::new("addr", DataType::FixedSizeBinary(16), true),
            Field::new("mac", DataType::FixedSizeBinary(6), true),
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
                // Runs of equal addresses (as in sorted files), 700 of them, and nulls.
                let addr = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    (0..n).map(|i| {
                        (i % 101 != 0)
                            .then(|| (u128::from(i / 7 % 700) << 64 | 0xffff_0a00_0001).to_be_bytes())
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
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(port),
                        Arc::new(proto),
                        Arc::new(bytes),
                        Arc::new(delta),
                        Arc::new(addr),
                        Arc::new(mac),
                    ],
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
            state = state.with_physical_optimizer_rule(Arc::new(SingleKeyAggregate { max_groups: 100 }));
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
    async fn single_key_grouping_answers_like_datafusion() {
        let (plain, dense) = (context(false), context(true));
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
            // DataFusion splits a distinct count into a grouping and a plain count.
            "SELECT port, count(DISTINCT proto) AS n FROM t GROUP BY port ORDER BY n DESC, port LIMIT 30",
        ] {
            let (want, want_plan) = run(&plain, sql).await;
            let (got, got_plan) = run(&dense, sql).await;
            assert_eq!(got, want, "{sql}");
            assert!(!want_plan.contains("SingleKeyAggregateExec"));
            assert!(got_plan.contains("SingleKeyAggregateExec"), "{sql}\n{got_plan}");
        }
    }

    #[tokio::test]
    async fn other_aggregations_keep_hashing() {
        let dense = context(true);
        for sql in [
            "SELECT bytes, count(*) FROM t GROUP BY bytes",
            "SELECT port, proto, count(*) FROM t GROUP BY port, proto",
            "SELECT addr, port, count(*) FROM t GROUP BY addr, port",
            "SELECT port, max(bytes) FROM t GROUP BY port",
            "SELECT port, sum(bytes) FILTER (WHERE proto = 0) FROM t GROUP BY port",
        ] {
            let (_, plan) = run(&dense, sql).await;
            assert!(!plan.contains("SingleKeyAggregateExec"), "{sql}\n{plan}");
        }
    }
}
