//! The per-minute rollups, summed as batches pass through the store and committed with
//! the flush that carries their rows (same file name, in their own table's folder):
//!
//! - `flows_1m`: flows, packets and bytes per minute × exporter × protocol × traffic class;
//!   the totals behind time-series questions and dashboards.
//! - `interfaces_1m`: the same per minute × exporter × interface × direction × traffic
//!   class × source, each flow counted once on its input interface (`direction = 'in'`)
//!   and once on its output interface (`'out'`), as `source = 'flows'`: interface and
//!   uplink utilisation as the flows estimate it. Counter samples add the device's own
//!   count beside it, as `source = 'counters'` ([`crate::counter_deltas`]): packets and
//!   bytes are the counters' increments in that minute, `flows` the samples that ended in it.
//!
//! Interfaces are kept out of `flows_1m` on purpose: keyed by the (input, output) pair, a
//! switch with a port per VM has as many pairs per minute as conversations, and the
//! rollup grows as large as the flows it should summarise.
//!
//! The minute is that of the row's event time, the same time that chose its partition,
//! so a rollup row always sits in the same hour folder as the flows it sums.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, FixedSizeBinaryArray, FixedSizeBinaryBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, UInt8Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use plumb_collector::addr::ADDR_LEN;

use super::counter_deltas::Delta;
use super::layout::Hour;

const MINUTE_US: i64 = 60_000_000;

/// The rollup tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollup {
    Flows,
    Interfaces,
}

impl Rollup {
    pub const ALL: [Rollup; 2] = [Rollup::Flows, Rollup::Interfaces];

    /// The table's name and folder under the data directory.
    pub fn dir(self) -> &'static str {
        match self {
            Rollup::Flows => "flows_1m",
            Rollup::Interfaces => "interfaces_1m",
        }
    }

    /// Columns that key a row, in the order files are sorted by.
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            Rollup::Flows => &["minute", "exporter", "protocol", "traffic_class"],
            Rollup::Interfaces => {
                &["minute", "exporter", "interface", "direction", "traffic_class", "source"]
            }
        }
    }

    /// The table's schema, defined once.
    pub fn schema(self) -> SchemaRef {
        static FLOWS: OnceLock<SchemaRef> = OnceLock::new();
        static IFACES: OnceLock<SchemaRef> = OnceLock::new();
        let cell = match self {
            Rollup::Flows => &FLOWS,
            Rollup::Interfaces => &IFACES,
        };
        cell.get_or_init(|| {
            let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
            let mut f = vec![
                Field::new("minute", ts, false),
                Field::new("exporter", DataType::FixedSizeBinary(ADDR_LEN as i32), false),
            ];
            match self {
                Rollup::Flows => f.push(Field::new("protocol", DataType::UInt8, true)),
                Rollup::Interfaces => {
                    f.push(Field::new("interface", DataType::UInt32, true));
                    f.push(Field::new("direction", DataType::Utf8, false));
                }
            }
            f.push(Field::new("traffic_class", DataType::Utf8, true));
            if self == Rollup::Interfaces {
                // Nullable: files written before counters fed the rollup have no column.
                f.push(Field::new("source", DataType::Utf8, true));
            }
            f.extend([
                Field::new("flows", DataType::UInt64, false),
                Field::new("packets", DataType::UInt64, false),
                Field::new("bytes", DataType::UInt64, false),
            ]);
            Arc::new(Schema::new(f))
        })
        .clone()
    }
}

const DIRECTIONS: [&str; 2] = ["in", "out"];
/// `interfaces_1m.source`: what a row was summed from.
const SOURCES: [&str; 2] = ["flows", "counters"];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    minute: i64,
    exporter: [u8; ADDR_LEN],
    /// `flows_1m` only.
    protocol: Option<u8>,
    /// `interfaces_1m` only: the interface and its direction (index into DIRECTIONS).
    interface: Option<u32>,
    direction: u8,
    /// Index into the label table plus one; 0 is null.
    class: u32,
    /// `interfaces_1m` only: index into SOURCES.
    source: u8,
}

