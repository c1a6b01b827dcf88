//! Group slots for keys led by the store's sort column.
//!
//! Compacted files are sorted by source address, so a grouping such as (source,
//! destination, protocol) sees each source as one run of rows: its groups are all found
//! while the run lasts, among the handful of keys of that one source. [`RunSlots`] keeps
//! the groups of the current run in a short list (a map past [`LIST_MAX`] keys) and starts
//! afresh when the source changes, so the partial step shrinks an hour's 6.7 M rows to about
//! the 2.3 M conversations they hold instead of passing every row on to the final step.
//! Rows in arrival order (flush files) make runs of one row and pass through, one group each.
//!
//! The keys other than the run's are packed per row into a `u128` (at most one address or
//! MAC) and a `u64` (ports, protocol and other small integers, and a null flag per key), so
//! comparing two keys is two integer compares.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, PrimitiveArray, UInt8Array, UInt16Array, UInt32Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, UInt8Type, UInt16Type, UInt32Type};
use datafusion::common::{Result, internal_err};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;

use super::{Seeded, fixed_size_binary, left_aligned, seeded};

/// Keys of one run held in a list before a map takes over.
pub const LIST_MAX: usize = 8;

/// Bit of the packed small keys where the null flags start (one per non-run key).
const FLAGS: u32 = 56;

/// The flag of a null run key, after those of at most seven other keys.
const RUN_NULL: u64 = 1 << 63;

/// Groups past which a run aggregation emits: its keys and states stay in cache, and the
/// final aggregation starts on them sooner.
pub const EMIT_GROUPS: usize = 1 << 16;

/// Where each group key lives in the packed form.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// The run key itself: an address or MAC of this many bytes.
    Run(usize),
    /// The one other key of up to 16 bytes, in the `u128`.
    Wide(usize),
    /// A small unsigned integer of `bits` bits at bit `at` of the `u64`.
    Narrow { at: u32, bits: u32 },
}

/// How the group keys of an aggregation pack, in group order.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    places: Vec<Place>,
}

impl Layout {
    /// The layout of `keys` when one is the column `run_column` (of up to 16 bytes) and the
    /// rest fit: at most one other key of up to 16 bytes, small integers of 56 bits in all,
    /// and at most eight keys besides the run's.
    pub fn of(keys: &[Arc<dyn PhysicalExpr>], types: &[DataType], run_column: &str) -> Option<Self> {
        let is_run =
            |k: &Arc<dyn PhysicalExpr>| k.downcast_ref::<Column>().is_some_and(|c| c.name() == run_column);
        if keys.len() < 2 || keys.len() > 8 || keys.iter().filter(|k| is_run(k)).count() != 1 {
            return None;
        }
        let (mut wide, mut at) = (false, 0);
        let mut places = Vec::with_capacity(keys.len());
        for (k, t) in keys.iter().zip(types) {
            let width = match t {
                DataType::FixedSizeBinary(w) if (1..=16).contains(w) => Some(*w as usize),
                _ => None,
            };
            let bits = match t {
                DataType::UInt8 => 8,
                DataType::UInt16 => 16,
                DataType::UInt32 => 32,
                _ => 0,
            };
            places.push(match (is_run(k), width) {
                (true, Some(w)) => Place::Run(w),
                (false, Some(w)) if !wide => {
                    wide = true;
                    Place::Wide(w)
                }
                (false, None) if bits > 0 && at + bits <= FLAGS => {
                    at += bits;
                    Place::Narrow { at: at - bits, bits }
                }
                _ => return None,
            });
        }
        Some(Self { places })
    }

    /// The index of the run key among the group keys.
    pub fn run(&self) -> usize {
        self.places.iter().position(|p| matches!(p, Place::Run(_))).unwrap_or_default()
    }

    /// The null flag of the `i`-th key (run key excluded).
    fn flag(&self, i: usize) -> u64 {
        let nth = self.places[..i].iter().filter(|p| !matches!(p, Place::Run(_))).count();
        1 << (FLAGS as usize + nth)
    }
}

