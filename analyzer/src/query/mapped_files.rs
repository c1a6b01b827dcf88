//! Column chunks straight from the page cache.
//!
//! DataFusion reads the column chunks of a Parquet file through `object_store`, whose local
//! store allocates a zeroed buffer per chunk and copies the file into it. For the top TCP
//! ports of a day, zeroing, copying and faulting in those buffers took a tenth of the CPU.
//! [`MappedFiles`] serves the same ranges as slices of a read-only map of the file, so the
//! decoder reads the page cache itself; every other call goes to the local store.
//!
//! Mapping is safe for the store's files because they never change once visible: the store
//! writes each under a temporary name and renames it into place, and compaction removes
//! files rather than rewriting them (a removed file stays readable while mapped). A file
//! truncated by someone else while mapped would fault the reader; reads of anything else
//! fall back to the local store, which also reports missing files.

use std::fmt;
use std::fs::File;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::stream::BoxStream;
use memmap2::Mmap;

/// The local file system, with byte ranges served from maps of the files.
#[derive(Debug, Default)]
pub struct MappedFiles {
    local: LocalFileSystem,
}

impl MappedFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole file, mapped; `None` where it cannot be (the local store then says why).
    fn map(&self, location: &Path) -> Option<Bytes> {
        let path = self.local.path_to_filesystem(location).ok()?;
        let file = File::open(path).ok()?;
        // SAFETY: the map is read-only and the store never modifies or truncates a file
        // after renaming it into place (module docs); the map outlives the descriptor.
        let map = unsafe { Mmap::map(&file) }.ok()?;
        Some(Bytes::from_owner(map))
    }
}

impl fmt::Display for MappedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MappedFiles({})", self.local)
    }
}

#[async_trait]
impl ObjectStore for MappedFiles {
    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let Some(file) = self.map(location) else {
            return self.local.get_ranges(location, ranges).await;
        };
        let len = file.len() as u64;
        if ranges.iter().any(|r| r.start > r.end || r.end > len) {
            // Past the end: the local store's error names the range and the file.
            return self.local.get_ranges(location, ranges).await;
        }
        Ok(ranges.iter().map(|r| file.slice(r.start as usize..r.end as usize)).collect())
    }

    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.local.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.local.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.local.get_opts(location, options).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.local.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.local.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.local.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.local.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::ObjectStoreExt;

    #[tokio::test]
    async fn ranges_match_the_local_store() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.bin");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&file, &data).unwrap();
        let location = Path::from_absolute_path(&file).unwrap();
        let (mapped, local) = (MappedFiles::new(), LocalFileSystem::new());
        let ranges = [0..10, 4096..4097, 99_990..100_000, 5..5, 1000..90_000];
        let got = mapped.get_ranges(&location, &ranges).await.unwrap();
        assert_eq!(got, local.get_ranges(&location, &ranges).await.unwrap());
        assert_eq!(&got[4][..], &data[1000..90_000]);
        // Past the end, and a missing file: the local store's errors.
        assert!(mapped.get_ranges(&location, &[0..1, 99_000..100_001]).await.is_err());
        let missing = Path::from_absolute_path(dir.path().join("gone.bin")).unwrap();
        let err = mapped.get_ranges(&missing, &[0..1, 1..2]).await.unwrap_err();
        assert!(matches!(err, datafusion::object_store::Error::NotFound { .. }), "{err}");
        // The chunks are the page cache itself, not copies: a change in place shows
        // through (which is why the store never changes a file), and a removed file stays
        // readable while its chunks are held.
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, b"plumb", 1000).unwrap();
        assert_eq!(&got[4][..5], b"plumb");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(&got[2][..], &data[99_990..]);
        // Everything else is the local store's.
        assert_eq!(mapped.head(&missing).await.is_err(), local.head(&missing).await.is_err());
    }
}
