//! Which hours are compacted, and from which files. An hour with flush files is due once
//! no file arrived for `settle`, or earlier at `max_flush_files` of them; its inputs are
//! its flush files plus its compacted files under half of `target_rows`, oldest first, up
//! to `target_rows`, so late rows merge into the hour's file instead of piling up beside
//! it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use parquet::file::reader::{FileReader, SerializedFileReader};

use super::Compactor;
use super::table::Table;
use crate::layout;

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

impl Compactor {
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
}

pub(super) fn row_count(path: &Path) -> std::io::Result<u64> {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::super::test_support::{compactor, files, flows, rows_in};
    use crate::{FlowStore, StoreConfig};

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
}
