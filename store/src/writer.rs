//! The Parquet sink: buffers rows per table and hour partition and commits them as files
//! every flush interval (or earlier when the buffer bound is reached), `flows` with its
//! per-minute rollups. The tables beside it (`interface_counters`, `drops`) are filed by
//! their receive time (a counter or a drop is a moment, not a span) and have no rollups.
//!
//! Commit protocol per hour ([`super::commit`], on the committer thread in the collector): write the flows file and its rollup file under hidden
//! temporary names and sync them, rename the flows file (the commit point), then the rollup
//! file, syncing the folders. A crash at any point leaves either no file or a complete one,
//! so the committed rows are exactly the visible `*.parquet` files; at open, temporary
//! files of dead writers are removed, except a rollup whose flows file was committed, which
//! is promoted ([`journal::remove_leftovers`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::array::{Array, RecordBatch, TimestampMicrosecondArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::DataType;

use plumb_collector::schema::{Table, TableBatch, flows_schema};

use super::codec::Codec;
use super::commit::{Committer, Encoded, OnCommit, Prepared};
use super::counter_deltas::CounterDeltas;
use super::encode::FileEncoder;
use super::journal;
use super::layout::{self, HOUR_US, Hour};
use super::lock;
use super::rollup::{Rollup, Rollups};

/// How far a flow end may lie from its receive time before the row is filed under the
/// receive hour instead (the decoded times are kept as they are).
const PLAUSIBLE_PAST_US: i64 = 24 * HOUR_US;
const PLAUSIBLE_FUTURE_US: i64 = HOUR_US;

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub flush_interval: Duration,
    /// Rows buffered across partitions before a flush is forced (bounds memory).
    pub max_buffered_rows: usize,
    pub codec: Codec,
}

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            flush_interval: Duration::from_secs(10),
            max_buffered_rows: 1 << 18,
            codec: Codec::Lz4,
        }
    }
}

/// What one flush committed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FlushReport {
    /// Rows of every table.
    pub rows: u64,
    /// Rows per table, indexed by `Table as usize`.
    pub rows_by_table: [u64; Table::ALL.len()],
    pub bytes: u64,
    pub files: u64,
    pub seconds: f64,
}

impl FlushReport {
    /// Adds what another flush committed (if it ran).
    pub fn add(&mut self, other: Option<FlushReport>) {
        if let Some(o) = other {
            self.rows += o.rows;
            for (a, b) in self.rows_by_table.iter_mut().zip(o.rows_by_table) {
                *a += b;
            }
            self.bytes += o.bytes;
            self.files += o.files;
            self.seconds += o.seconds;
        }
    }
}

/// The Parquet sink of the `flows` table.
pub struct FlowStore {
    cfg: StoreConfig,
    /// Encoders of the flush files and their rollups, built once from the codec.
    flows: FileEncoder,
    rollup_encoders: Vec<(Rollup, FileEncoder)>,
    /// Encoders of the tables beside `flows`.
    side_encoders: Vec<(Table, FileEncoder)>,
    buffers: BTreeMap<Hour, Vec<RecordBatch>>,
    /// Rows of the tables beside `flows`, by table and receive hour.
    side: BTreeMap<(Table, Hour), Vec<RecordBatch>>,
    buffered_rows: usize,
    rollups: Rollups,
    /// The last counter sample of each interface, for the counter rows of `interfaces_1m`.
    deltas: CounterDeltas,
    seq: u64,
    writer_id: u32,
    last_flush: Instant,
    /// Where flushes are committed in the background (the collector); `None` commits
    /// them before `flush` returns.
    committer: Option<Committer>,
    /// Rows filed under their receive hour because their end time was missing or implausible.
    pub implausible_rows: u64,
}

