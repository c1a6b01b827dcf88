//! Address and time filters answered from the statistics and page index of compacted files
//! must keep exactly the rows a row-by-row comparison keeps, also in hours that hold both a
//! compacted file and flush files that arrived after it.

mod common;

use std::path::Path;

use common::process;

fn generate(dir: &Path, name: &str, flows: u64, seed: &str) -> String {
    let out = dir.join(name);
    process::generate(&out, flows, seed);
    out.to_str().unwrap().to_string()
}

/// A day compacted into small row groups, then a second, smaller day ingested on top of
/// it as flush files.
fn mixed_store(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("store");
    let d = data.to_str().unwrap();
    let first = generate(dir, "first.pcap", 120_000, "7");
    let late = generate(dir, "late.pcap", 20_000, "8");
    let cfg = dir.join("plumb.toml");
    std::fs::write(&cfg, "[store.compaction]\nrow_group_rows = 1500\n").unwrap();
    process::run(&["ingest", &first, "--data", d]);
    process::run(&["compact", "--quiet", "--data", d, "--config", cfg.to_str().unwrap()]);
    process::run(&["ingest", &late, "--data", d]);
    data
}

fn csv(data: &Path, sql: &str) -> String {
    process::query_csv(data, sql)
}

#[test]
fn address_and_time_filters_keep_the_same_rows_as_row_by_row_comparisons() {
    let dir = tempfile::tempdir().unwrap();
    let data = mixed_store(dir.path());
    let hour = data.join("flows/date=2025-03-03/hour=12");
    let names: Vec<String> = common::files_under(&hour)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("compact-")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("flush-")), "{names:?}");

    let top: Vec<String> = csv(
        &data,
        "SELECT src_addr, count(*) AS n FROM flows GROUP BY src_addr ORDER BY n DESC, src_addr LIMIT 3",
    )
    .lines()
    .skip(1)
    .map(|l| l.split(',').next().unwrap().to_string())
    .collect();
    let (a, b, c) = (&top[0], &top[1], &top[2]);
    let dst = csv(
        &data,
        "SELECT dst_addr, count(*) AS n FROM flows GROUP BY dst_addr ORDER BY n DESC, dst_addr LIMIT 1",
    );
    let dst = dst.lines().nth(1).unwrap().split(',').next().unwrap();
    let text = "CAST(src_addr AS VARCHAR)";
    // Seconds as a float: an expression DataFusion cannot turn back into a range of the column.
    let secs = "date_part('epoch', flow_end)";
    let cases = [
        ("cidr_contains('10.0.0.0/8', src_addr)".to_string(), format!("{text} LIKE '10.%'")),
        ("cidr_contains('10.1.0.0/16', src_addr)".to_string(), format!("{text} LIKE '10.1.%'")),
        ("cidr_contains('2001:db8:1::/48', src_addr)".to_string(), format!("{text} LIKE '2001:db8:1:%'")),
        (format!("src_addr = '{a}'"), format!("{text} = '{a}'")),
        (format!("src_addr IN ('{b}', '{c}')"), format!("{text} IN ('{b}', '{c}')")),
        (format!("(src_addr = '{a}' OR src_addr = '{c}')"), format!("{text} IN ('{a}', '{c}')")),
        (format!("src_addr <> '{a}'"), format!("{text} <> '{a}'")),
        // Two address columns: the destination is not the sort key, so files fall back to
        // the row filter for it.
        (
            format!("cidr_contains('10.0.0.0/8', src_addr) AND dst_addr = '{dst}'"),
            format!("{text} LIKE '10.%' AND CAST(dst_addr AS VARCHAR) = '{dst}'"),
        ),
        // Time ranges: whole hours resolve from statistics, an hour a range ends in is
        // filtered row by row.
        (
            "flow_end >= '2025-03-03T12:00:00Z' AND flow_end < '2025-03-03T13:00:00Z'".to_string(),
            format!("{secs} >= 1741003200 AND {secs} < 1741006800"),
        ),
        (
            "flow_end BETWEEN '2025-03-03T12:30:00Z' AND '2025-03-03T14:15:00Z'".to_string(),
            format!("{secs} >= 1741005000 AND {secs} <= 1741011300"),
        ),
        (
            "cidr_contains('10.1.0.0/16', src_addr) AND flow_end < '2025-03-03T06:00:00Z'".to_string(),
            format!("{text} LIKE '10.1.%' AND {secs} < 1740981600"),
        ),
        // With a time filter and a non-address filter beside it.
        (
            "cidr_contains('10.1.0.0/16', src_addr) AND hour = 12 AND protocol = 6".to_string(),
            format!("{text} LIKE '10.1.%' AND hour = 12 AND protocol = 6"),
        ),
    ];
    let total = csv(&data, "SELECT count(*) AS n FROM flows");
    for (exact, reference) in &cases {
        for shape in [
            "SELECT count(*) AS n, sum(bytes) AS b FROM flows WHERE {}",
            "SELECT src_addr, count(*) AS n, sum(packets) AS p FROM flows WHERE {} GROUP BY src_addr ORDER BY n DESC, src_addr LIMIT 5",
            "SELECT hour, count(*) AS n FROM flows WHERE {} GROUP BY hour ORDER BY hour",
        ] {
            let got = csv(&data, &shape.replace("{}", exact));
            let want = csv(&data, &shape.replace("{}", reference));
            assert_eq!(got, want, "{exact}");
            assert!(want.lines().count() > 1 && !want.contains(",\n"), "{reference} keeps rows: {want}");
        }
        // A count over an address filter is never answered from file statistics.
        let n = csv(&data, &format!("SELECT count(*) AS n FROM flows WHERE {exact}"));
        assert_ne!(n, total, "{exact}");
    }
}

