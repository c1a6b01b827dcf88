//! Tests that say when they check nothing. Where this machine cannot run the real part of a
//! test (no network namespaces, a tool missing), the test calls [`skip`] instead of returning
//! quietly: one line `test-name: reason` on stderr and, when `PLUMB_SKIP_LOG` names a file,
//! appended to it (`scripts/test.sh` prints them all at the end). With `PLUMB_REQUIRE_ALL=1`
//! (set by CI, which installs every real part) a skip is a failure instead.
#![allow(dead_code)]

use std::io::Write;

/// Reports that `test` could not run its real part, and `why`. Returns (the caller decides
/// what still runs) unless `PLUMB_REQUIRE_ALL=1`, where it panics.
pub fn skip(test: &str, why: &str) {
    // One line per skip, whatever the reason holds (tool output can span lines).
    let why = why.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    if std::env::var("PLUMB_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("{test}: the real part of this test could not run: {why} (a failure: PLUMB_REQUIRE_ALL=1)");
    }
    let line = format!("{test}: {why}");
    eprintln!("skipped {line}");
    if let Some(path) = std::env::var_os("PLUMB_SKIP_LOG").filter(|p| !p.is_empty()) {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("PLUMB_SKIP_LOG {}: {e}", path.to_string_lossy()));
        // One write of the whole line: lines of tests running in parallel do not interleave.
        log.write_all(format!("{line}\n").as_bytes())
            .unwrap_or_else(|e| panic!("PLUMB_SKIP_LOG {}: {e}", path.to_string_lossy()));
    }
}
