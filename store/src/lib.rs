//! The local Parquet store: `flows` (raw flow records) and the per-minute rollups
//! (`flows_1m`, `interfaces_1m`), hive-partitioned by the hour of the flow end, written by
//! flushes and compacted in the background into sorted files per hour.

pub mod codec;
pub mod commit;
pub mod compact;
pub mod counter_deltas;
pub mod encode;
pub mod fault;
pub mod file;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod rollup;
pub mod writer;

pub use codec::Codec;
pub use compact::{CompactionConfig, CompactionReport, Compactor};
pub use writer::{FlowStore, FlushReport, StoreConfig};

/// Holds the store for reading: while the guard lives, no compaction swaps files under a
/// query. A swap that a crash interrupted is completed first (readers recover it, as
/// SQLite's readers roll back a hot journal), so a query never sees a row twice.
pub fn read_guard(data: &std::path::Path) -> std::io::Result<Option<lock::Held>> {
    let held = lock::shared(data)?;
    if held.is_none() || !journal::pending(data) {
        return Ok(held);
    }
    drop(held);
    match lock::exclusive(data, std::time::Duration::from_secs(60))? {
        Some(_x) => {
            journal::recover(data)?;
        }
        None => {
            return Err(std::io::Error::other(
                "an interrupted compaction must be completed before reading, but the store stayed busy for 60 s",
            ));
        }
    }
    lock::shared(data)
}
