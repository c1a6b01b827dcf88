//! Where rows live on disk: `DATA/flows/date=YYYY-MM-DD/hour=HH/*.parquet`, partitioned by
//! the hour of the flow end time (event time), so a day replayed in minutes still lands in
//! its own hours. Files being written carry a hidden temporary name and become visible by
//! rename only when complete.

use std::path::{Path, PathBuf};

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
        let days = self.0.div_euclid(24);
        let hour = self.0.rem_euclid(24);
        let (y, m, d) = civil_from_days(days);
        format!("date={y:04}-{m:02}-{d:02}/hour={hour:02}")
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m as i64 + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
        // 2025-03-03T13:45:00Z
        let us = 1_741_009_500_000_000;
        assert_eq!(Hour::of_us(us).dir(), "date=2025-03-03/hour=13");
        assert_eq!(Hour::of_us(0).dir(), "date=1970-01-01/hour=00");
        assert_eq!(Hour::of_us(-1).dir(), "date=1969-12-31/hour=23");
        // 2000-02-29 (leap day)
        assert_eq!(Hour::of_us(951_782_400_000_000).dir(), "date=2000-02-29/hour=00");
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_468, -1, 0, 11_016, 20_150, 47_482] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
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
