//! Where rows live on disk: `DATA/flows/date=YYYY-MM-DD/hour=HH/*.parquet`, partitioned by
//! the hour of the flow end time (event time), so a day replayed in minutes still lands in
//! its own hours. Files being written carry a hidden temporary name and become visible by
//! rename only when complete.

use std::path::{Path, PathBuf};

use chrono::Timelike;

/// Name of the raw flows table's folder under the data directory.
pub const FLOWS_DIR: &str = "flows";
/// Extension of committed files; anything else in the tree is ignored by queries.
pub const EXTENSION: &str = "parquet";

/// Microseconds per hour.
pub const HOUR_US: i64 = 3_600_000_000;

/// An hour partition, as hours since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hour(pub i64);

impl Hour {
    pub fn of_us(us: i64) -> Hour {
        Hour(us.div_euclid(HOUR_US))
    }

    /// `date=YYYY-MM-DD/hour=HH`.
    pub fn dir(self) -> String {
        // Hours reach here from plausible times only (the writer files implausible ones by
        // their receive time), but a date out of chrono's range of ±262,000 years still
        // gets a folder rather than a panic.
        match chrono::DateTime::from_timestamp(self.0.saturating_mul(3600), 0) {
            Some(t) => format!("date={}/hour={:02}", t.format("%Y-%m-%d"), t.hour()),
            None => format!("date=out-of-range/hour={:02}", self.0.rem_euclid(24)),
        }
    }
}

/// Microseconds since the epoch, now: file names and the fallback event time.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The folder of one hour of a table.
pub fn partition_dir(data: &Path, table: &str, hour: Hour) -> PathBuf {
    data.join(table).join(hour.dir())
}

/// A committed file's name: unique per writer process and sequence number.
pub fn file_name(prefix: &str, created_us: i64, writer: u32, seq: u64) -> String {
    format!("{prefix}-{created_us}-{writer}-{seq:06}.{EXTENSION}")
}

/// The hidden name a file is written under before it is committed.
pub fn temp_name(final_name: &str) -> String {
    format!(".{final_name}.tmp")
}

/// The committed name a temporary name stands for (`None`: not a temporary name).
pub fn final_of_temp(name: &str) -> Option<&str> {
    name.strip_prefix('.')?.strip_suffix(".tmp")
}

/// The writer process (pid) in a name made by [`file_name`].
pub fn writer_of(name: &str) -> Option<u32> {
    name.split('-').nth(2)?.parse().ok()
}

/// The creation time (µs) in a name made by [`file_name`]; orders files by age.
pub fn created_of(name: &str) -> Option<i64> {
    name.split('-').nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_name_their_date() {
        assert!(Hour(i64::MAX / 2).dir().starts_with("date=out-of-range/hour="));
        // 2025-03-03T13:45:00Z
        let us = 1_741_009_500_000_000;
        assert_eq!(Hour::of_us(us).dir(), "date=2025-03-03/hour=13");
        assert_eq!(Hour::of_us(0).dir(), "date=1970-01-01/hour=00");
        assert_eq!(Hour::of_us(-1).dir(), "date=1969-12-31/hour=23");
        // 2000-02-29 (leap day)
        assert_eq!(Hour::of_us(951_782_400_000_000).dir(), "date=2000-02-29/hour=00");
    }

    #[test]
    fn temp_names_are_hidden_and_not_parquet() {
        let n = file_name("flush", 1, 2, 3);
        assert!(n.ends_with(".parquet"));
        let t = temp_name(&n);
        assert!(t.starts_with('.') && !t.ends_with(".parquet"));
        assert_eq!(final_of_temp(&t), Some(n.as_str()));
        assert_eq!((writer_of(&n), created_of(&n)), (Some(2), Some(1)));
    }
}
