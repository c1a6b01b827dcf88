//! Compaction: merges an hour's small flush files into one large file sorted for queries,
//! in the background, with bounded memory, crash-safely.
//!
//! - **Which hours.** An hour with flush files is compacted once no file arrived for
//!   `settle` (the hour is over, or a replay moved on), or earlier when it has
//!   `max_flush_files` of them, so the current hour of a busy collector stays a few files.
//!   Its inputs are the flush files plus compacted files under half of `target_rows`, so
//!   rows that arrive late for a compacted hour are merged into it on the next round.
//! - **How.** DataFusion reads the inputs and sorts them (flows) or re-sums them
//!   (rollups) under a memory limit, spilling sorted runs to `DATA/.spill` and merging
//!   them, and the result streams into one Parquet file under a temporary name.
//! - **Swap.** Under the exclusive store lock a journal names the output and inputs
//!   (the commit point), the output is renamed into place and the inputs are deleted
//!   ([`journal`]). Queries hold the lock shared, so each sees every row exactly once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnPath;

use plumb_collector::schema::flows_schema;

use super::fault;
use super::file::TempFile;
use super::journal::{self, Journal};
use super::layout::{self, FLOWS_DIR};
use super::lock;
use super::rollup::Rollup;
use super::writer::Codec;

/// How and when hours are compacted (`[store.compaction]` in plumb.toml).
#[derive(Clone, Debug)]
pub struct CompactionConfig {
    /// An hour is compacted once no file arrived in it for this long.
    pub settle: Duration,
    /// ...or once it holds this many flush files.
    pub max_flush_files: usize,
    /// Rows per compacted file at most (a larger hour gets several files).
    pub target_rows: u64,
    /// Memory for sorting before sorted runs spill to disk.
    pub memory_limit: usize,
    /// Threads the sort may use.
    pub threads: usize,
    pub codec: Codec,
    pub row_group_rows: usize,
    /// Sort order of the flows files (column names).
    pub sort: Vec<String>,
    /// How long a commit waits for running queries before it retries on a later round.
    pub commit_patience: Duration,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(120),
            max_flush_files: 32,
            target_rows: 16 << 20,
            memory_limit: 512 << 20,
            threads: 1,
            codec: Codec::Lz4,
            row_group_rows: 1 << 20,
            sort: ["src_addr", "protocol", "dst_port", "flow_end"].map(String::from).to_vec(),
            commit_patience: Duration::from_secs(30),
        }
    }
}

/// The tables the store compacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Flows,
    Rollup(Rollup),
}

impl Table {
    pub const ALL: [Table; 3] =
        [Table::Flows, Table::Rollup(Rollup::Flows), Table::Rollup(Rollup::Interfaces)];

    pub fn dir(self) -> &'static str {
        match self {
            Table::Flows => FLOWS_DIR,
            Table::Rollup(r) => r.dir(),
        }
    }

    fn schema(self) -> SchemaRef {
        match self {
            Table::Flows => flows_schema(),
            Table::Rollup(r) => r.schema(),
        }
    }

    /// The statement that turns the inputs (table `input`) into the output rows.
    fn sql(self, cfg: &CompactionConfig) -> String {
        match self {
            Table::Flows => format!("SELECT * FROM input ORDER BY {}", order_by(&cfg.sort)),
            Table::Rollup(r) => {
                let keys = r.key_columns().join(", ");
                format!(
                    "SELECT {keys}, sum(flows) AS flows, sum(packets) AS packets, sum(bytes) AS bytes \
                     FROM input GROUP BY {keys} ORDER BY {}",
                    order_by(r.key_columns())
                )
            }
        }
    }

    fn sort_columns(self, cfg: &CompactionConfig) -> Vec<String> {
        match self {
            Table::Flows => cfg.sort.clone(),
            Table::Rollup(r) => r.key_columns().iter().map(|s| s.to_string()).collect(),
        }
    }
}

fn order_by<S: AsRef<str>>(cols: &[S]) -> String {
    cols.iter().map(|c| format!("\"{}\" ASC NULLS FIRST", c.as_ref())).collect::<Vec<_>>().join(", ")
}

