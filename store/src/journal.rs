//! The compaction journal and crash recovery.
//!
//! A compaction replaces several committed files of one hour by one sorted file. That swap
//! spans several renames and deletions, so it is written down first: the journal
//! (`DATA/.journal/NAME.journal`) lists the output and the inputs, and its presence is the
//! commit point. Recovery rolls a journal forward: the output is renamed into place if it
//! is still under its temporary name, the inputs still present are deleted, the journal
//! goes. A crash before the journal leaves only a temporary output, which is removed.
//!
//! Recovery runs under the exclusive store lock, so a query never lists a half-done swap;
//! a query that finds a journal while it holds the shared lock knows its writer died
//! (commits run under the exclusive lock) and recovers first, as SQLite's readers roll a
//! hot journal back.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::fault;
use super::layout;
use super::rollup::Rollup;
use plumb_collector::schema::Table;

const JOURNAL_DIR: &str = ".journal";
const JOURNAL_EXT: &str = ".journal";

/// One planned swap, with paths relative to the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    pub output: PathBuf,
    pub inputs: Vec<PathBuf>,
}

fn journal_dir(data: &Path) -> PathBuf {
    data.join(JOURNAL_DIR)
}

impl Journal {
    fn encode(&self) -> String {
        let mut s = format!("output {}\n", self.output.display());
        for i in &self.inputs {
            s.push_str(&format!("input {}\n", i.display()));
        }
        s
    }

    fn decode(text: &str) -> Option<Journal> {
        let mut output = None;
        let mut inputs = Vec::new();
        for line in text.lines() {
            match line.split_once(' ')? {
                ("output", p) => output = Some(PathBuf::from(p)),
                ("input", p) => inputs.push(PathBuf::from(p)),
                _ => return None,
            }
        }
        Some(Journal { output: output?, inputs })
    }

    /// Writes the journal durably; from here on the swap will complete, even after a crash.
    pub fn commit(&self, data: &Path, name: &str) -> io::Result<PathBuf> {
        let dir = journal_dir(data);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}{JOURNAL_EXT}"));
        let tmp = dir.join(layout::temp_name(&format!("{name}{JOURNAL_EXT}")));
        let mut f = File::create(&tmp)?;
        f.write_all(self.encode().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        sync_dir(&dir)?;
        Ok(path)
    }

