//! The store under crashes: the real `plumb` binary aborted at every injected point of a
//! flush and of a compaction (`PLUMB_CRASH_AT`), and a collector killed with SIGKILL while
//! it compacts in the background. After each crash every query sees each accepted row
//! exactly once: flows counts and sums equal what was committed, the rollups sum to the
//! same, and the next run finishes what was interrupted.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::process::{self, Collector};

const FLOWS: u64 = 20_000;

/// count, sum(bytes), sum(packets) from flows, then the same from flows_1m; asserts that
/// interfaces_1m sums to the same in each direction.
fn totals(data: &Path) -> (String, String) {
    let flows = process::query_csv(
        data,
        "SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(packets), 0) FROM flows",
    );
    let sums = "coalesce(sum(flows), 0), coalesce(sum(bytes), 0), coalesce(sum(packets), 0)";
    let rollups = last_line(&process::query_csv(data, &format!("SELECT {sums} FROM flows_1m")));
    for dir in ["in", "out"] {
        let q = format!("SELECT {sums} FROM interfaces_1m WHERE direction = '{dir}'");
        assert_eq!(last_line(&process::query_csv(data, &q)), rollups, "interfaces_1m, direction {dir}");
    }
    (last_line(&flows), rollups)
}

fn last_line(csv: &str) -> String {
    csv.lines().last().unwrap_or_default().to_string()
}

fn visible_rows(data: &Path) -> u64 {
    process::query_csv(data, "SELECT count(*) FROM flows").lines().last().unwrap().parse().unwrap()
}

fn files(data: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    common::files_under(data)
        .into_iter()
        .filter(|p| pred(&p.file_name().unwrap().to_string_lossy()))
        .collect()
}

/// A generated day ingested with small flushes (many flush files per hour), uncompacted.
fn seeded_store(dir: &Path) -> (PathBuf, PathBuf) {
    let pcap = dir.join("day.pcap");
    process::run(&[
        "generate",
        "--flows",
        &FLOWS.to_string(),
        "--seed",
        "11",
        "--quiet",
        "--out",
        pcap.to_str().unwrap(),
    ]);
    let config = dir.join("plumb.toml");
    std::fs::write(&config, "[store]\nmax_buffered_rows = 1500\n").unwrap();
    let data = dir.join("seed");
    process::run(&[
        "ingest",
        "--quiet",
        "--data",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    (data, config)
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap().success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// Runs plumb with a crash point set; asserts it died there.
fn crash(point: &str, args: &[&str]) {
    let out = process::plumb().args(args).env("PLUMB_CRASH_AT", point).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("aborting at"),
        "{point}: did not crash there:\n{stderr}"
    );
}

#[test]
fn a_crash_at_any_point_of_compaction_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, _) = seeded_store(dir.path());
    let expected = totals(&seed);
    assert!(expected.0.starts_with(&format!("{FLOWS},")), "{expected:?}");
    assert_eq!(expected.0, expected.1, "rollups sum to the flows");

    let points = [
        "compact.written",
        "compact.journaled",
        "compact.renamed",
        "compact.input_deleted",
        "compact.inputs_deleted",
    ];
    for (k, point) in points.iter().enumerate() {
        for nth in [1, 4] {
            let data = dir.path().join(format!("run-{k}-{nth}"));
            copy_dir(&seed, &data);
            crash(&format!("{point}:{nth}"), &["compact", "--quiet", "--data", data.to_str().unwrap()]);
            // A query right after the crash (it completes an interrupted swap first).
            assert_eq!(totals(&data), expected, "after a crash at {point}:{nth}");
            // The next compaction finishes the job: one file per hour, no leftovers.
            process::run(&["compact", "--quiet", "--data", data.to_str().unwrap()]);
            assert_eq!(totals(&data), expected, "after recovering from {point}:{nth}");
            assert!(files(&data, |n| n.starts_with("flush-")).is_empty(), "{point}:{nth}: flush files left");
            let leftovers = files(&data, |n| n.ends_with(".tmp") || n.ends_with(".journal"));
            assert!(leftovers.is_empty(), "{point}:{nth}: {leftovers:?}");
            std::fs::remove_dir_all(&data).unwrap();
        }
    }
}

#[test]
fn a_crash_at_any_point_of_a_flush_commits_whole_flushes_with_their_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    process::run(&["generate", "--flows", "6000", "--seed", "3", "--quiet", "--out", pcap.to_str().unwrap()]);
    let config = dir.path().join("plumb.toml");
    std::fs::write(&config, "[store]\nmax_buffered_rows = 1500\n").unwrap();
    for point in ["flush.written", "flush.renamed", "flush.rollup_renamed"] {
        for nth in [1, 5] {
            let data = dir.path().join(format!("{point}-{nth}"));
            let d = data.to_str().unwrap();
            crash(
                &format!("{point}:{nth}"),
                &[
                    "ingest",
                    "--quiet",
                    "--data",
                    d,
                    "--config",
                    config.to_str().unwrap(),
                    pcap.to_str().unwrap(),
                ],
            );
            // The n-th commit's rename either happened or not; nothing in between.
            let committed = if point == "flush.written" { nth - 1 } else { nth };
            let visible = files(&data.join("flows"), |n| n.ends_with(".parquet"));
            assert_eq!(visible.len(), committed, "{point}:{nth}: {visible:?}");
            // The next writer promotes a rollup whose flows were committed and drops the rest.
            process::run(&["compact", "--quiet", "--data", d]);
            let (flows, rollups) = totals(&data);
            assert_eq!(flows, rollups, "{point}:{nth}: rollups sum to the committed flows");
            let leftovers = files(&data, |n| n.ends_with(".tmp"));
            assert!(leftovers.is_empty(), "{point}:{nth}: {leftovers:?}");
        }
    }
}

/// The collector compacts in the background; SIGKILL at different moments of it, restart,
/// and the totals never move.
#[test]
fn a_collector_killed_while_compacting_keeps_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, _) = seeded_store(dir.path());
    let expected = totals(&seed);
    let data = dir.path().join("live");
    copy_dir(&seed, &data);
    let config = dir.path().join("compact-now.toml");
    std::fs::write(&config, "[store.compaction]\nsettle_secs = 0\ninterval_secs = 1\n").unwrap();
    let cfg = config.to_str().unwrap();
    let port = process::free_port();
    for round in 0..6u64 {
        let c = Collector::start_with(&data, port, &["--config", cfg]);
        std::thread::sleep(Duration::from_millis(100 + round * 170));
        c.kill();
        assert_eq!(totals(&data), expected, "after kill {round}");
    }
    let c = Collector::start_with(&data, port, &["--config", cfg]);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !files(&data, |n| n.starts_with("flush-")).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the collector did not compact every hour");
        std::thread::sleep(Duration::from_millis(300));
    }
    c.stop();
    assert_eq!(totals(&data), expected);
    assert_eq!(visible_rows(&data), FLOWS);
}
