//! Every query shape against DataFusion's own answers, and the plans the rule makes.

use std::sync::Arc;

use datafusion::arrow::array::{
    FixedSizeBinaryArray, Int64Array, RecordBatch, UInt8Array, UInt16Array, UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::DataType;

use super::groups::sum_into;
use super::*;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

/// Two partitions of two batches of 5,000 rows, with runs of 30 equal addresses that
/// go on across batches; `unique` gives each run its own address, otherwise the 167
/// addresses of a batch recur in every batch.
fn table(unique: bool) -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("port", DataType::UInt16, true),
        Field::new("proto", DataType::UInt8, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("delta", DataType::Int64, true),
        Field::new("addr", DataType::FixedSizeBinary(16), true),
        Field::new("mac", DataType::FixedSizeBinary(6), true),
        Field::new("late", DataType::Int64, true),
    ]));
    let batches: Vec<RecordBatch> = (0..4u64)
        .map(|b| {
            let n = 5000u64;
            let port = UInt16Array::from_iter(
                (0..n).map(|i| (i % 97 != 0).then_some(((i * 7919 + b) % 70_000 % 65_536) as u16)),
            );
            let proto = UInt8Array::from_iter((0..n).map(|i| (i % 89 != 0).then_some((i % 3) as u8 * 11)));
            let bytes = UInt64Array::from_iter((0..n).map(|i| (i % 13 != 0).then_some(i * 1000 + b)));
            // A group whose sums all wrap, and values that are all null for some keys.
            let delta = Int64Array::from_iter((0..n).map(|i| (i % 5 != 0).then_some(i64::MAX - i as i64)));
            // Runs of equal addresses (as in sorted files), and nulls.
            let addr = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                (0..n).map(|i| {
                    (i % 101 != 0).then(|| {
                        let run = if unique { (b * n + i) / 30 } else { i / 30 };
                        (u128::from(run) << 64 | 0xffff_0a00_0001).to_be_bytes()
                    })
                }),
                16,
            )
            .unwrap();
            let mac = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                (0..n).map(|i| {
                    (i % 7 != 0).then_some([0, 0x50, 0x56, 0, (i % 300 / 256) as u8, (i % 300) as u8])
                }),
                6,
            )
            .unwrap();
            // Nulls only in the last batch: states that followed the row tally must turn
            // explicit without losing what came before.
            let late = Int64Array::from_iter((0..n).map(|i| (b < 3 || i % 3 != 0).then_some(i as i64 - 7)));
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(port),
                    Arc::new(proto),
                    Arc::new(bytes),
                    Arc::new(delta),
                    Arc::new(addr),
                    Arc::new(mac),
                    Arc::new(late),
                ],
            )
            .unwrap()
        })
        .collect();
    MemTable::try_new(schema, vec![batches[..2].to_vec(), batches[2..].to_vec()]).unwrap()
}

/// DataFusion alone, or with the rule emitting past `max_groups` and holding at most
/// `hold_rows` in a final step.
fn context(dense: Option<(usize, usize)>) -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(2).with_batch_size(1000);
    let mut state = SessionStateBuilder::new().with_config(config).with_default_features();
    if let Some((max_groups, hold_rows)) = dense {
        let rule = PartialAggregate {
            max_groups,
            run_column: Some("addr".into()),
            hold_rows,
            sorted_files_only: false,
        };
        state = state.with_physical_optimizer_rule(Arc::new(rule));
    }
    let ctx = SessionContext::new_with_state(state.build());
    ctx.register_table("t", Arc::new(table(false))).unwrap();
    ctx.register_table("u", Arc::new(table(true))).unwrap();
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
    let df = ctx.sql(sql).await.unwrap();
    let plan = df.clone().create_physical_plan().await.unwrap();
    let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
    (pretty_format_batches(&df.collect().await.unwrap()).unwrap().to_string(), text)
}

