//! Consecutive counter samples of one interface to the traffic between them, spread over
//! the minutes it happened in: what `interfaces_1m` takes from `interface_counters` (its
//! rows with `source = 'counters'`), beside what the sampled flows estimate.
//!
//! A difference is taken between consecutive samples of the same data source (exporter,
//! agent, sub-agent, source id), as sFlow's counter model has it. It is left out when the
//! sample sequence did not move forward (a restart or a duplicate), when time did not move
//! forward, when more than [`MAX_GAP_US`] passed (a collector restart: that traffic cannot
//! be placed), or when a counter went down in a way that is not one 32-bit wrap (a device
//! reset). Packet counters are 32-bit on the wire and wrap; octet counters are 64-bit.

use std::collections::HashMap;

use arrow::array::{
    Array, FixedSizeBinaryArray, RecordBatch, TimestampMicrosecondArray, UInt8Array, UInt32Array, UInt64Array,
};

use plumb_collector::addr::ADDR_LEN;

use super::rollup::{column, opt};

/// Longest time between two samples whose difference is still placed in minutes.
pub const MAX_GAP_US: i64 = 10 * 60 * 1_000_000;
const MINUTE_US: i64 = 60_000_000;
/// Data sources followed at most; past it the oldest-seen are forgotten in one sweep, so
/// a flood of made-up sources costs memory once, not without bound.
const MAX_SOURCES: usize = 65_536;

/// A data source: exporter, agent, sub-agent, source class and index.
type Source = ([u8; ADDR_LEN], [u8; ADDR_LEN], u32, u8, u32);

#[derive(Clone, Copy, Debug)]
struct Last {
    time: i64,
    sequence: Option<u32>,
    /// In and out: octets, packets.
    counts: [[Option<u64>; 2]; 2],
}

/// Traffic of one interface and direction in one minute, from counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delta {
    pub minute: i64,
    pub exporter: [u8; ADDR_LEN],
    pub interface: u32,
    /// 0 in, 1 out.
    pub direction: u8,
    /// Samples that ended in this minute (0 for the earlier minutes a difference spans).
    pub samples: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// The last sample of every data source.
#[derive(Default)]
pub struct CounterDeltas {
    last: HashMap<Source, Last>,
}

impl CounterDeltas {
    /// The per-minute traffic of every row of an `interface_counters` batch (rows of one
    /// source in time order, as an agent sends them), handed to `emit`.
    pub fn add(&mut self, batch: &RecordBatch, mut emit: impl FnMut(Delta)) {
        let Some(c) = Columns::of(batch) else { return };
        if self.last.len() >= MAX_SOURCES {
            self.last.clear();
        }
        for i in 0..batch.num_rows() {
            let Some(interface) = c.if_index.is_valid(i).then(|| c.if_index.value(i)) else { continue };
            let exporter: [u8; ADDR_LEN] = c.exporter.value(i).try_into().unwrap_or([0; ADDR_LEN]);
            let source = (
                exporter,
                c.agent.value(i).try_into().unwrap_or([0; ADDR_LEN]),
                opt(c.sub_agent, i).unwrap_or(0),
                opt(c.source_class, i).unwrap_or(0),
                opt(c.source_index, i).unwrap_or(interface),
            );
            let now = Last {
                time: c.time.value(i),
                sequence: opt(c.sequence, i),
                counts: [
                    [opt(c.in_octets, i), opt(c.in_packets, i)],
                    [opt(c.out_octets, i), opt(c.out_packets, i)],
                ],
            };
            if let Some(prev) = self.last.insert(source, now)
                && follows(&prev, &now)
            {
                for direction in 0..2u8 {
                    let d = direction as usize;
                    let bytes = octet_delta(prev.counts[d][0], now.counts[d][0]);
                    let packets = packet_delta(prev.counts[d][1], now.counts[d][1]);
                    let (Some(bytes), packets) = (bytes, packets.unwrap_or(0)) else { continue };
                    spread(prev.time, now.time, [1, packets, bytes], |minute, [samples, packets, bytes]| {
                        emit(Delta { minute, exporter, interface, direction, samples, packets, bytes })
                    });
                }
            }
        }
    }
}

/// Whether `now` is the sample after `prev`: later, not too much later, and numbered after it.
fn follows(prev: &Last, now: &Last) -> bool {
    let forward = match (prev.sequence, now.sequence) {
        (Some(p), Some(n)) => n > p,
        _ => true,
    };
    forward && now.time > prev.time && now.time.saturating_sub(prev.time) <= MAX_GAP_US
}

fn octet_delta(prev: Option<u64>, now: Option<u64>) -> Option<u64> {
    now?.checked_sub(prev?)
}

/// A packet total is a sum of 32-bit counters: one of them wrapping once makes it go
/// down by less than 2³²; anything else is a reset.
fn packet_delta(prev: Option<u64>, now: Option<u64>) -> Option<u64> {
    let (p, n) = (prev?, now?);
    match n.checked_sub(p) {
        Some(d) => Some(d),
        None if p - n < 1 << 32 => Some(n + (1 << 32) - p),
        None => None,
    }
}