impl FlowStore {
    /// Opens (creating) the store and repairs what a crash left: an interrupted compaction
    /// is completed, temporary files of dead writers are removed.
    pub fn open(cfg: StoreConfig) -> std::io::Result<FlowStore> {
        let root = cfg.data_dir.join(layout::FLOWS_DIR);
        std::fs::create_dir_all(&root)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create {}: {e}", root.display())))?;
        recover(&cfg.data_dir)?;
        let rollup_encoders = Rollup::ALL
            .into_iter()
            .map(|r| Ok((r, FileEncoder::new(r.schema(), cfg.codec, |_| true)?)))
            .collect::<parquet::errors::Result<_>>()
            .map_err(std::io::Error::other)?;
        let side_encoders = [Table::InterfaceCounters, Table::Drops, Table::Findings]
            .into_iter()
            .map(|t| Ok((t, FileEncoder::new(t.schema(), cfg.codec, |_| true)?)))
            .collect::<parquet::errors::Result<_>>()
            .map_err(std::io::Error::other)?;
        Ok(FlowStore {
            flows: FileEncoder::new(flows_schema(), cfg.codec, prunes_in_flush_files)
                .map_err(std::io::Error::other)?,
            rollup_encoders,
            side_encoders,
            cfg,
            buffers: BTreeMap::new(),
            side: BTreeMap::new(),
            buffered_rows: 0,
            rollups: Rollups::default(),
            deltas: CounterDeltas::default(),
            seq: 0,
            writer_id: std::process::id(),
            last_flush: Instant::now(),
            committer: None,
            implausible_rows: 0,
        })
    }

    /// Commits flushes on a thread of their own from now on, with room for `depth`
    /// encoded flushes; `on_commit` hears of every attempt (rows, bytes, duration or
    /// error). [`FlowStore::flush`] then returns once the files are encoded and queued.
    pub fn commit_in_background(&mut self, depth: usize, on_commit: OnCommit) -> std::io::Result<()> {
        self.committer = Some(Committer::spawn(depth, on_commit)?);
        Ok(())
    }

    /// Flushes every buffered row and waits for every queued commit; returns the rows
    /// committed in the background since [`FlowStore::commit_in_background`].
    pub fn close(mut self) -> std::io::Result<u64> {
        if let Some(c) = &self.committer {
            c.begin_close();
        }
        let flushed = self.flush();
        let background = self.committer.as_mut().map_or(0, Committer::close);
        flushed.map(|_| background)
    }

