//! Writing one Parquet file so that it appears whole or not at all: it is written under a
//! hidden temporary name, synced, and renamed to its committed name (then the folder is
//! synced, so the rename survives a power cut).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::journal::sync_dir;
use super::layout;

/// A file being written under its temporary name.
pub struct TempFile {
    writer: ArrowWriter<File>,
    dir: PathBuf,
    name: String,
    rows: u64,
}

/// A file written and synced, not yet visible.
pub struct Written {
    pub dir: PathBuf,
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

impl TempFile {
    pub fn create(
        dir: &Path,
        name: &str,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> io::Result<TempFile> {
        std::fs::create_dir_all(dir)?;
        let file = File::create(dir.join(layout::temp_name(name)))?;
        let writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(io::Error::other)?;
        Ok(TempFile { writer, dir: dir.to_path_buf(), name: name.to_string(), rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(io::Error::other)
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes and syncs the file.
    pub fn finish(self) -> io::Result<Written> {
        let TempFile { writer, dir, name, rows } = self;
        let file = writer.into_inner().map_err(io::Error::other)?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        Ok(Written { dir, name, rows, bytes })
    }

    /// Gives up on the file and removes it.
    pub fn abandon(self) {
        let path = self.dir.join(layout::temp_name(&self.name));
        drop(self.writer);
        let _ = std::fs::remove_file(path);
    }

    /// Writes encoded file `bytes` of `rows` rows to a new synced temporary file, in one
    /// call.
    pub fn write_synced(dir: &Path, name: &str, bytes: &[u8], rows: u64) -> io::Result<Written> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(layout::temp_name(name));
        let written = File::create(&path).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Written { dir: dir.to_path_buf(), name: name.to_string(), rows, bytes: bytes.len() as u64 })
    }
}

impl Written {
    pub fn temp_path(&self) -> PathBuf {
        self.dir.join(layout::temp_name(&self.name))
    }

    pub fn final_path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// Makes the file visible.
    pub fn commit(&self) -> io::Result<()> {
        std::fs::rename(self.temp_path(), self.final_path())?;
        sync_dir(&self.dir)
    }

    /// Removes the uncommitted file.
    pub fn discard(&self) {
        let _ = std::fs::remove_file(self.temp_path());
    }
}
