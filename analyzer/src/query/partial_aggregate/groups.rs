//! Group slots and aggregate states: how each row finds its group's slot (dense, hashed
//! or by runs of the sort key), and how count and sum states are kept and emitted.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::PrimitiveArray;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, Int64Array, RecordBatch, UInt8Array, UInt16Array,
    UInt64Array,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Int64Type, SchemaRef, UInt8Type, UInt16Type, UInt64Type,
};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ColumnarValue;
use datafusion::physical_plan::metrics::BaselineMetrics;

use super::exec::{Aggregate, Grouping};
use super::runs;
use super::value_table::ValueTable;

/// Hash maps keyed by data from the network: foldhash with a per-process seed from the
/// standard library's random keys, since a fixed function would let crafted addresses
/// collide (foldhash's own random state draws only on address-space layout without its
/// `std` feature, which would rebuild hashbrown and everything above it).
pub(super) type Seeded = foldhash::fast::FixedState;

/// A [`Seeded`] hasher state; every map of a process shares the seed.
pub(super) fn seeded() -> Seeded {
    use std::sync::OnceLock;
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(0x70_6c75_6d62_u64)
    });
    foldhash::fast::FixedState::with_seed(seed)
}

/// What a running partition needs besides its input and groups.
pub(super) struct PartitionWork {
    pub(super) filter: Option<Arc<dyn PhysicalExpr>>,
    /// The filter as a table of values, when it reads one small column.
    pub(super) table: Option<ValueTable>,
    pub(super) keys: Vec<Arc<dyn PhysicalExpr>>,
    pub(super) aggregates: Vec<Aggregate>,
    pub(super) schema: SchemaRef,
    pub(super) max_groups: usize,
    pub(super) metrics: BaselineMetrics,
}

impl PartitionWork {
    pub(super) fn emit(&self, groups: &mut Groups) -> Result<RecordBatch> {
        let _timer = self.metrics.elapsed_compute().timer();
        let out = groups.take(&self.schema)?;
        self.metrics.record_output(out.num_rows());
        Ok(out)
    }
}

/// How row keys become group slots.
pub(super) enum Slots {
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
pub(super) const HASHED_DROPPED: u32 = 0;

/// Per-slot states of every aggregate.
pub(super) struct Groups {
    pub(super) slots: Slots,
    /// Rows added to each slot since the last emission: a slot with rows is a group, and
    /// while an aggregate's argument has had no nulls its state follows from this alone.
    pub(super) tally: Vec<i64>,
    pub(super) states: Vec<State>,
    /// The slot of each row of the batch being added.
    pub(super) rows: Vec<u32>,
    /// The last run tag given, when groups are emitted with their runs' tags.
    pub(super) next_tag: Option<u64>,
}

/// An aggregate's states. Until its argument shows a null, `count` is the slot's tally
/// and a sum is non-null wherever the tally is non-zero, so the hot loop writes one value
/// per row; the first null makes both explicit.
pub(super) enum State {
    Count { counts: Option<Vec<i64>> },
    SumU64 { sums: Vec<u64>, has: Option<Vec<bool>> },
    SumI64 { sums: Vec<i64>, has: Option<Vec<bool>> },
}

impl State {
    pub(super) fn of(a: &Aggregate) -> Self {
        match a {
            Aggregate::Count(_) => State::Count { counts: None },
            Aggregate::SumU64(_) => State::SumU64 { sums: Vec::new(), has: None },
            Aggregate::SumI64(_) => State::SumI64 { sums: Vec::new(), has: None },
        }
    }

    pub(super) fn resize(&mut self, n: usize) {
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
    pub(super) fn reset(&mut self) {
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
    pub(super) fn make_explicit(&mut self, tally: &[i64]) {
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
    pub(super) fn column(&self, slots: &[usize], tally: &[i64]) -> ArrayRef {
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
    pub(super) fn new(grouping: &Grouping, aggregates: &[Aggregate]) -> Self {
        let slots = match grouping {
            Grouping::Runs(layout) => Slots::Runs(runs::RunSlots::new(layout.clone())),
            Grouping::Global(layout) => Slots::Runs(runs::RunSlots::global(layout.clone())),
            Grouping::Single(DataType::FixedSizeBinary(w)) => Slots::Hashed {
                width: *w as usize,
                map: HashMap::with_hasher(seeded()),
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

    pub(super) fn slot_count(&self) -> usize {
        match &self.slots {
            Slots::Dense { width } => width + 2,
            Slots::Hashed { keys, .. } => keys.len(),
            Slots::Runs(r) => r.len(),
        }
    }

    pub(super) fn fit_states(&mut self) {
        let n = self.slot_count();
        self.tally.resize(n, 0);
        self.states.iter_mut().for_each(|s| s.resize(n));
    }

    /// Whether a run aggregation holds enough groups to emit them.
    pub(super) fn runs_full(&self) -> bool {
        matches!(&self.slots, Slots::Runs(r) if r.len() >= runs::EMIT_GROUPS)
    }

    /// Address groups held (small keys never need emitting early).
    pub(super) fn len(&self) -> usize {
        match &self.slots {
            Slots::Dense { .. } => 0,
            Slots::Hashed { keys, .. } => keys.len() - 1,
            Slots::Runs(r) => r.len(),
        }
    }

    pub(super) fn add(&mut self, batch: &RecordBatch, run: &PartitionWork) -> Result<()> {
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
    pub(super) fn add_values(&mut self, batch: &RecordBatch, run: &PartitionWork) -> Result<()> {
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
    pub(super) fn take(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
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
pub(super) fn kept_rows(predicate: ColumnarValue, rows: usize) -> Result<Option<BooleanBuffer>> {
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

pub(super) fn dense_slots<T: ArrowPrimitiveType>(
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
pub(super) fn hashed_slots(
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
pub(super) fn left_aligned(v: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    b[..v.len()].copy_from_slice(v);
    u128::from_be_bytes(b)
}

/// A column of `len` values of `width` bytes from left-aligned `u128`s (a null's bytes are
/// zero), written into one buffer rather than one allocation per group.
pub(super) fn fixed_size_binary(
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

/// Adds a batch's argument values to their slots' states; `make_explicit` has run if the
/// argument has nulls.
pub(super) fn add_values(
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

pub(super) fn sum_into<T: ArrowPrimitiveType>(
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
