//! Crash injection for the store's crash-safety tests.
//!
//! `PLUMB_CRASH_AT=POINT` (or `POINT:N`, the N-th time it is reached) makes the process
//! abort at that point of a flush or compaction, as a power cut would stop it there. The
//! variable is read once; unset, each point costs one relaxed load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every point a test can crash at, in the order a commit passes them.
pub const POINTS: &[&str] = &[
    "flush.written",
    "flush.renamed",
    "flush.rollup_renamed",
    "compact.written",
    "compact.journaled",
    "compact.renamed",
    "compact.input_deleted",
    "compact.inputs_deleted",
];

struct Target {
    point: String,
    nth: u64,
    seen: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static T: OnceLock<Option<Target>> = OnceLock::new();
    T.get_or_init(|| {
        let v = std::env::var("PLUMB_CRASH_AT").ok()?;
        let (point, nth) = match v.split_once(':') {
            Some((p, n)) => (p.to_string(), n.parse().ok()?),
            None => (v, 1),
        };
        Some(Target { point, nth, seen: AtomicU64::new(0) })
    })
    .as_ref()
}

/// Aborts the process if the crash target is this point (and its N-th passage).
pub fn point(name: &str) {
    let Some(t) = target() else { return };
    if t.point == name && t.seen.fetch_add(1, Ordering::Relaxed) + 1 == t.nth {
        eprintln!("PLUMB_CRASH_AT: aborting at {name}");
        std::process::abort();
    }
}