/// Five words into the hasher, instead of the dozen calls a derived `Hash` makes for the
/// address array and the options.
impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let (hi, lo) = self.exporter.split_at(8);
        h.write_u64(self.minute as u64);
        h.write_u64(u64::from_ne_bytes(hi.try_into().unwrap_or_default()));
        h.write_u64(u64::from_ne_bytes(lo.try_into().unwrap_or_default()));
        // Option tags as bits of their own: 9 bits of protocol, 33 of interface.
        let protocol = self.protocol.map_or(0, |p| 0x100 | p as u64);
        let interface = self.interface.map_or(0, |i| (1 << 32) | i as u64);
        h.write_u64(interface);
        h.write_u64(
            protocol | (self.direction as u64) << 9 | (self.class as u64) << 10 | (self.source as u64) << 42,
        );
    }
}

#[derive(Clone, Copy, Default)]
struct Sums {
    flows: u64,
    packets: u64,
    bytes: u64,
}

impl Sums {
    fn add(&mut self, o: Sums) {
        self.flows += o.flows;
        self.packets += o.packets;
        self.bytes += o.bytes;
    }
}

/// One rollup's sums for one hour, per key (minute and the rollup's other key columns).
///
/// Hashed with foldhash rather than SipHash, which would be a noticeable share of the
/// store thread. Seeded per map (`RandomState`), not fixed: the keys are exporter
/// addresses, interface indexes and protocols out of unauthenticated UDP, so anyone who
/// can send flow records could, against a fixed and public seed, precompute keys that all
/// collide and make each insert walk the whole hour's map. A random seed costs nothing
/// here: rows are sorted by key before they are written, so no output depends on the
/// map's order. (Without foldhash's `std` feature, which would rebuild hashbrown and all
/// above it, the seed draws on address-space layout.)
type MinuteSums = HashMap<Key, Sums, foldhash::fast::RandomState>;

/// The sums of consecutive rows with one key, added to the map when the key changes.
/// Neighbouring rows mostly share exporter, minute and interface, so most rows cost a
/// comparison instead of a map lookup.
#[derive(Default)]
struct Run(Option<(Key, Sums)>);

impl Run {
    #[inline]
    fn add(&mut self, into: &mut MinuteSums, key: Key, sums: Sums) {
        match &mut self.0 {
            Some((k, s)) if *k == key => s.add(sums),
            run => {
                if let Some((k, s)) = run.replace((key, sums)) {
                    into.entry(k).or_default().add(s);
                }
            }
        }
    }

    fn close(self, into: &mut MinuteSums) {
        if let Some((k, s)) = self.0 {
            into.entry(k).or_default().add(s);
        }
    }
}

/// Rollup rows summed since the last flush, per hour partition (one map per rollup).
#[derive(Default)]
pub struct Rollups {
    hours: BTreeMap<Hour, [MinuteSums; 2]>,
    labels: Vec<Box<str>>,
    label_ids: HashMap<Box<str>, u32>,
}

impl Rollups {
    /// Adds every row of `batch`; `events[i]` is row i's event time (µs).
    pub fn add(&mut self, batch: &RecordBatch, events: &[i64]) {
        let cols = Columns::of(batch);
        let mut start = 0;
        // Rows come in runs of one hour: one lookup of the hour per run.
        while start < events.len() {
            let hour = Hour::of_us(events[start]);
            let end = events[start..]
                .iter()
                .position(|&e| Hour::of_us(e) != hour)
                .map_or(events.len(), |n| start + n);
            let [flows, ifaces] = self.hours.entry(hour).or_default();
            let (mut by_proto, mut by_in, mut by_out) = (Run::default(), Run::default(), Run::default());
            for (i, &ev) in events.iter().enumerate().take(end).skip(start) {
                let class = match cols.class {
                    Some(c) if c.is_valid(i) => intern(&mut self.labels, &mut self.label_ids, c.value(i)),
                    _ => 0,
                };
                let key = Key {
                    minute: ev - ev.rem_euclid(MINUTE_US),
                    exporter: cols.exporter(i),
                    protocol: opt(cols.protocol, i),
                    interface: None,
                    direction: 0,
                    class,
                    source: 0,
                };
                let sums = Sums {
                    flows: 1,
                    packets: opt(cols.packets, i).unwrap_or(0),
                    bytes: opt(cols.bytes, i).unwrap_or(0),
                };
                by_proto.add(flows, key, sums);
                let key = Key { protocol: None, interface: opt(cols.in_if, i), ..key };
                by_in.add(ifaces, key, sums);
                let key = Key { interface: opt(cols.out_if, i), direction: 1, ..key };
                by_out.add(ifaces, key, sums);
            }
            by_proto.close(flows);
            by_in.close(ifaces);
            by_out.close(ifaces);
            start = end;
        }
    }

