//! Page compression for flush files. The parquet crate compresses in its column writer,
//! which this encoder bypasses; its page writer takes pages already compressed, so they
//! are compressed here, with the codec crates the parquet crate builds anyway.

use bytes::Bytes;
use parquet::errors::{ParquetError, Result};

use crate::codec::Codec;

/// Compresses pages with the file's codec (Parquet's SNAPPY and LZ4_RAW are the raw block
/// formats, ZSTD the frame format).
pub(super) struct Compressor {
    pub(super) codec: Codec,
    snappy: snap::raw::Encoder,
    /// Output buffer reused across the pages of a file: zeroing a fresh worst-case buffer
    /// per page cost more than copying the compressed bytes out.
    scratch: Vec<u8>,
}

impl Compressor {
    pub(super) fn new(codec: Codec) -> Compressor {
        Compressor { codec, snappy: snap::raw::Encoder::new(), scratch: Vec::new() }
    }

    pub(super) fn compress(&mut self, page: Vec<u8>) -> Result<Bytes> {
        let out = match self.codec {
            Codec::None => page,
            Codec::Snappy => {
                let max = snap::raw::max_compress_len(page.len());
                if self.scratch.len() < max {
                    self.scratch.resize(max, 0);
                }
                let n = self.snappy.compress(&page, &mut self.scratch);
                self.scratch[..n.map_err(|e| ParquetError::External(Box::new(e)))?].to_vec()
            }
            Codec::Lz4 => lz4_flex::block::compress(&page),
            Codec::Zstd(level) => {
                zstd::bulk::compress(&page, level).map_err(|e| ParquetError::External(Box::new(e)))?
            }
        };
        Ok(Bytes::from(out))
    }
}
