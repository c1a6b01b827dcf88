//! Store-wide locks (`flock` on files in the data directory).
//!
//! - The **store lock** orders readers against compaction commits: a query holds it shared
//!   for its whole run; a compaction takes it exclusively only for its commit (journal,
//!   rename, deletions), so no query ever lists a file set in the middle of a swap, nor
//!   loses a file it is still scanning. Flush files need no lock: a new file is new rows.
//! - The **compactor lock** lets one compactor at a time work on a store (the collector's,
//!   or a `plumb compact` beside it), so two never pick the same inputs.
//!
//! Both are released when the guard drops (the kernel releases them if the process dies).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const STORE_LOCK: &str = ".plumb-store.lock";
const COMPACTOR_LOCK: &str = ".plumb-compactor.lock";

/// A held lock; dropping it unlocks.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

fn open(path: &Path, create: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    if create {
        o.write(true).create(true).truncate(false);
    }
    o.open(path)
}

pub fn store_lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STORE_LOCK)
}

/// Holds the store lock shared (readers). `None` when the lock file does not exist and
/// cannot be created (a read-only store no compactor has touched: nothing to order).
pub fn shared(data_dir: &Path) -> io::Result<Option<Held>> {
    let path = store_lock_path(data_dir);
    let file = match open(&path, true).or_else(|_| open(&path, false)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::PermissionDenied => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    file.lock_shared()?;
    Ok(Some(Held { _file: file }))
}

/// Takes the store lock exclusively, waiting up to `patience` for readers to finish;
/// `None` when they did not.
pub fn exclusive(data_dir: &Path, patience: Duration) -> io::Result<Option<Held>> {
    let file = open(&store_lock_path(data_dir), true)?;
    try_for(file, patience)
}

/// Takes the compactor lock, waiting up to `patience`; `None` when another compactor has it.
pub fn compactor(data_dir: &Path, patience: Duration) -> io::Result<Option<Held>> {
    let file = open(&data_dir.join(COMPACTOR_LOCK), true)?;
    try_for(file, patience)
}

fn try_for(file: File, patience: Duration) -> io::Result<Option<Held>> {
    let deadline = Instant::now() + patience;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(Held { _file: file })),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_the_commit_out_until_they_finish() {
        let dir = tempfile::tempdir().unwrap();
        let reader = shared(dir.path()).unwrap().unwrap();
        assert!(exclusive(dir.path(), Duration::from_millis(50)).unwrap().is_none());
        let second_reader = shared(dir.path()).unwrap();
        assert!(second_reader.is_some());
        drop((reader, second_reader));
        let w = exclusive(dir.path(), Duration::ZERO).unwrap();
        assert!(w.is_some());
    }

    #[test]
    fn one_compactor_per_store() {
        let dir = tempfile::tempdir().unwrap();
        let first = compactor(dir.path(), Duration::ZERO).unwrap();
        assert!(first.is_some());
        assert!(compactor(dir.path(), Duration::from_millis(30)).unwrap().is_none());
    }
}
