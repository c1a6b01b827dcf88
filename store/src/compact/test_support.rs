//! Flows, flushed stores and file listings shared by the compactor's tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use plumb_collector::addr;
use plumb_collector::schema::interface_counters::{CounterBuilders, CounterRow};
use plumb_collector::schema::{FlowBuilders, FlowRow, Table, TableBatch};

use super::due::row_count;
use super::{CompactionConfig, Compactor};
use crate::{FlowStore, StoreConfig};

pub(super) const T0: i64 = 1_741_009_500_000_000; // 2025-03-03 13:45

pub(super) fn flows(n: usize, seed: u64) -> RecordBatch {
    let mut b = FlowBuilders::with_capacity(n);
    for i in 0..n as u64 {
        let x = (i * 2_654_435_761 + seed * 97) % 1000;
        let row = FlowRow {
            time_received: Some(T0),
            flow_end: Some(T0 + (x as i64) * 1000),
            exporter: Some(addr::parse_text("192.0.2.1").unwrap()),
            source_kind: Some("ipfix"),
            src_addr: Some(addr::parse_text(&format!("10.0.{}.{}", x % 7, x % 251)).unwrap()),
            protocol: Some(6),
            bytes: Some(x + 1),
            packets: Some(1),
            ..Default::default()
        };
        b.append(&row, []);
    }
    b.finish()
}

/// A store with `files` flush files of `rows` flows each (seeds 0, 1, ...).
pub(super) fn flushed(dir: &Path, files: u64, rows: usize) {
    let mut store = FlowStore::open(StoreConfig::new(dir)).unwrap();
    for seed in 0..files {
        store.push(&flows(rows, seed)).unwrap();
        store.flush().unwrap();
    }
}

pub(super) fn compactor(dir: &Path) -> Compactor {
    Compactor::open(dir, CompactionConfig::default(), Duration::ZERO).unwrap().unwrap()
}

pub(super) fn rows_in(files: &[PathBuf]) -> std::io::Result<u64> {
    files.iter().map(|f| row_count(f)).sum()
}

pub(super) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    out.sort();
    out
}

pub(super) fn read(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(|b| b.unwrap()).collect()
}

/// Flows of 20 sources, each with mixed protocols (some null), ports and end times.
pub(super) fn mixed_flows(n: u64, seed: u64) -> RecordBatch {
    let mut b = FlowBuilders::with_capacity(n as usize);
    for i in 0..n {
        let x = i * 2_654_435_761 + seed * 97;
        let src = format!("10.0.0.{}", x % 20);
        let row = FlowRow {
            time_received: Some(T0),
            flow_end: Some(T0 + (x % 977) as i64 * 1000),
            exporter: Some(addr::parse_text("192.0.2.1").unwrap()),
            source_kind: Some("ipfix"),
            src_addr: Some(addr::parse_text(&src).unwrap()),
            protocol: [Some(6), Some(17), None][(x / 20 % 3) as usize],
            dst_port: (!x.is_multiple_of(11)).then_some((x / 60 % 4) as u16 * 443),
            bytes: Some(x % 1000 + 1),
            packets: Some(1),
            ..Default::default()
        };
        b.append(&row, []);
    }
    b.finish()
}

/// Counter samples of `n` interfaces of one agent, received at `T0 + at` µs.
pub(super) fn counters(n: u32, at: i64) -> TableBatch {
    let mut b = CounterBuilders::with_capacity(n as usize);
    for i in (0..n).rev() {
        let row = CounterRow {
            time_received: Some(T0 + at),
            exporter: Some(addr::parse_text("192.0.2.1").unwrap()),
            agent: Some(addr::parse_text("192.0.2.1").unwrap()),
            source_kind: Some("sflow"),
            if_index: Some(i),
            in_octets: Some(1000 * i as u64 + at as u64),
            ..Default::default()
        };
        b.push_row(&row);
    }
    TableBatch::new(Table::InterfaceCounters, b.finish())
}