    /// Buffers a batch of `flows`, split by partition. Flushes when the buffer bound is
    /// reached.
    pub fn push(&mut self, batch: &RecordBatch) -> std::io::Result<Option<FlushReport>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        self.check_room(batch)?;
        let events = self.event_times(batch);
        self.rollups.add(batch, &events);
        let hours: Vec<Hour> = events.iter().map(|&e| Hour::of_us(e)).collect();
        for (hour, part) in split_by_hour(batch, &hours)? {
            self.buffered_rows += part.num_rows();
            self.buffers.entry(hour).or_default().push(part);
        }
        self.flush_if_full()
    }

    /// Buffers a batch of any table, split by partition: `flows` as [`FlowStore::push`]
    /// does, the others by the hour of their receive time.
    pub fn push_table(&mut self, b: &TableBatch) -> std::io::Result<Option<FlushReport>> {
        if b.table == Table::Flows {
            return self.push(&b.batch);
        }
        if b.rows() == 0 {
            return Ok(None);
        }
        if b.batch.schema() != b.table.schema() {
            return Err(std::io::Error::other(format!(
                "a batch for `{}` does not have its schema; {} rows dropped",
                b.table.name(),
                b.rows()
            )));
        }
        self.check_room(&b.batch)?;
        let received = b.batch.column_by_name("time_received");
        let hours: Vec<Hour> =
            match received.and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>()) {
                Some(t) => t.values().iter().map(|&us| Hour::of_us(us)).collect(),
                None => vec![Hour::of_us(layout::now_us()); b.rows()],
            };
        for (hour, part) in split_by_hour(&b.batch, &hours)? {
            self.buffered_rows += part.num_rows();
            self.side.entry((b.table, hour)).or_default().push(part);
        }
        if b.table == Table::InterfaceCounters {
            let rollups = &mut self.rollups;
            self.deltas.add(&b.batch, |d| rollups.add_counted(d));
        }
        self.flush_if_full()
    }

    /// Refuses a batch while flushes keep failing (disk full?), instead of growing
    /// without bound.
    fn check_room(&self, batch: &RecordBatch) -> std::io::Result<()> {
        if self.buffered_rows >= self.cfg.max_buffered_rows.saturating_mul(4) {
            return Err(std::io::Error::other(format!(
                "{} rows wait for a store that cannot be written; batch of {} rows dropped",
                self.buffered_rows,
                batch.num_rows()
            )));
        }
        Ok(())
    }

    fn flush_if_full(&mut self) -> std::io::Result<Option<FlushReport>> {
        if self.buffered_rows >= self.cfg.max_buffered_rows {
            return self.flush().map(Some);
        }
        Ok(None)
    }

    /// Whether the flush interval has passed since the last flush.
    pub fn flush_due(&self) -> bool {
        self.last_flush.elapsed() >= self.cfg.flush_interval
    }

    pub fn buffered_rows(&self) -> usize {
        self.buffered_rows
    }

    /// Commits every buffered row (or, committing in the background, queues it). On an
    /// error the partitions not yet committed stay buffered for the next attempt (none is
    /// committed twice: each commit is one rename).
    pub fn flush(&mut self) -> std::io::Result<FlushReport> {
        let started = Instant::now();
        let mut report = FlushReport::default();
        self.last_flush = Instant::now();
        while let Some((hour, batches)) = self.buffers.pop_first() {
            match self.prepare_hour(hour, &batches).and_then(|p| self.hand_over(p)) {
                Ok(r) => {
                    report.add(Some(r));
                    self.rollups.clear(hour);
                }
                Err(e) => {
                    self.buffers.insert(hour, batches);
                    return Err(e);
                }
            }
        }
        while let Some(((table, hour), batches)) = self.side.pop_first() {
            match self.prepare_side(table, hour, &batches).and_then(|p| self.hand_over(p)) {
                Ok(r) => {
                    report.add(Some(r));
                    if table == Table::InterfaceCounters {
                        self.rollups.clear(hour);
                    }
                }
                Err(e) => {
                    self.side.insert((table, hour), batches);
                    return Err(e);
                }
            }
        }
        // Rollup rows of hours that had no rows of their own this time (counter traffic
        // spread back into an hour already flushed) are committed alone.
        for hour in self.rollups.hours() {
            let Some(p) = self.prepare_rollups_alone(hour)? else {
                self.rollups.clear(hour);
                continue;
            };
            report.add(Some(self.hand_over(p)?));
            self.rollups.clear(hour);
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Commits a prepared flush, or queues it for the committer; the rows leave the buffer.
    fn hand_over(&mut self, p: Prepared) -> std::io::Result<FlushReport> {
        let r = match &self.committer {
            Some(c) => {
                let mut r = FlushReport::default();
                if let Some(t) = p.table {
                    (r.rows, r.rows_by_table[t as usize]) = (p.file.rows, p.file.rows);
                }
                c.send(p).map(|()| r)?
            }
            None => p.commit()?,
        };
        self.buffered_rows -= r.rows as usize;
        Ok(r)
    }

    /// A new flush file's name.
    fn next_name(&mut self) -> String {
        self.seq += 1;
        layout::file_name("flush", layout::now_us(), self.writer_id, self.seq)
    }

    /// Encodes one hour of a table beside `flows`, ready to commit.
    fn prepare_side(
        &mut self,
        table: Table,
        hour: Hour,
        batches: &[RecordBatch],
    ) -> std::io::Result<Prepared> {
        let name = self.next_name();
        let encoder = self.side_encoders.iter().find(|(t, _)| *t == table).map(|(_, e)| e);
        let encoder = encoder.ok_or_else(|| std::io::Error::other(format!("no encoder for {table:?}")))?;
        let bytes = encoder.write(batches).map_err(std::io::Error::other)?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let dir = layout::partition_dir(&self.cfg.data_dir, table.name(), hour);
        // Counters carry the `interfaces_1m` rows they fed, committed after them.
        let rollups = match table {
            Table::InterfaceCounters => self.encode_rollups(hour, &name, &[Rollup::Interfaces])?,
            _ => Vec::new(),
        };
        Ok(Prepared { table: Some(table), file: Encoded { dir, name, bytes, rows }, rollups })
    }

    /// Encodes an hour's rollup rows as a commit of their own (no raw rows with them).
    fn prepare_rollups_alone(&mut self, hour: Hour) -> std::io::Result<Option<Prepared>> {
        let name = self.next_name();
        let mut files = self.encode_rollups(hour, &name, &Rollup::ALL)?;
        let Some(file) = files.pop() else { return Ok(None) };
        Ok(Some(Prepared { table: None, file, rollups: files }))
    }

    /// Encodes the rows of `which` rollups of one hour, as files named `name`.
    fn encode_rollups(&self, hour: Hour, name: &str, which: &[Rollup]) -> std::io::Result<Vec<Encoded>> {
        let mut out = Vec::new();
        for (r, encoder) in self.rollup_encoders.iter().filter(|(r, _)| which.contains(r)) {
            if let Some(b) = self.rollups.batch_of(hour, *r) {
                let bytes = encoder.write(std::slice::from_ref(&b)).map_err(std::io::Error::other)?;
                let dir = layout::partition_dir(&self.cfg.data_dir, r.dir(), hour);
                out.push(Encoded { dir, name: name.to_string(), bytes, rows: b.num_rows() as u64 });
            }
        }
        Ok(out)
    }

    /// Encodes one hour's flows and rollups, ready to commit.
    fn prepare_hour(&mut self, hour: Hour, batches: &[RecordBatch]) -> std::io::Result<Prepared> {
        let name = self.next_name();
        let bytes = self.flows.write(batches).map_err(std::io::Error::other)?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let dir = layout::partition_dir(&self.cfg.data_dir, layout::FLOWS_DIR, hour);
        let rollups = self.encode_rollups(hour, &name, &Rollup::ALL)?;
        Ok(Prepared { table: Some(Table::Flows), file: Encoded { dir, name, bytes, rows }, rollups })
    }

    /// Each row's event time: its flow end, when that end is plausible against the
    /// message's export time (the receive time where a source has none); the receive time
    /// otherwise. The partition hour and the rollup minute are taken from it.
    /// Judging by the export time keeps a replayed or late-delivered day in its own hours;
    /// the receive time stays the fallback because it is the one clock plumb owns.
    fn event_times(&mut self, batch: &RecordBatch) -> Vec<i64> {
        let ts = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>().cloned())
        };
        let (Some(end), Some(recv)) = (ts("flow_end"), ts("time_received")) else {
            return vec![layout::now_us(); batch.num_rows()];
        };
        let exported = ts("time_exported");
        (0..batch.num_rows())
            .map(|i| {
                let r = recv.value(i);
                let reference = match &exported {
                    Some(x) if x.is_valid(i) => x.value(i),
                    _ => r,
                };
                if end.is_valid(i) {
                    let e = end.value(i);
                    if e >= reference.saturating_sub(PLAUSIBLE_PAST_US)
                        && e <= reference.saturating_add(PLAUSIBLE_FUTURE_US)
                    {
                        return e;
                    }
                }
                self.implausible_rows += 1;
                r
            })
            .collect()
    }
}