#[tokio::test]
async fn single_key_grouping_answers_like_datafusion() {
    let plain = context(None);
    // Holding every row in a final step over runs, and holding few: past 125 rows a
    // partition stops holding where keys recur, past 2000 everywhere.
    let (dense, folding) = (context(Some((100, run_final::HOLD_ROWS))), context(Some((100, 4000))));
    // Emitting only at the end: runs go on across batches in the same groups.
    let whole = context(Some((MAX_GROUPS, run_final::HOLD_ROWS)));
    for sql in [
        "SELECT port, count(*) AS n, sum(bytes) AS b FROM t GROUP BY port ORDER BY port NULLS LAST",
        "SELECT proto, count(bytes) AS n, sum(bytes) AS b, sum(delta) AS d FROM t GROUP BY proto ORDER BY proto",
        "SELECT port, count(*) AS n FROM t WHERE proto = 11 GROUP BY port ORDER BY n DESC, port LIMIT 20",
        "SELECT proto, sum(bytes) AS b FROM t WHERE port IS NULL GROUP BY proto ORDER BY proto",
        // Behind a filter whose predicate is null where bytes is null.
        "SELECT port, count(*) AS n, sum(delta) AS d FROM t WHERE bytes > 2000000 GROUP BY port ORDER BY port NULLS FIRST",
        // Addresses: more groups than the test's 100 per emission, so states are emitted
        // several times and merged above.
        "SELECT addr, count(*) AS n, sum(bytes) AS b FROM t GROUP BY addr ORDER BY b DESC NULLS LAST, addr LIMIT 50",
        "SELECT addr, count(*) AS n FROM t WHERE proto = 11 GROUP BY addr ORDER BY addr NULLS FIRST",
        "SELECT mac, count(*) AS n, sum(delta) AS d FROM t GROUP BY mac ORDER BY mac NULLS FIRST",
        "SELECT port, count(late) AS n, sum(late) AS s, count(*) AS r FROM t GROUP BY port ORDER BY port",
        "SELECT addr, count(late) AS n, sum(late) AS s FROM t WHERE port > 1000 GROUP BY addr ORDER BY addr",
        "SELECT proto, count(late) AS n, sum(late) AS s FROM t WHERE late IS NULL OR late > 100 GROUP BY proto ORDER BY proto",
        // Filters on one small column (answered from a table of its values).
        "SELECT port, count(*) AS n, sum(bytes) AS b FROM t WHERE proto IN (0, 11) OR proto IS NULL GROUP BY port ORDER BY port",
        "SELECT proto, count(*) AS n, sum(delta) AS d FROM t WHERE port BETWEEN 100 AND 30000 GROUP BY proto ORDER BY proto",
        // Keys led by the run column: runs of 40 rows, with nulls in every key; more
        // groups than one emission holds; a run longer than the list of keys.
        "SELECT addr, port, count(*) AS n, sum(bytes) AS b FROM t GROUP BY addr, port ORDER BY addr, port",
        "SELECT mac, addr, proto, sum(delta) AS d, count(late) AS n FROM t GROUP BY mac, addr, proto ORDER BY mac, addr, proto",
        "SELECT proto, addr, count(*) AS n, sum(late) AS s FROM t GROUP BY proto, addr ORDER BY proto, addr",
        "SELECT addr, proto, count(*) AS n FROM t GROUP BY addr, proto ORDER BY addr, proto",
        "SELECT addr, mac, port, proto, count(*) AS n FROM t WHERE bytes > 1000 GROUP BY addr, mac, port, proto ORDER BY n DESC, addr, mac, port, proto LIMIT 40",
        // Addresses of one run each: most groups pass the final step untouched, those
        // of runs split between partitions or emissions are merged.
        "SELECT addr, port, count(*) AS n, sum(bytes) AS b FROM u GROUP BY addr, port ORDER BY b DESC NULLS LAST, addr, port LIMIT 300",
        "SELECT addr, proto, count(*) AS n, sum(delta) AS d, sum(late) AS l FROM u GROUP BY addr, proto ORDER BY addr, proto",
        "SELECT mac, addr, count(*) AS n FROM u WHERE proto = 11 GROUP BY mac, addr HAVING count(*) > 1 ORDER BY n, mac, addr",
        // DataFusion splits a distinct count into a grouping and a plain count.
        "SELECT port, count(DISTINCT proto) AS n FROM t GROUP BY port ORDER BY n DESC, port LIMIT 30",
    ] {
        let (want, want_plan) = run(&plain, sql).await;
        let (got, got_plan) = run(&dense, sql).await;
        assert_eq!(got, want, "{sql}");
        assert_eq!(run(&folding, sql).await.0, want, "{sql}");
        assert_eq!(run(&whole, sql).await.0, want, "{sql}");
        // Every final step over runs here feeds a sort: its partitioning is free.
        let runs = got_plan.contains("runs of the sort key");
        assert_eq!(runs, got_plan.contains("RunFinalExec"), "{sql}\n{got_plan}");
        assert!(!want_plan.contains("PartialAggregateExec"));
        assert!(got_plan.contains("PartialAggregateExec"), "{sql}\n{got_plan}");
        // A filter below one key is taken in, not left to copy the rows it keeps.
        let one_key = got_plan.contains("one key");
        assert_eq!(one_key, !got_plan.contains("runs of the sort key"), "{sql}\n{got_plan}");
        assert_eq!(one_key && sql.contains("WHERE"), got_plan.contains(", filter="), "{sql}\n{got_plan}");
    }
}