/// One committed file of an hour.
#[derive(Clone, Debug)]
pub struct Part {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

/// One compaction to do: these files of one hour into one.
#[derive(Clone, Debug)]
pub struct Task {
    pub table: Table,
    /// The hour folder, relative to the data directory.
    pub hour: PathBuf,
    pub inputs: Vec<Part>,
}

impl Task {
    pub fn rows(&self) -> u64 {
        self.inputs.iter().map(|p| p.rows).sum()
    }
}

/// What compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CompactionReport {
    pub tasks: u64,
    pub files_in: u64,
    pub rows: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Compactions that failed (their hours were skipped).
    pub failed: u64,
    pub seconds: f64,
}

impl CompactionReport {
    fn add(&mut self, r: &CompactionReport) {
        self.tasks += r.tasks;
        self.files_in += r.files_in;
        self.rows += r.rows;
        self.bytes_in += r.bytes_in;
        self.bytes_out += r.bytes_out;
    }
}

/// The store's compactor; holding one keeps other compactors off the store.
pub struct Compactor {
    data: PathBuf,
    cfg: CompactionConfig,
    rt: tokio::runtime::Runtime,
    seq: u64,
    _only_one: lock::Held,
}

impl Compactor {
    /// `None` when another compactor works on this store (waited `patience` for it).
    pub fn open(
        data: &Path,
        cfg: CompactionConfig,
        patience: Duration,
    ) -> std::io::Result<Option<Compactor>> {
        std::fs::create_dir_all(data)?;
        let Some(held) = lock::compactor(data, patience)? else { return Ok(None) };
        // Spill files of a compactor that died; only the holder of the lock spills here.
        match std::fs::remove_dir_all(data.join(".spill")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads.max(1))
            .thread_name("compact")
            .enable_all()
            .build()?;
        Ok(Some(Compactor { data: data.to_path_buf(), cfg, rt, seq: 0, _only_one: held }))
    }

    /// The compactions due now (`force`: every hour with flush files, settled or not).
    pub fn due(&self, force: bool) -> std::io::Result<Vec<Task>> {
        self.repair()?;
        let mut tasks = Vec::new();
        for table in Table::ALL {
            for hour in hour_dirs(&self.data.join(table.dir()))? {
                let rel = hour.strip_prefix(&self.data).unwrap_or(&hour).to_path_buf();
                if let Some(t) = self.plan_hour(table, &hour, rel, force)? {
                    tasks.push(t);
                }
            }
        }
        Ok(tasks)
    }

    /// Runs every due compaction until none is left or `stop` is set. A compaction that
    /// fails (an unreadable input, a full disk) is logged, counted in the report's
    /// `failed`, and its hour skipped until the next call; its inputs stay as they are.
    pub fn run_due(
        &mut self,
        force: bool,
        stop: &AtomicBool,
        mut progress: impl FnMut(&Task, &CompactionReport),
    ) -> std::io::Result<CompactionReport> {
        let started = Instant::now();
        let mut total = CompactionReport::default();
        let mut failed: Vec<PathBuf> = Vec::new();
        loop {
            let tasks: Vec<Task> =
                self.due(force)?.into_iter().filter(|t| !failed.contains(&t.hour)).collect();
            if tasks.is_empty() || stop.load(Ordering::Relaxed) {
                break;
            }
            let mut done_any = false;
            for t in &tasks {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match self.run(t, stop) {
                    Ok(Some(r)) => {
                        done_any = true;
                        total.add(&r);
                        progress(t, &r);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!("compaction of {} failed: {e}; its files are kept", t.hour.display());
                        total.failed += 1;
                        failed.push(t.hour.clone());
                    }
                }
            }
            if !done_any {
                break;
            }
        }
        total.seconds = started.elapsed().as_secs_f64();
        Ok(total)
    }

    /// Completes a swap a crash interrupted and removes dead writers' leftovers.
    fn repair(&self) -> std::io::Result<()> {
        if journal::pending(&self.data)
            && let Some(_x) = lock::exclusive(&self.data, self.cfg.commit_patience)?
        {
            journal::recover(&self.data)?;
        }
        journal::remove_leftovers(&self.data)
    }