/// The top conversations of an hour: over compacted files only (sorted by source) the
/// groups of sources seen in one run skip the final merge; over an hour with late flush
/// files DataFusion's final step merges everything. Both answer as a grouping that no
/// rule touches (a widened protocol key does not pack).
#[test]
fn conversations_skip_the_final_merge_only_over_sorted_files() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = mixed_store(dir.path());
    let sorted = dir.path().join("sorted");
    let s = sorted.to_str().unwrap();
    let cfg = dir.path().join("plumb.toml");
    process::run(&["ingest", dir.path().join("first.pcap").to_str().unwrap(), "--data", s]);
    process::run(&["compact", "--quiet", "--data", s, "--config", cfg.to_str().unwrap()]);
    let shape = "SELECT src_addr, dst_addr, {p} AS protocol, count(*) AS n, sum(bytes) AS b FROM flows \
                 WHERE {w} GROUP BY src_addr, dst_addr, {p} ORDER BY b DESC, n, src_addr, dst_addr, protocol LIMIT 200";
    // Two partitions, so that the final step is a partitioned one on any machine.
    let explain = |data: &Path, sql: &str| {
        let out = process::plumb()
            .env("DATAFUSION_EXECUTION_TARGET_PARTITIONS", "2")
            .args(["query", "--data", data.to_str().unwrap(), "--explain", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // Six compacted hours dealt by rows between two partitions: an hour in the middle is
    // split between them (DataFusion would give each file whole to one), and no part
    // carries a byte range.
    let plan = explain(
        &sorted,
        "SELECT sum(bytes) FROM flows WHERE flow_end >= '2025-03-03T12:00:00Z' AND flow_end < '2025-03-03T18:00:00Z'",
    );
    let groups = plan.split("file_groups={2 groups: [[").nth(1).and_then(|g| g.split("]]}").next());
    let groups: Vec<Vec<&str>> =
        groups.expect("two file groups").split("], [").map(|g| g.split(", ").collect()).collect();
    assert_eq!(groups.len(), 2, "{plan}");
    assert!(groups[0].iter().any(|f| groups[1].contains(f)), "{groups:?}");
    assert!(groups.iter().flatten().all(|f| f.ends_with(".parquet")), "{groups:?}");
    for (data, skips) in [(&sorted, true), (&mixed, false)] {
        for w in
            ["hour = 12", "flow_end >= '2025-03-03T12:00:00Z' AND flow_end < '2025-03-03T14:00:00Z'", "true"]
        {
            let sql = shape.replace("{w}", w);
            let fast = sql.replace("{p}", "protocol");
            let plan = explain(data, &fast);
            assert_eq!(plan.contains("RunFinalExec"), skips, "{w}\n{plan}");
            let got = csv(data, &fast);
            assert!(got.lines().count() > 100, "{got}");
            assert_eq!(got, csv(data, &sql.replace("{p}", "CAST(protocol AS BIGINT)")), "{w}");
        }
    }
}