    /// Adds the traffic counters measured on one interface in one minute.
    pub fn add_counted(&mut self, d: Delta) {
        let key = Key {
            minute: d.minute,
            exporter: d.exporter,
            protocol: None,
            interface: Some(d.interface),
            direction: d.direction,
            class: 0,
            source: 1,
        };
        let sums = Sums { flows: d.samples, packets: d.packets, bytes: d.bytes };
        self.hours.entry(Hour::of_us(d.minute)).or_default()[Rollup::Interfaces as usize]
            .entry(key)
            .or_default()
            .add(sums);
    }

    /// Hours with rows not yet committed.
    pub fn hours(&self) -> Vec<Hour> {
        self.hours.keys().copied().collect()
    }

    /// The rollup rows of one hour as a batch sorted by its key (they stay until
    /// [`Rollups::clear`], so a failed flush can retry with them); none when it has none.
    pub fn batch_of(&self, hour: Hour, rollup: Rollup) -> Option<RecordBatch> {
        let sums = &self.hours.get(&hour)?[rollup as usize];
        if sums.is_empty() {
            return None;
        }
        let mut rows: Vec<(Key, Sums)> = sums.iter().map(|(k, s)| (*k, *s)).collect();
        rows.sort_unstable_by_key(|(k, _)| *k);
        Some(self.batch(rollup, &rows))
    }

    /// Forgets one hour's rows (its flush committed them).
    pub fn clear(&mut self, hour: Hour) {
        self.hours.remove(&hour);
    }

    fn batch(&self, rollup: Rollup, rows: &[(Key, Sums)]) -> RecordBatch {
        let n = rows.len();
        let mut exporter = FixedSizeBinaryBuilder::with_capacity(n, ADDR_LEN as i32);
        let mut class = StringBuilder::new();
        for (k, _) in rows {
            exporter.append_value(k.exporter).expect("exporter is 16 bytes");
            match k.class {
                0 => class.append_null(),
                c => class.append_value(&self.labels[c as usize - 1]),
            }
        }
        let minute: TimestampMicrosecondArray = rows.iter().map(|(k, _)| Some(k.minute)).collect();
        let mut columns: Vec<ArrayRef> =
            vec![Arc::new(minute.with_timezone("UTC")), Arc::new(exporter.finish())];
        match rollup {
            Rollup::Flows => {
                columns.push(Arc::new(rows.iter().map(|(k, _)| k.protocol).collect::<UInt8Array>()))
            }
            Rollup::Interfaces => {
                columns.push(Arc::new(rows.iter().map(|(k, _)| k.interface).collect::<UInt32Array>()));
                let dir: StringArray =
                    rows.iter().map(|(k, _)| Some(DIRECTIONS[k.direction as usize])).collect();
                columns.push(Arc::new(dir));
            }
        }
        columns.push(Arc::new(class.finish()));
        if rollup == Rollup::Interfaces {
            let source: StringArray = rows.iter().map(|(k, _)| Some(SOURCES[k.source as usize])).collect();
            columns.push(Arc::new(source));
        }
        columns.extend([
            Arc::new(rows.iter().map(|(_, s)| s.flows).collect::<UInt64Array>()) as ArrayRef,
            Arc::new(rows.iter().map(|(_, s)| s.packets).collect::<UInt64Array>()),
            Arc::new(rows.iter().map(|(_, s)| s.bytes).collect::<UInt64Array>()),
        ]);
        RecordBatch::try_new(rollup.schema(), columns).expect("columns match the rollup schema")
    }
}

fn intern(labels: &mut Vec<Box<str>>, ids: &mut HashMap<Box<str>, u32>, s: &str) -> u32 {
    if let Some(&id) = ids.get(s) {
        return id;
    }
    labels.push(s.into());
    let id = labels.len() as u32;
    ids.insert(s.into(), id);
    id
}