    fn plan_hour(
        &self,
        table: Table,
        dir: &Path,
        rel: PathBuf,
        force: bool,
    ) -> std::io::Result<Option<Task>> {
        let mut flush = 0usize;
        let mut newest = SystemTime::UNIX_EPOCH;
        let mut parts = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".parquet") || name.starts_with('.') {
                continue;
            }
            let meta = entry.metadata()?;
            newest = newest.max(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
            let is_flush = name.starts_with("flush-");
            flush += is_flush as usize;
            parts.push((is_flush, name, meta.len()));
        }
        if flush == 0 {
            return Ok(None);
        }
        let settled = newest.elapsed().unwrap_or_default() >= self.cfg.settle;
        if !(force || settled || flush >= self.cfg.max_flush_files) {
            return Ok(None);
        }
        parts.sort_by_key(|(_, name, _)| (layout::created_of(name), name.clone()));
        let mut inputs = Vec::new();
        let mut rows = 0u64;
        for (is_flush, name, bytes) in parts {
            // An unreadable footer counts as empty here; the merge then fails on it and
            // the hour is skipped with an error, its files untouched.
            let n = row_count(&dir.join(&name)).unwrap_or(0);
            if !is_flush && n >= self.cfg.target_rows / 2 {
                continue;
            }
            if !inputs.is_empty() && rows + n > self.cfg.target_rows {
                break;
            }
            rows += n;
            inputs.push(Part { name, rows: n, bytes });
        }
        Ok(Some(Task { table, hour: rel, inputs }))
    }

    /// Runs one compaction; `None` when it was stopped or queries kept the commit out.
    pub fn run(&mut self, task: &Task, stop: &AtomicBool) -> std::io::Result<Option<CompactionReport>> {
        let started = Instant::now();
        let dir = self.data.join(&task.hour);
        self.seq += 1;
        let name = layout::file_name("compact", layout::now_us(), std::process::id(), self.seq);
        let schema = task.table.schema();
        let props = self.props(task.table, &schema);
        let mut out = TempFile::create(&dir, &name, schema.clone(), props)?;
        let merged = self.rt.block_on(self.merge(task, &dir, &schema, &mut out, stop));
        match merged {
            Ok(true) => {}
            Ok(false) => {
                out.abandon();
                return Ok(None);
            }
            Err(e) => {
                out.abandon();
                return Err(e);
            }
        }
        let written = out.finish()?;
        fault::point("compact.written");
        let Some(_exclusive) = lock::exclusive(&self.data, self.cfg.commit_patience)? else {
            tracing::warn!(
                "compaction of {} waits for queries that held the store; retrying later",
                task.hour.display()
            );
            written.discard();
            return Ok(None);
        };
        let journal = Journal {
            output: task.hour.join(&name),
            inputs: task.inputs.iter().map(|p| task.hour.join(&p.name)).collect(),
        };
        let path = journal.commit(&self.data, name.trim_end_matches(".parquet"))?;
        fault::point("compact.journaled");
        journal.apply(&self.data)?;
        std::fs::remove_file(&path)?;
        if let Some(parent) = path.parent() {
            journal::sync_dir(parent)?;
        }
        Ok(Some(CompactionReport {
            tasks: 1,
            files_in: task.inputs.len() as u64,
            rows: written.rows,
            bytes_in: task.inputs.iter().map(|p| p.bytes).sum(),
            bytes_out: written.bytes,
            failed: 0,
            seconds: started.elapsed().as_secs_f64(),
        }))
    }

    /// Streams the task's output rows into `out`; `false` when stopped.
    async fn merge(
        &self,
        task: &Task,
        dir: &Path,
        schema: &SchemaRef,
        out: &mut TempFile,
        stop: &AtomicBool,
    ) -> std::io::Result<bool> {
        let err = |e: datafusion::error::DataFusionError| std::io::Error::other(e.to_string());
        let spill = self.data.join(".spill");
        std::fs::create_dir_all(&spill)?;
        // A fair pool: the default greedy one lets one partition's sort take the whole
        // limit, and the other's merge (which cannot spill) then fails (seen at 100 M rows).
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.cfg.memory_limit)))
            .with_temp_file_path(spill)
            .build_arc()
            .map_err(err)?;
        let threads = self.cfg.threads.max(1);
        // Room kept back for merging the spilled runs of each partition.
        let merge_reserve = (self.cfg.memory_limit / (4 * threads)).min(64 << 20);
        let config = SessionConfig::new()
            .with_target_partitions(threads)
            .set_usize("datafusion.execution.sort_spill_reservation_bytes", merge_reserve);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let paths: Vec<String> =
            task.inputs.iter().map(|p| dir.join(&p.name).display().to_string()).collect();
        let input =
            ctx.read_parquet(paths, ParquetReadOptions::default().schema(schema)).await.map_err(err)?;
        ctx.register_table("input", input.into_view()).map_err(err)?;
        let df = ctx.sql(&task.table.sql(&self.cfg)).await.map_err(err)?;
        let mut stream = df.execute_stream().await.map_err(err)?;
        loop {
            // The sort reads all its input before the first batch comes out, which takes
            // minutes on a large hour: the stop flag is watched meanwhile, and dropping
            // the stream cancels the sort.
            let batch = tokio::select! {
                biased;
                _ = stopped(stop) => return Ok(false),
                b = stream.next() => b,
            };
            let Some(batch) = batch else { return Ok(true) };
            out.write(&conform(batch.map_err(err)?, schema)?)?;
        }
    }

    /// Compacted files: the configured codec, row groups and sort order recorded, page
    /// statistics and the page index for pruning, and dictionaries wherever values repeat.
    /// Only the flow start and end times are nearly unique per row; counters and receive
    /// times repeat enough that a dictionary halves their size and decoding (decision
    /// 0005), and the writer falls back to plain pages by itself where one outgrows its
    /// limit.
    fn props(&self, table: Table, schema: &SchemaRef) -> WriterProperties {
        let mut b = WriterProperties::builder()
            .set_compression(self.cfg.codec.parquet())
            .set_max_row_group_row_count(Some(self.cfg.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_dictionary_enabled(true);
        for col in ["flow_start", "flow_end"] {
            b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
        }
        let sorting = table
            .sort_columns(&self.cfg)
            .iter()
            .filter_map(|c| schema.index_of(c).ok())
            .map(|i| SortingColumn { column_idx: i as i32, descending: false, nulls_first: true })
            .collect();
        b.set_sorting_columns(Some(sorting)).build()
    }
}

/// Gives a batch the table's exact schema (DataFusion may widen nullability or pick
/// another string type).
fn conform(batch: RecordBatch, schema: &SchemaRef) -> std::io::Result<RecordBatch> {
    let mut cols = Vec::with_capacity(schema.fields().len());
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        if col.data_type() == field.data_type() {
            cols.push(col.clone());
        } else {
            cols.push(arrow::compute::cast(col, field.data_type()).map_err(std::io::Error::other)?);
        }
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(std::io::Error::other)
}

fn row_count(path: &Path) -> std::io::Result<u64> {
    let reader = SerializedFileReader::new(std::fs::File::open(path)?)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}

/// Every `date=*/hour=*` folder under a table.
fn hour_dirs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let dates = match std::fs::read_dir(root) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for d in dates {
        let d = d?;
        if !d.file_name().to_string_lossy().starts_with("date=") || !d.file_type()?.is_dir() {
            continue;
        }
        for h in std::fs::read_dir(d.path())? {
            let h = h?;
            if h.file_name().to_string_lossy().starts_with("hour=") && h.file_type()?.is_dir() {
                out.push(h.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Resolves once `stop` is set (checked every 50 ms).
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FlowStore, StoreConfig};
    use arrow::array::{
        Array, FixedSizeBinaryArray, TimestampMicrosecondArray, UInt8Array, UInt16Array, UInt64Array,
    };
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use plumb_collector::addr;
    use plumb_collector::schema::{FlowBuilders, FlowRow};

    const T0: i64 = 1_741_009_500_000_000; // 2025-03-03 13:45

    fn flows(n: usize, seed: u64) -> RecordBatch {
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
    fn flushed(dir: &Path, files: u64, rows: usize) {
        let mut store = FlowStore::open(StoreConfig::new(dir)).unwrap();
        for seed in 0..files {
            store.push(&flows(rows, seed)).unwrap();
            store.flush().unwrap();
        }
    }

    fn compactor(dir: &Path) -> Compactor {
        Compactor::open(dir, CompactionConfig::default(), Duration::ZERO).unwrap().unwrap()
    }

    fn rows_in(files: &[PathBuf]) -> std::io::Result<u64> {
        files.iter().map(|f| row_count(f)).sum()
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> =
            std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
        out.sort();
        out
    }

    fn read(path: &Path) -> Vec<RecordBatch> {
        let f = std::fs::File::open(path).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(|b| b.unwrap()).collect()
    }

    /// Flows of 20 sources, each with mixed protocols (some null), ports and end times.
    fn mixed_flows(n: u64, seed: u64) -> RecordBatch {
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

    #[test]
    fn compacted_rows_follow_source_then_protocol_port_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        for seed in 0..3 {
            store.push(&mixed_flows(400, seed)).unwrap();
            store.flush().unwrap();
        }
        drop(store);
        compactor(dir.path()).run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        let out = files(&dir.path().join("flows/date=2025-03-03/hour=13"));
        assert_eq!(out.len(), 1, "{out:?}");
        let mut keys = Vec::new();
        for b in &read(&out[0]) {
            let column = |name| b.column_by_name(name).unwrap().as_any();
            let src = column("src_addr").downcast_ref::<FixedSizeBinaryArray>().unwrap();
            let proto = column("protocol").downcast_ref::<UInt8Array>().unwrap();
            let port = column("dst_port").downcast_ref::<UInt16Array>().unwrap();
            let end = column("flow_end").downcast_ref::<TimestampMicrosecondArray>().unwrap();
            for i in 0..b.num_rows() {
                // Nulls first, as the compaction's ORDER BY puts them.
                keys.push((
                    src.value(i).to_vec(),
                    proto.is_valid(i).then(|| proto.value(i)),
                    port.is_valid(i).then(|| port.value(i)),
                    end.value(i),
                ));
            }
        }
        assert_eq!(keys.len(), 1200);
        assert!(keys.is_sorted(), "rows are sorted by (src_addr, protocol, dst_port, flow_end)");
    }

    #[test]
    fn an_hour_of_flush_files_becomes_one_sorted_file_with_its_rollups_summed() {
        let dir = tempfile::tempdir().unwrap();
        flushed(dir.path(), 3, 500);
        let hour = dir.path().join("flows/date=2025-03-03/hour=13");
        assert_eq!(files(&hour).len(), 3);

        let mut c = compactor(dir.path());
        assert!(c.due(false).unwrap().is_empty(), "a fresh hour waits to settle");
        let r = c.run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        assert_eq!(r.tasks, 3);
        // 1500 flows, one flows_1m row, and interfaces_1m rows for in/out (both null).
        assert_eq!(r.rows, 1500 + 1 + 2);

        let out = files(&hour);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].file_name().unwrap().to_string_lossy().starts_with("compact-"));
        let batches = read(&out[0]);
        let mut prev: Option<(Vec<u8>, i64)> = None;
        let mut sum = 0;
        for b in &batches {
            let src = b
                .column_by_name("src_addr")
                .unwrap()
                .as_any()
                .downcast_ref::<FixedSizeBinaryArray>()
                .unwrap();
            let end = b
                .column_by_name("flow_end")
                .unwrap()
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            let bytes = b.column_by_name("bytes").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
            for i in 0..b.num_rows() {
                let k = (src.value(i).to_vec(), end.value(i));
                assert!(
                    prev.as_ref().is_none_or(|p| *p <= k),
                    "rows are sorted by source, then (one protocol, no ports here) end"
                );
                prev = Some(k);
                sum += bytes.value(i);
            }
        }
        let expected: u64 = (0..3).map(|s| flows(500, s)).map(|b| sum_bytes(&b)).sum();
        assert_eq!(sum, expected);

        // All 1500 rows end within one minute-aligned span: the rollup is re-summed, not appended.
        let rollup = files(&dir.path().join("flows_1m/date=2025-03-03/hour=13"));
        assert_eq!(rollup.len(), 1);
        let rb = read(&rollup[0]);
        let flows_col =
            rb[0].column_by_name("flows").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(rb[0].num_rows(), 1);
        assert_eq!(flows_col.value(0), 1500);
        assert!(c.due(true).unwrap().is_empty());
    }

    fn sum_bytes(b: &RecordBatch) -> u64 {
        let a = b.column_by_name("bytes").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
        (0..a.len()).map(|i| a.value(i)).sum()
    }

    #[test]
    fn a_stopped_compaction_leaves_its_inputs_and_no_output() {
        let dir = tempfile::tempdir().unwrap();
        flushed(dir.path(), 2, 100);
        let hour = dir.path().join("flows/date=2025-03-03/hour=13");
        let before = files(&hour);
        let mut c = compactor(dir.path());
        for task in c.due(true).unwrap() {
            assert!(c.run(&task, &AtomicBool::new(true)).unwrap().is_none(), "stopped");
        }
        assert_eq!(files(&hour), before, "no output, no temporary file, inputs untouched");
        assert_eq!(c.run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap().tasks, 3);
        assert_eq!(rows_in(&files(&hour)).unwrap(), 200);
    }

    #[test]
    fn late_rows_merge_into_the_compacted_hour() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        let mut c = compactor(dir.path());
        store.push(&flows(100, 1)).unwrap();
        store.flush().unwrap();
        c.run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        store.push(&flows(10, 2)).unwrap();
        store.flush().unwrap();
        c.run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        let out = files(&dir.path().join("flows/date=2025-03-03/hour=13"));
        assert_eq!(out.len(), 1);
        assert_eq!(rows_in(&out).unwrap(), 110);
    }

    #[test]
    fn an_unreadable_file_keeps_its_hour_as_it_is_and_the_others_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        store.push(&flows(20, 1)).unwrap();
        store.flush().unwrap();
        let bad = dir.path().join("flows/date=2025-03-03/hour=07/flush-1-1-000001.parquet");
        std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
        std::fs::write(&bad, b"PAR1 not really").unwrap();
        let mut c = compactor(dir.path());
        let r = c.run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        assert_eq!((r.tasks, r.failed), (3, 1));
        assert!(bad.exists());
        assert_eq!(rows_in(&files(&dir.path().join("flows/date=2025-03-03/hour=13"))).unwrap(), 20);
    }

    #[test]
    fn a_second_compactor_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spilled = dir.path().join(".spill/datafusion-x/run.arrow");
        std::fs::create_dir_all(spilled.parent().unwrap()).unwrap();
        std::fs::write(&spilled, b"left by a crash").unwrap();
        let _c = compactor(dir.path());
        assert!(!spilled.exists(), "the first compactor clears spill files of dead ones");
        assert!(Compactor::open(dir.path(), CompactionConfig::default(), Duration::ZERO).unwrap().is_none());
    }

    #[test]
    fn a_running_query_keeps_the_swap_out_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        store.push(&flows(50, 1)).unwrap();
        store.flush().unwrap();
        let cfg = CompactionConfig { commit_patience: Duration::from_millis(50), ..Default::default() };
        let mut c = Compactor::open(dir.path(), cfg, Duration::ZERO).unwrap().unwrap();
        let reader = lock::shared(dir.path()).unwrap();
        let r = c.run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        assert_eq!(r.tasks, 0);
        let hour = dir.path().join("flows/date=2025-03-03/hour=13");
        let names: Vec<String> =
            files(&hour).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.len() == 1 && names[0].starts_with("flush-"), "{names:?}");
        drop(reader);
        assert_eq!(c.run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap().tasks, 3);
    }
}