/// Splits a batch into one batch per hour (a batch usually spans one or two hours).
fn split_by_hour(batch: &RecordBatch, hours: &[Hour]) -> std::io::Result<Vec<(Hour, RecordBatch)>> {
    if hours.windows(2).all(|w| w[0] == w[1]) {
        return Ok(hours.first().map(|h| (*h, batch.clone())).into_iter().collect());
    }
    let mut idx: Vec<u32> = (0..hours.len() as u32).collect();
    idx.sort_by_key(|&i| hours[i as usize]);
    let sorted = take_record_batch(batch, &UInt32Array::from(idx.clone())).map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    let mut start = 0;
    while start < idx.len() {
        let h = hours[idx[start] as usize];
        let mut end = start;
        while end < idx.len() && hours[idx[end] as usize] == h {
            end += 1;
        }
        out.push((h, sorted.slice(start, end - start)));
        start = end;
    }
    Ok(out)
}

/// Which `flows` columns get min/max statistics in flush files: all but the addresses of
/// the flow itself. In a flush file those are in arrival order, so their range spans
/// nearly the whole address space and prunes nothing (decision 0004); compaction sorts by
/// source address and writes them with statistics. The exporter keeps them: one file
/// usually holds few exporters.
fn prunes_in_flush_files(f: &arrow::datatypes::Field) -> bool {
    !matches!(f.data_type(), DataType::FixedSizeBinary(_)) || f.name() == "exporter"
}