/// Row `i` of an optional column, `None` where the column is missing or the value null.
pub(crate) fn opt<A: ValueAt>(a: Option<&A>, i: usize) -> Option<A::Native> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value_at(i))
}

/// A column of `b` by name, as its array type; `None` when missing or of another type.
pub(crate) fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Option<&'a T> {
    b.column_by_name(name)?.as_any().downcast_ref::<T>()
}

pub(crate) trait ValueAt: Array {
    type Native;
    fn value_at(&self, i: usize) -> Self::Native;
}

macro_rules! value_at {
    ($($a:ty => $n:ty),*) => {$(
        impl ValueAt for $a {
            type Native = $n;
            fn value_at(&self, i: usize) -> $n {
                self.value(i)
            }
        }
    )*};
}
value_at!(UInt8Array => u8, UInt32Array => u32, UInt64Array => u64);

/// The flows columns a rollup reads, looked up once per batch.
struct Columns<'a> {
    exporter: Option<&'a FixedSizeBinaryArray>,
    protocol: Option<&'a UInt8Array>,
    in_if: Option<&'a UInt32Array>,
    out_if: Option<&'a UInt32Array>,
    class: Option<&'a StringArray>,
    packets: Option<&'a UInt64Array>,
    bytes: Option<&'a UInt64Array>,
}

impl<'a> Columns<'a> {
    fn of(b: &'a RecordBatch) -> Self {
        Columns {
            exporter: column(b, "exporter"),
            protocol: column(b, "protocol"),
            in_if: column(b, "in_if"),
            out_if: column(b, "out_if"),
            class: column(b, "traffic_class"),
            packets: column(b, "packets"),
            bytes: column(b, "bytes"),
        }
    }

    fn exporter(&self, i: usize) -> [u8; ADDR_LEN] {
        match self.exporter {
            Some(a) if a.is_valid(i) => a.value(i).try_into().unwrap_or([0; ADDR_LEN]),
            _ => [0; ADDR_LEN],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumb_collector::addr;
    use plumb_collector::schema::{FlowBuilders, FlowRow};

    #[test]
    fn rows_sum_per_minute_and_key() {
        let t0 = 1_741_009_500_000_000; // 13:45:00
        let mut b = FlowBuilders::with_capacity(4);
        let rows =
            [(t0, 6u8, 100u64, 1u32), (t0 + 1_000_000, 6, 50, 2), (t0 + 61_000_000, 6, 7, 1), (t0, 17, 1, 1)];
        for (end, proto, bytes, in_if) in rows {
            let row = FlowRow {
                time_received: Some(end),
                flow_end: Some(end),
                exporter: Some(addr::parse_text("192.0.2.1").unwrap()),
                source_kind: Some("ipfix"),
                protocol: Some(proto),
                bytes: Some(bytes),
                packets: Some(1),
                in_if: Some(in_if),
                out_if: Some(9),
                ..Default::default()
            };
            b.append(&row, []);
        }
        let batch = b.finish();
        let events: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let mut r = Rollups::default();
        r.add(&batch, &events);
        let hour = Hour::of_us(t0);
        let col = |b: &RecordBatch, name: &str| {
            b.column_by_name(name).unwrap().as_any().downcast_ref::<UInt64Array>().unwrap().values().to_vec()
        };
        let out = r.batch_of(hour, Rollup::Flows).unwrap();
        // Sorted by minute, then protocol: 13:45 tcp, 13:45 udp, 13:46 tcp.
        assert_eq!(col(&out, "flows"), vec![2, 1, 1]);
        assert_eq!(col(&out, "bytes"), vec![150, 1, 7]);
        let ifs = r.batch_of(hour, Rollup::Interfaces).unwrap();
        // 13:45: in 1 (tcp 100 + udp 1), in 2 (50), out 9 (all three); 13:46: in 1, out 9.
        assert_eq!(col(&ifs, "bytes"), vec![101, 50, 151, 7, 7]);
        assert_eq!(col(&ifs, "flows").iter().sum::<u64>(), 8, "each flow once in, once out");
        r.clear(hour);
        assert!(r.batch_of(hour, Rollup::Flows).is_none());
    }
}