/// Splits `[samples, packets, bytes]` over the minutes of `(from, to]` by their share of
/// the time; the sample itself counts in `to`'s minute, and the integer remainders go there
/// too, so the parts add up to the whole.
fn spread(from: i64, to: i64, total: [u64; 3], mut emit: impl FnMut(i64, [u64; 3])) {
    let span = (to - from) as u128;
    let last = to - 1 - (to - 1).rem_euclid(MINUTE_US);
    let mut given = [0u64; 3];
    let mut minute = from - from.rem_euclid(MINUTE_US);
    // Minutes before `last` are aligned below it, so `minute + MINUTE_US` never passes
    // `last`, even at the end of the clock (a capture file can carry such times).
    while minute < last {
        let next = minute + MINUTE_US;
        let share = (next.min(to) - from.max(minute)) as u128;
        let part = [0, total[1], total[2]].map(|t| (t as u128 * share / span) as u64);
        if part != [0; 3] {
            emit(minute, part);
        }
        for k in 0..3 {
            given[k] += part[k];
        }
        minute = next;
    }
    emit(last, [0, 1, 2].map(|k| total[k] - given[k]));
}

/// The `interface_counters` columns read here.
struct Columns<'a> {
    time: &'a TimestampMicrosecondArray,
    exporter: &'a FixedSizeBinaryArray,
    agent: &'a FixedSizeBinaryArray,
    if_index: &'a UInt32Array,
    sub_agent: Option<&'a UInt32Array>,
    source_class: Option<&'a UInt8Array>,
    source_index: Option<&'a UInt32Array>,
    sequence: Option<&'a UInt32Array>,
    in_octets: Option<&'a UInt64Array>,
    in_packets: Option<&'a UInt64Array>,
    out_octets: Option<&'a UInt64Array>,
    out_packets: Option<&'a UInt64Array>,
}

impl<'a> Columns<'a> {
    fn of(b: &'a RecordBatch) -> Option<Self> {
        Some(Columns {
            time: column(b, "time_received")?,
            exporter: column(b, "exporter")?,
            agent: column(b, "agent")?,
            if_index: column(b, "if_index")?,
            sub_agent: column(b, "sub_agent"),
            source_class: column(b, "source_class"),
            source_index: column(b, "source_index"),
            sequence: column(b, "sequence"),
            in_octets: column(b, "in_octets"),
            in_packets: column(b, "in_packets"),
            out_octets: column(b, "out_octets"),
            out_packets: column(b, "out_packets"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumb_collector::addr;
    use plumb_collector::schema::interface_counters::{CounterBuilders, CounterRow};

    const T0: i64 = 1_741_009_500_000_000; // 13:45:00

    fn samples(rows: &[(i64, u32, u64, u64)]) -> RecordBatch {
        let mut b = CounterBuilders::with_capacity(rows.len());
        let a = addr::parse_text("192.0.2.1").unwrap();
        for &(t, seq, octets, packets) in rows {
            b.push_row(&CounterRow {
                time_received: Some(T0 + t),
                exporter: Some(a),
                agent: Some(a),
                source_kind: Some("sflow"),
                sequence: Some(seq),
                if_index: Some(7),
                in_octets: Some(octets),
                in_packets: Some(packets),
                ..Default::default()
            });
        }
        b.finish()
    }

    fn deltas(batches: &[RecordBatch]) -> Vec<(i64, u64, u64, u64)> {
        let mut d = CounterDeltas::default();
        let mut out = Vec::new();
        for b in batches {
            d.add(b, |x| {
                assert_eq!((x.interface, x.direction), (7, 0));
                out.push(((x.minute - T0) / MINUTE_US, x.samples, x.packets, x.bytes))
            });
        }
        out
    }

    #[test]
    fn a_difference_is_spread_over_the_minutes_it_spans() {
        let s = 1_000_000;
        // 13:45:50 -> 13:46:20: a third in 13:45, two thirds in 13:46.
        let got = deltas(&[samples(&[(50 * s, 1, 1000, 10), (80 * s, 2, 1000 + 3000, 10 + 30)])]);
        assert_eq!(got, [(0, 0, 10, 1000), (1, 1, 20, 2000)]);
        // Within one minute: all of it there.
        assert_eq!(deltas(&[samples(&[(s, 1, 0, 0), (20 * s, 2, 500, 5)])]), [(0, 1, 5, 500)]);
    }

    #[test]
    fn restarts_gaps_and_wraps() {
        let s = 1_000_000;
        // The sequence restarts: no difference, the next one counts from the new sample.
        let restart = samples(&[(0, 5, 9000, 90), (20 * s, 1, 100, 1), (40 * s, 2, 300, 3)]);
        assert_eq!(deltas(&[restart]), [(0, 1, 2, 200)]);
        // Too long between samples: nothing placed.
        assert!(deltas(&[samples(&[(0, 1, 0, 0), (MAX_GAP_US + s, 2, 10, 1)])]).is_empty());
        // A 32-bit packet counter wraps; a 64-bit octet counter going down is a reset.
        let wrap = samples(&[(0, 1, 100, u32::MAX as u64 - 1), (20 * s, 2, 200, 3)]);
        assert_eq!(deltas(&[wrap]), [(0, 1, 5, 100)]);
        let reset = samples(&[(0, 1, 100, 1), (20 * s, 2, 50, 2)]);
        assert!(deltas(&[reset]).is_empty());
        // Times at the very end of the clock (a capture file can say so) are placed too.
        let mut d = CounterDeltas::default();
        let mut parts = 0;
        let end = samples(&[(i64::MAX - T0 - 90 * s, 1, 0, 0), (i64::MAX - T0, 2, 90, 9)]);
        d.add(&end, |x| {
            parts += 1;
            assert!(x.bytes <= 90);
        });
        assert!((1..=3).contains(&parts), "{parts} minutes");
        // Across batches, as the collector sends them.
        let (a, b) = (samples(&[(0, 1, 0, 0)]), samples(&[(30 * s, 2, 60, 6)]));
        assert_eq!(deltas(&[a, b]), [(0, 1, 6, 60)]);
    }
}