/// Completes an interrupted compaction (under the exclusive store lock: no query may
/// list the store mid-swap) and removes what dead writers left.
fn recover(data: &std::path::Path) -> std::io::Result<()> {
    if journal::pending(data) {
        let Some(_held) = lock::exclusive(data, Duration::from_secs(60))? else {
            return Err(std::io::Error::other(
                "an interrupted compaction needs the store to itself, but queries held it for 60 s; retry when they are done",
            ));
        };
        journal::recover(data)?;
    }
    journal::remove_leftovers(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumb_collector::addr;
    use plumb_collector::schema::{FlowBuilders, FlowRow};
    use std::path::Path;

    fn batch(rows: &[(i64, Option<i64>)]) -> RecordBatch {
        let mut b = FlowBuilders::with_capacity(rows.len());
        let a = addr::parse_text("10.0.0.1").unwrap();
        for &(recv, end) in rows {
            let row = FlowRow {
                time_received: Some(recv),
                flow_end: end,
                exporter: Some(a),
                source_kind: Some("ipfix"),
                bytes: Some(100),
                ..Default::default()
            };
            b.append(&row, []);
        }
        b.finish()
    }

    /// A store in `dir` that flushes whenever `rows` rows are buffered.
    fn store_flushing_every(dir: &Path, rows: usize) -> FlowStore {
        let mut cfg = StoreConfig::new(dir);
        cfg.max_buffered_rows = rows;
        FlowStore::open(cfg).unwrap()
    }

    fn parquet_files(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn rows_land_in_the_hour_of_their_flow_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        let h = HOUR_US;
        let recv = 1_741_009_500_000_000; // 2025-03-03 13:45
        s.push(&batch(&[
            (recv, Some(recv - 2 * h)),       // 11h: plausible
            (recv, Some(recv)),               // 13h
            (recv, Some(recv - 30 * 24 * h)), // a month before: implausible -> 13h
            (recv, None),                     // no end time -> 13h
        ]))
        .unwrap();
        let r = s.flush().unwrap();
        assert_eq!((r.rows, r.files), (4, 2));
        assert_eq!(s.implausible_rows, 2);
        let files = parquet_files(&dir.path().join("flows"));
        assert_eq!(files.len(), 2);
        assert!(files[0].to_string_lossy().contains("date=2025-03-03/hour=11/flush-"));
        assert!(files[1].to_string_lossy().contains("date=2025-03-03/hour=13/flush-"));
    }

    #[test]
    fn a_replayed_day_is_judged_by_its_export_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        let h = HOUR_US;
        let recv = 1_741_009_500_000_000; // 2025-03-03 13:45, received now
        let exported = recv - 10 * 24 * h; // exported ten days earlier (a replay)
        let mut b = FlowBuilders::with_capacity(2);
        for end in [exported - 3 * h, exported - 40 * 24 * h] {
            let row = FlowRow {
                time_received: Some(recv),
                time_exported: Some(exported),
                flow_end: Some(end),
                exporter: Some(addr::parse_text("10.0.0.1").unwrap()),
                source_kind: Some("ipfix"),
                ..Default::default()
            };
            b.append(&row, []);
        }
        s.push(&b.finish()).unwrap();
        s.flush().unwrap();
        // The first is plausible against its export time: its own hour (2025-02-21 10h);
        // the second is not: the receive hour.
        assert_eq!(s.implausible_rows, 1);
        let files = parquet_files(&dir.path().join("flows"));
        assert!(files[0].to_string_lossy().contains("date=2025-02-21/hour=10/flush-"), "{files:?}");
        assert!(files[1].to_string_lossy().contains("date=2025-03-03/hour=13/flush-"), "{files:?}");
    }

    #[test]
    fn side_tables_are_filed_by_receive_hour_in_their_own_folders() {
        use plumb_collector::schema::drops::{DropBuilders, DropRow};
        let dir = tempfile::tempdir().unwrap();
        let mut s = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        let recv = 1_741_009_500_000_000; // 2025-03-03 13:45
        let mut d = DropBuilders::with_capacity(2);
        for t in [recv, recv + HOUR_US] {
            let a = addr::parse_text("10.0.0.1").unwrap();
            d.push_row(&DropRow {
                time_received: Some(t),
                exporter: Some(a),
                agent: Some(a),
                source_kind: Some("sflow"),
                reason_code: Some(262),
                reason: Some("pkt_too_big"),
                drops: Some(1),
                ..Default::default()
            });
        }
        s.push_table(&TableBatch::new(Table::Drops, d.finish())).unwrap();
        s.push(&batch(&[(recv, Some(recv))])).unwrap();
        assert_eq!(s.buffered_rows(), 3);
        let r = s.flush().unwrap();
        assert_eq!((r.rows, r.files, r.rows_by_table), (3, 3, [1, 0, 2, 0]));
        let files = parquet_files(&dir.path().join("drops"));
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files[0].to_string_lossy().contains("drops/date=2025-03-03/hour=13/flush-"));
        assert!(files[1].to_string_lossy().contains("drops/date=2025-03-03/hour=14/flush-"));
        assert!(!dir.path().join("flows_1m/date=2025-03-03/hour=14").exists(), "no rollups of drops");
        // A batch that is not the table's is refused, not filed.
        let wrong = TableBatch::new(Table::Drops, batch(&[(recv, Some(recv))]));
        assert!(s.push_table(&wrong).is_err());
        assert_eq!(s.buffered_rows(), 0);
    }

    #[test]
    fn open_removes_interrupted_writes() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("flows/date=2025-03-03/hour=13");
        std::fs::create_dir_all(&part).unwrap();
        // Written by a process that is gone (no pid is that large).
        std::fs::write(part.join(".flush-1-2147483632-000001.parquet.tmp"), b"torn").unwrap();
        std::fs::write(part.join("keep.parquet"), b"x").unwrap();
        FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        let files = parquet_files(&dir.path().join("flows"));
        assert_eq!(files.len(), 1);
        assert!(files[0].ends_with("keep.parquet"));
    }

    #[test]
    fn buffer_bound_forces_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store_flushing_every(dir.path(), 3);
        let recv = 1_741_009_500_000_000;
        assert!(s.push(&batch(&[(recv, Some(recv)); 2])).unwrap().is_none());
        let r = s.push(&batch(&[(recv, Some(recv)); 2])).unwrap().unwrap();
        assert_eq!(r.rows, 4);
        assert_eq!(s.buffered_rows(), 0);
    }

    #[test]
    fn background_commits_report_every_row_and_close_waits_for_them() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let mut s = store_flushing_every(dir.path(), 3);
        let heard = std::sync::Arc::new(AtomicU64::new(0));
        let h = heard.clone();
        s.commit_in_background(
            1,
            Box::new(move |r| {
                h.fetch_add(r.as_ref().unwrap().rows, Ordering::Relaxed);
            }),
        )
        .unwrap();
        // Two hours, several flushes forced by the bound, more than the queue holds.
        let recv = 1_741_009_500_000_000;
        for i in 0..5 {
            s.push(&batch(&[(recv, Some(recv + i * HOUR_US / 2)); 2])).unwrap();
        }
        s.push(&batch(&[(recv, Some(recv)); 1])).unwrap();
        assert_eq!(s.close().unwrap(), 11, "close waits for every queued commit");
        assert_eq!(heard.load(Ordering::Relaxed), 11);
        let files = parquet_files(&dir.path().join(layout::FLOWS_DIR));
        let rows: i64 = files
            .iter()
            .map(|f| {
                let r = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(f).unwrap())
                    .unwrap();
                parquet::file::reader::FileReader::metadata(&r).file_metadata().num_rows()
            })
            .sum();
        assert_eq!(rows, 11);
        assert!(files.iter().all(|f| f.extension().is_some_and(|e| e == "parquet")), "{files:?}");
    }

    #[test]
    fn flush_files_keep_statistics_where_they_can_prune() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        let recv = 1_741_009_500_000_000;
        let mut b = FlowBuilders::with_capacity(2);
        for (i, src) in ["10.0.0.9", "192.0.2.1"].into_iter().enumerate() {
            let row = FlowRow {
                time_received: Some(recv),
                flow_end: Some(recv + i as i64),
                exporter: Some(addr::parse_text("10.0.0.1").unwrap()),
                source_kind: Some("ipfix"),
                src_addr: Some(addr::parse_text(src).unwrap()),
                bytes: Some(100),
                ..Default::default()
            };
            b.append(&row, []);
        }
        s.push(&b.finish()).unwrap();
        s.flush().unwrap();
        let file = std::fs::File::open(&parquet_files(&dir.path().join("flows"))[0]).unwrap();
        let meta = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        let rg = parquet::file::reader::FileReader::metadata(&meta).row_group(0).clone();
        let stats = |name: &str| {
            let c = rg.columns().iter().find(|c| c.column_path().string() == name).unwrap();
            c.statistics().is_some_and(|s| s.min_bytes_opt().is_some())
        };
        assert!(stats("flow_end") && stats("exporter") && stats("bytes"));
        assert!(!stats("src_addr"), "arrival-order addresses prune nothing");
    }
}
