//! The swap of an hour's inputs for its compacted file, under the exclusive store lock:
//! a journal naming the output and inputs is the commit point, then the output is renamed
//! into place and the inputs are deleted ([`crate::journal`]). Queries hold the lock
//! shared, so each sees every row exactly once; a swap a crash interrupted is completed
//! before the next round.

use super::Compactor;
use super::due::Task;
use crate::fault;
use crate::file::Written;
use crate::journal::{self, Journal};
use crate::lock;

impl Compactor {
    /// Puts `written`, the task's output, in place of its inputs; `false` (the output
    /// discarded) when queries held the store past `commit_patience`.
    pub(super) fn swap(&self, task: &Task, written: &Written) -> std::io::Result<bool> {
        let Some(_exclusive) = lock::exclusive(&self.data, self.cfg.commit_patience)? else {
            tracing::warn!(
                "compaction of {} waits for queries that held the store; retrying later",
                task.hour.display()
            );
            written.discard();
            return Ok(false);
        };
        let journal = Journal {
            output: task.hour.join(&written.name),
            inputs: task.inputs.iter().map(|p| task.hour.join(&p.name)).collect(),
        };
        let path = journal.commit(&self.data, written.name.trim_end_matches(".parquet"))?;
        fault::point("compact.journaled");
        journal.apply(&self.data)?;
        std::fs::remove_file(&path)?;
        if let Some(parent) = path.parent() {
            journal::sync_dir(parent)?;
        }
        Ok(true)
    }

    /// Completes a swap a crash interrupted and removes dead writers' leftovers.
    pub(super) fn repair(&self) -> std::io::Result<()> {
        if journal::pending(&self.data)
            && let Some(_x) = lock::exclusive(&self.data, self.cfg.commit_patience)?
        {
            journal::recover(&self.data)?;
        }
        journal::remove_leftovers(&self.data)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use super::super::test_support::{files, flows};
    use crate::compact::{CompactionConfig, Compactor};
    use crate::lock;
    use crate::{FlowStore, StoreConfig};

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
