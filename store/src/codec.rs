//! The compression codec of the store's files, as `plumb.toml` names it. Flush files
//! compress their pages with it themselves ([`crate::encode`]); compacted files hand it
//! to the parquet crate's writer ([`crate::compact`]).

use parquet::basic::{Compression, ZstdLevel};

/// Compression of a store file's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Snappy,
    Lz4,
    Zstd(i32),
}

impl Codec {
    pub(crate) fn parquet(self) -> Compression {
        match self {
            Codec::None => Compression::UNCOMPRESSED,
            Codec::Snappy => Compression::SNAPPY,
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::Zstd(l) => Compression::ZSTD(ZstdLevel::try_new(l).unwrap_or_default()),
        }
    }

    /// Parses `none`, `snappy`, `lz4`, `zstd` or `zstd:LEVEL`.
    pub fn parse(s: &str) -> Option<Codec> {
        match s {
            "none" => Some(Codec::None),
            "snappy" => Some(Codec::Snappy),
            "lz4" => Some(Codec::Lz4),
            "zstd" => Some(Codec::Zstd(1)),
            _ => s.strip_prefix("zstd:")?.parse().ok().filter(|l| (1..=22).contains(l)).map(Codec::Zstd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_parse() {
        assert_eq!(Codec::parse("zstd:3"), Some(Codec::Zstd(3)));
        assert_eq!(Codec::parse("lz4"), Some(Codec::Lz4));
        assert_eq!(Codec::parse("zstd:99"), None);
    }
}
