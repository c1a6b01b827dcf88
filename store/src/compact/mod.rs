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
//!
//! The [`Compactor`] here drives the rounds; which hours are due is [`due`], the
//! statement and sort order of each table [`table`], the merge into one file [`merge`],
//! and the swap under the journal [`swap`].

mod due;
mod merge;
mod swap;
mod table;
#[cfg(test)]
mod test_support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::codec::Codec;
use super::fault;
use super::file::TempFile;
use super::layout;
use super::lock;

pub use due::{Part, Task};
pub use table::Table;

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
        if !self.swap(task, &written)? {
            return Ok(None);
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
}

#[cfg(test)]
mod tests {
    use super::test_support::{compactor, files, flows, flushed, rows_in};
    use super::*;
    use crate::{FlowStore, StoreConfig};

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
}