#[tokio::test]
async fn run_finals_stay_out_of_plans_that_need_partitioning_by_every_key() {
    let (plain, dense) = (context(None), context(Some((100, run_final::HOLD_ROWS))));
    // A join of partitions hashed by every key on both sides, not one side collected.
    for ctx in [&plain, &dense] {
        for option in ["hash_join_single_partition_threshold", "hash_join_single_partition_threshold_rows"] {
            ctx.sql(&format!("SET datafusion.optimizer.{option} = 0")).await.unwrap();
        }
    }
    for sql in [
        "SELECT count(*), sum(b) FROM (SELECT addr, port, sum(bytes) AS b FROM u GROUP BY addr, port)",
        "SELECT x.addr, x.port, x.b, y.n FROM \
         (SELECT addr, port, sum(bytes) AS b FROM u GROUP BY addr, port) x JOIN \
         (SELECT addr, port, count(*) AS n FROM t GROUP BY addr, port) y \
         ON x.addr = y.addr AND x.port = y.port ORDER BY x.addr, x.port",
    ] {
        let (want, _) = run(&plain, sql).await;
        let (got, plan) = run(&dense, sql).await;
        assert_eq!(got, want, "{sql}");
        assert!(plan.contains("runs of the sort key"), "{sql}\n{plan}");
        assert!(!plan.contains("RunFinalExec"), "{sql}\n{plan}");
        assert!(!plan.contains("CollectLeft"), "{sql}\n{plan}");
    }
}

#[test]
fn a_null_buffer_without_nulls_sums_like_no_buffer() {
    // What a slice of a batch with nulls elsewhere looks like.
    let values = UInt64Array::new(vec![1, 2, 3].into(), Some(NullBuffer::new_valid(3)));
    let (mut sums, mut tally) = (vec![0u64; 2], vec![0i64; 2]);
    let mut t = Some(&mut tally[..]);
    sum_into(&mut sums, None, &mut t, &[0, 1, 0], &values, u64::wrapping_add).expect("summed");
    assert_eq!((sums, tally), (vec![4, 2], vec![2, 1]));
}

#[tokio::test]
async fn other_aggregations_keep_hashing() {
    let dense = context(Some((100, run_final::HOLD_ROWS)));
    for sql in [
        "SELECT bytes, count(*) FROM t GROUP BY bytes",
        "SELECT port, proto, count(*) FROM t GROUP BY port, proto",
        // No run column, or keys that do not pack.
        "SELECT mac, port, count(*) FROM t GROUP BY mac, port",
        "SELECT addr, bytes, count(*) FROM t GROUP BY addr, bytes",
        "SELECT addr, mac, late, count(*) FROM t GROUP BY addr, mac, late",
        "SELECT port, max(bytes) FROM t GROUP BY port",
        "SELECT port, sum(bytes) FILTER (WHERE proto = 0) FROM t GROUP BY port",
    ] {
        let (_, plan) = run(&dense, sql).await;
        assert!(!plan.contains("PartialAggregateExec"), "{sql}\n{plan}");
    }
}