/// The groups of the rows seen since the last emission, by slot.
pub struct RunSlots {
    layout: Layout,
    /// The run key of the current run (`Some(None)` for a null key); `None` before any row.
    current: Option<Option<u128>>,
    /// The null flag of the current run's key.
    current_null: u64,
    /// The first slot of the current run.
    run_start: usize,
    /// The current run's keys, once it has more than [`LIST_MAX`].
    map: HashMap<(u128, u64), u32, Seeded>,
    /// Every key with its run key, when groups are not found per run (a final step
    /// merging the groups of runs that met again, `run_final.rs`).
    global: Option<HashMap<(u128, u128, u64), u32, Seeded>>,
    /// Each group's run key (zero if null: the null flag is in `narrow`).
    runs: Vec<u128>,
    wide: Vec<u128>,
    narrow: Vec<u64>,
    /// The packed keys of the batch being added, reused across batches.
    batch_wide: Vec<u128>,
    batch_narrow: Vec<u64>,
}

impl RunSlots {
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            current: None,
            current_null: 0,
            run_start: 0,
            map: HashMap::with_hasher(seeded()),
            global: None,
            runs: Vec::new(),
            wide: Vec::new(),
            narrow: Vec::new(),
            batch_wide: Vec::new(),
            batch_narrow: Vec::new(),
        }
    }

    /// Slots found by the whole key, not per run: runs may come in any order.
    pub fn global(layout: Layout) -> Self {
        Self { global: Some(HashMap::with_hasher(seeded())), ..Self::new(layout) }
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// A tag per group held, the same for the groups of one run and new for each run,
    /// counting on from `next`. Within an emission a run ends only where the run key
    /// changes, so consecutive groups with another run key start another run.
    pub fn run_tags(&self, next: &mut u64) -> Vec<u64> {
        let run_null = |s: usize| self.narrow[s] & RUN_NULL;
        let mut tags = Vec::with_capacity(self.runs.len());
        for s in 0..self.runs.len() {
            if s == 0 || self.runs[s] != self.runs[s - 1] || run_null(s) != run_null(s - 1) {
                *next += 1;
            }
            tags.push(*next);
        }
        tags
    }

    /// Appends the slot of each row of a batch, given its key columns in group order.
    pub fn assign(&mut self, out: &mut Vec<u32>, keys: &[ArrayRef]) -> Result<()> {
        let rows = keys.first().map_or(0, |k| k.len());
        self.pack(keys, rows)?;
        let Some(run_keys) = keys.get(self.layout.run()).and_then(|k| k.as_fixed_size_binary_opt()) else {
            return internal_err!("the run key is not a fixed-size binary column");
        };
        let width = run_keys.value_length() as usize;
        if !(1..=16).contains(&width) {
            return internal_err!("run key of {width} bytes");
        }
        let values = run_keys.value_data().chunks_exact(width).take(rows);
        for (i, v) in values.enumerate() {
            let run = run_keys.is_valid(i).then(|| left_aligned(v));
            if self.current != Some(run) {
                self.end_run();
                self.current = Some(run);
                self.current_null = if run.is_some() { 0 } else { RUN_NULL };
            }
            let narrow = self.batch_narrow[i] | self.current_null;
            let (run, wide) = (run.unwrap_or(0), self.batch_wide[i]);
            let slot = match &mut self.global {
                Some(map) => match map.get(&(run, wide, narrow)) {
                    Some(&s) => s,
                    None => {
                        let s = push(&mut self.runs, &mut self.wide, &mut self.narrow, run, wide, narrow);
                        map.insert((run, wide, narrow), s);
                        s
                    }
                },
                None => self.slot(run, wide, narrow),
            };
            out.push(slot);
        }
        Ok(())
    }

    /// The key columns of the groups held, in slot and group order, leaving none.
    pub fn take(&mut self) -> Result<Vec<ArrayRef>> {
        let mut columns = Vec::with_capacity(self.layout.places.len());
        for (i, place) in self.layout.places.iter().enumerate() {
            let flag = self.layout.flag(i);
            columns.push(match *place {
                Place::Run(w) => {
                    let valid = |s: usize| self.narrow[s] & RUN_NULL == 0;
                    fixed_size_binary(w, self.runs.len(), valid, |s| self.runs[s])?
                }
                Place::Wide(w) => {
                    fixed_size_binary(w, self.wide.len(), |s| self.narrow[s] & flag == 0, |s| self.wide[s])?
                }
                Place::Narrow { at, bits } => {
                    let valid = NullBuffer::from_iter(self.narrow.iter().map(|n| n & flag == 0));
                    let value = |n: &u64| (n >> at) as u32;
                    let n = self.narrow.iter();
                    match bits {
                        8 => Arc::new(UInt8Array::new(n.map(|n| value(n) as u8).collect(), Some(valid)))
                            as ArrayRef,
                        16 => Arc::new(UInt16Array::new(n.map(|n| value(n) as u16).collect(), Some(valid))),
                        _ => Arc::new(UInt32Array::new(n.map(value).collect(), Some(valid))),
                    }
                }
            });
        }
        self.end_run();
        self.current = None;
        self.run_start = 0;
        self.runs.clear();
        self.wide.clear();
        self.narrow.clear();
        if let Some(map) = &mut self.global {
            map.clear();
        }
        Ok(columns)
    }

    /// The slot of a key in the current run, a new one if the run has not seen it.
    fn slot(&mut self, run: u128, wide: u128, narrow: u64) -> u32 {
        let held = self.runs.len() - self.run_start;
        if held <= LIST_MAX {
            let found =
                (self.run_start..self.runs.len()).find(|&s| self.wide[s] == wide && self.narrow[s] == narrow);
            if let Some(s) = found {
                return s as u32;
            }
            let s = self.push(run, wide, narrow);
            if held == LIST_MAX {
                for s in self.run_start..self.runs.len() {
                    self.map.insert((self.wide[s], self.narrow[s]), s as u32);
                }
            }
            return s;
        }
        match self.map.get(&(wide, narrow)) {
            Some(&s) => s,
            None => {
                let s = self.push(run, wide, narrow);
                self.map.insert((wide, narrow), s);
                s
            }
        }
    }

    fn push(&mut self, run: u128, wide: u128, narrow: u64) -> u32 {
        push(&mut self.runs, &mut self.wide, &mut self.narrow, run, wide, narrow)
    }

    fn end_run(&mut self) {
        if self.runs.len() - self.run_start > LIST_MAX {
            // A large run's map would make every small run after it clear a large table.
            if self.map.capacity() > 1 << 12 {
                self.map = HashMap::with_hasher(seeded());
            } else {
                self.map.clear();
            }
        }
        self.run_start = self.runs.len();
    }

    /// Packs the non-run keys of a batch, column by column.
    fn pack(&mut self, keys: &[ArrayRef], rows: usize) -> Result<()> {
        self.batch_wide.clear();
        self.batch_wide.resize(rows, 0);
        self.batch_narrow.clear();
        self.batch_narrow.resize(rows, 0);
        for (i, (place, key)) in self.layout.places.iter().zip(keys).enumerate() {
            let flag = self.layout.flag(i);
            match (place, key.data_type()) {
                (Place::Run(_), _) => {}
                (Place::Wide(w), DataType::FixedSizeBinary(n)) if *n as usize == *w => {
                    let key = key.as_fixed_size_binary();
                    let values = key.value_data().chunks_exact(*w).take(rows);
                    self.batch_wide.iter_mut().zip(values).for_each(|(o, v)| *o = left_aligned(v));
                    if let Some(n) = key.nulls() {
                        for (i, ok) in n.iter().enumerate() {
                            if !ok {
                                self.batch_wide[i] = 0;
                                self.batch_narrow[i] |= flag;
                            }
                        }
                    }
                }
                (Place::Narrow { at, .. }, DataType::UInt8) => {
                    pack::<UInt8Type>(&mut self.batch_narrow, key, *at, flag)
                }
                (Place::Narrow { at, .. }, DataType::UInt16) => {
                    pack::<UInt16Type>(&mut self.batch_narrow, key, *at, flag)
                }
                (Place::Narrow { at, .. }, DataType::UInt32) => {
                    pack::<UInt32Type>(&mut self.batch_narrow, key, *at, flag)
                }
                (place, t) => return internal_err!("group key of type {t} does not fit {place:?}"),
            }
        }
        Ok(())
    }
}

fn push(runs: &mut Vec<u128>, wide: &mut Vec<u128>, narrow: &mut Vec<u64>, r: u128, w: u128, n: u64) -> u32 {
    runs.push(r);
    wide.push(w);
    narrow.push(n);
    (runs.len() - 1) as u32
}

/// Ors a small key's values into the packed keys at bit `at`, or its null flag.
fn pack<T: ArrowPrimitiveType>(packed: &mut [u64], key: &ArrayRef, at: u32, flag: u64)
where
    T::Native: Into<u64>,
{
    let key: &PrimitiveArray<T> = key.as_primitive();
    let out = packed.iter_mut().zip(key.values().iter());
    match key.nulls() {
        None => out.for_each(|(o, &v)| *o |= v.into() << at),
        // A null's value bits stay zero, so equal nulls pack equal.
        Some(n) => out.zip(n.iter()).for_each(|((o, &v), ok)| *o |= if ok { v.into() << at } else { flag }),
    }
}