    /// Completes the swap (idempotent): output into place, inputs gone.
    pub fn apply(&self, data: &Path) -> io::Result<()> {
        let out = data.join(&self.output);
        let out_dir = out.parent().unwrap_or(data).to_path_buf();
        if !out.exists() {
            let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tmp = out_dir.join(layout::temp_name(&name));
            if !tmp.exists() {
                // The output is gone: keep the inputs, they are the only copy of those rows.
                tracing::error!(
                    "compaction journal names {} but it does not exist; inputs kept",
                    out.display()
                );
                return Ok(());
            }
            std::fs::rename(&tmp, &out)?;
            sync_dir(&out_dir)?;
        }
        fault::point("compact.renamed");
        for (n, input) in self.inputs.iter().enumerate() {
            match std::fs::remove_file(data.join(input)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            if n == 0 {
                fault::point("compact.input_deleted");
            }
        }
        sync_dir(&out_dir)?;
        fault::point("compact.inputs_deleted");
        Ok(())
    }
}

/// Whether any journal waits to be applied (a compactor died mid-swap).
pub fn pending(data: &Path) -> bool {
    list(data).map(|j| !j.is_empty()).unwrap_or(false)
}

fn list(data: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(journal_dir(data)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "journal") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Applies and removes every journal. Call with the exclusive store lock held.
pub fn recover(data: &Path) -> io::Result<usize> {
    let journals = list(data)?;
    for path in &journals {
        let text = std::fs::read_to_string(path)?;
        match Journal::decode(&text) {
            Some(j) => j.apply(data)?,
            None => tracing::error!(
                "unreadable compaction journal {} removed; no file was touched",
                path.display()
            ),
        }
        std::fs::remove_file(path)?;
    }
    if !journals.is_empty() {
        sync_dir(&journal_dir(data))?;
    }
    Ok(journals.len())
}

/// Removes what writers that are no longer running left behind: temporary files, except
/// rollup files whose flows file was committed (the flush died between the two renames;
/// the rollup is promoted so it still sums exactly the committed rows). Temporary files of
/// live processes (this one included) are their work in progress and left alone. Call with the exclusive store lock held,
/// after [`recover`].
pub fn remove_leftovers(data: &Path) -> io::Result<()> {
    let tables = Table::ALL.map(Table::name).into_iter().chain(Rollup::ALL.map(Rollup::dir));
    for table in tables {
        let root = data.join(table);
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Some(final_name) = layout::final_of_temp(&name) else { continue };
                if layout::writer_of(final_name).is_some_and(alive) {
                    continue;
                }
                // A rollup file is promoted when the file whose rows it sums (flows or
                // counters, same name) was committed; the other tables' files stand alone.
                if Rollup::ALL.iter().any(|r| r.dir() == table) {
                    let rel = dir.strip_prefix(&root).unwrap_or(Path::new(""));
                    let committed_with = [Table::Flows, Table::InterfaceCounters]
                        .map(|t| data.join(t.name()).join(rel).join(final_name));
                    if committed_with.iter().any(|p| p.exists()) {
                        std::fs::rename(&path, dir.join(final_name))?;
                        sync_dir(&dir)?;
                        continue;
                    }
                }
                std::fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    fn journal(data: &Path) -> Journal {
        let hour = Path::new("flows/date=2025-03-03/hour=13");
        let j = Journal {
            output: hour.join("compact-1-99999999-000001.parquet"),
            inputs: vec![hour.join("flush-1-1-000001.parquet"), hour.join("flush-1-1-000002.parquet")],
        };
        for i in &j.inputs {
            touch(&data.join(i));
        }
        j
    }

    #[test]
    fn journals_round_trip() {
        let j = journal(tempfile::tempdir().unwrap().path());
        assert_eq!(Journal::decode(&j.encode()), Some(j));
        assert_eq!(Journal::decode("nonsense"), None);
    }

    #[test]
    fn a_committed_journal_rolls_forward_from_the_temporary_output() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let j = journal(data);
        let out = data.join(&j.output);
        touch(&out.parent().unwrap().join(layout::temp_name("compact-1-99999999-000001.parquet")));
        j.commit(data, "c1").unwrap();
        assert!(pending(data));
        assert_eq!(recover(data).unwrap(), 1);
        assert!(out.exists());
        assert!(j.inputs.iter().all(|i| !data.join(i).exists()));
        assert!(!pending(data));
    }

    #[test]
    fn a_journal_without_its_output_keeps_the_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let j = journal(data);
        j.commit(data, "c1").unwrap();
        recover(data).unwrap();
        assert!(j.inputs.iter().all(|i| data.join(i).exists()));
    }

    #[test]
    fn leftovers_of_dead_writers_go_and_committed_rollups_are_promoted() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let hour = "date=2025-03-03/hour=13";
        // pid 0x7fff_fff0 is not running.
        let name = layout::file_name("flush", 1, 0x7fff_fff0, 1);
        let orphan = layout::file_name("flush", 1, 0x7fff_fff0, 2);
        touch(&data.join("flows").join(hour).join(&name));
        touch(&data.join("flows_1m").join(hour).join(layout::temp_name(&name)));
        touch(&data.join("flows_1m").join(hour).join(layout::temp_name(&orphan)));
        touch(&data.join("flows").join(hour).join(layout::temp_name(&orphan)));
        let mine = layout::file_name("flush", 1, std::process::id(), 3);
        touch(&data.join("flows").join(hour).join(layout::temp_name(&mine)));
        remove_leftovers(data).unwrap();
        assert!(data.join("flows_1m").join(hour).join(&name).exists());
        assert!(!data.join("flows_1m").join(hour).join(layout::temp_name(&orphan)).exists());
        assert!(!data.join("flows").join(hour).join(layout::temp_name(&orphan)).exists());
        // A live writer's file is its work in progress.
        assert!(data.join("flows").join(hour).join(layout::temp_name(&mine)).exists());
    }
}
