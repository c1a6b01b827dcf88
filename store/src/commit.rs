//! Committing encoded flush files: write them under temporary names, sync, rename the
//! table's file (the commit point), then its rollups, syncing the folders.
//!
//! The collector commits on a thread of its own ([`Committer`]). A commit waits on the
//! disk (an `fsync` is a device cache flush), and while the compactor writes an hour the
//! device can take seconds to answer one. Waiting on the store thread, that stalled the
//! draining of the sink queue and lost batches; waiting here, only encoded files queue
//! up, about a fifth of the memory of the Arrow batches they hold.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::fault;
use super::file::{TempFile, Written};
use super::writer::FlushReport;
use plumb_collector::schema::Table;

/// One encoded file, not yet on disk.
pub struct Encoded {
    pub dir: PathBuf,
    pub name: String,
    pub bytes: Vec<u8>,
    pub rows: u64,
}

/// One hour's flush of one table: its file and the rollup files of its rows. `table` is
/// none for rollup rows committed alone (`file` is then one of them).
pub struct Prepared {
    pub table: Option<Table>,
    pub file: Encoded,
    pub rollups: Vec<Encoded>,
}

impl Prepared {
    /// Writes, syncs and renames the files. On an error nothing is visible and no
    /// temporary file is left, so the same commit can be tried again.
    pub fn commit(&self) -> std::io::Result<FlushReport> {
        let started = Instant::now();
        let write = |e: &Encoded| TempFile::write_synced(&e.dir, &e.name, &e.bytes, e.rows);
        let main = write(&self.file)?;
        let mut rollups: Vec<Written> = Vec::new();
        for r in &self.rollups {
            match write(r) {
                Ok(w) => rollups.push(w),
                Err(e) => {
                    main.discard();
                    rollups.iter().for_each(Written::discard);
                    return Err(e);
                }
            }
        }
        fault::point("flush.written");
        if let Err(e) = main.commit() {
            main.discard();
            rollups.iter().for_each(Written::discard);
            return Err(e);
        }
        fault::point("flush.renamed");
        for r in &rollups {
            // The rows are committed, so this commit must not fail (a retry would commit
            // them twice): a rollup that cannot be renamed now is promoted at the next open.
            if let Err(e) = r.commit() {
                tracing::error!(
                    "rollup {} not committed ({e}); the next start commits it",
                    r.temp_path().display()
                );
            }
        }
        fault::point("flush.rollup_renamed");
        let raw_rows = if self.table.is_some() { main.rows } else { 0 };
        let mut report = FlushReport {
            rows: raw_rows,
            bytes: main.bytes + rollups.iter().map(|r| r.bytes).sum::<u64>(),
            files: 1,
            seconds: started.elapsed().as_secs_f64(),
            ..FlushReport::default()
        };
        if let Some(t) = self.table {
            report.rows_by_table[t as usize] = main.rows;
        }
        Ok(report)
    }
}

/// What the committer reports after each attempt.
pub type OnCommit = Box<dyn Fn(&std::io::Result<FlushReport>) + Send>;

/// Commits prepared flushes in order on a thread of its own. A failed commit is retried
/// (every second, keeping its bytes) before the next one, so a full disk holds the queue
/// and the store thread, not the rows; once the store closes, a commit is tried three
/// more times and then given up (reported).
pub struct Committer {
    tx: Option<SyncSender<Prepared>>,
    thread: Option<JoinHandle<u64>>,
    closing: Arc<AtomicBool>,
}

impl Committer {
    /// Starts the thread with room for `depth` prepared flushes.
    pub fn spawn(depth: usize, on_commit: OnCommit) -> std::io::Result<Committer> {
        let (tx, rx) = sync_channel(depth.max(1));
        let closing = Arc::new(AtomicBool::new(false));
        let flag = closing.clone();
        let thread =
            std::thread::Builder::new().name("commit".into()).spawn(move || run(rx, on_commit, &flag))?;
        Ok(Committer { tx: Some(tx), thread: Some(thread), closing })
    }

    /// Queues a flush, waiting while the queue is full.
    pub fn send(&self, p: Prepared) -> std::io::Result<()> {
        let tx = self.tx.as_ref().ok_or_else(|| std::io::Error::other("the committer is closed"))?;
        tx.send(p).map_err(|_| std::io::Error::other("the commit thread ended"))
    }

    /// From now on a failing commit is given up after three tries, so that closing ends
    /// even on a disk that stays broken.
    pub fn begin_close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Commits what is queued and ends the thread; returns the rows it committed.
    pub fn close(&mut self) -> u64 {
        self.begin_close();
        self.tx.take();
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(rx: Receiver<Prepared>, on_commit: OnCommit, closing: &AtomicBool) -> u64 {
    let mut committed = 0;
    for p in rx.iter() {
        let mut tries = 0;
        loop {
            let r = p.commit();
            on_commit(&r);
            match r {
                Ok(report) => {
                    committed += report.rows;
                    break;
                }
                Err(e) => {
                    tries += 1;
                    if closing.load(Ordering::Relaxed) && tries >= 3 {
                        tracing::error!("flush of {} rows given up after {tries} tries: {e}", p.file.rows);
                        break;
                    }
                    tracing::error!("flush commit failed ({e}); retrying in 1 s");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
    committed
}
