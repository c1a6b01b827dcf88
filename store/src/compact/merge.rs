//! The merge of one hour: DataFusion reads the task's inputs and sorts them (flows) or
//! re-sums them (rollups) under a memory limit, spilling sorted runs to `DATA/.spill` and
//! merging them, and the result streams into one Parquet file written with the settings
//! compacted files keep for queries.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::Compactor;
use super::due::Task;
use super::table::Table;
use crate::file::TempFile;

impl Compactor {
    /// Streams the task's output rows into `out`; `false` when stopped.
    pub(super) async fn merge(
        &self,
        task: &Task,
        dir: &Path,
        schema: &SchemaRef,
        out: &mut TempFile,
        stop: &AtomicBool,
    ) -> std::io::Result<bool> {
        let err = |e: datafusion::error::DataFusionError| std::io::Error::other(e.to_string());
        let spill = self.data.join(".spill");
        std::fs::create_dir_all(&spill)?;
        // A fair pool: the default greedy one lets one partition's sort take the whole
        // limit, and the other's merge (which cannot spill) then fails (seen at 100 M rows).
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.cfg.memory_limit)))
            .with_temp_file_path(spill)
            .build_arc()
            .map_err(err)?;
        let threads = self.cfg.threads.max(1);
        // Room kept back for merging the spilled runs of each partition.
        let merge_reserve = (self.cfg.memory_limit / (4 * threads)).min(64 << 20);
        let config = SessionConfig::new()
            .with_target_partitions(threads)
            .set_usize("datafusion.execution.sort_spill_reservation_bytes", merge_reserve);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let paths: Vec<String> =
            task.inputs.iter().map(|p| dir.join(&p.name).display().to_string()).collect();
        let input =
            ctx.read_parquet(paths, ParquetReadOptions::default().schema(schema)).await.map_err(err)?;
        ctx.register_table("input", input.into_view()).map_err(err)?;
        let df = ctx.sql(&task.table.sql(&self.cfg)).await.map_err(err)?;
        let mut stream = df.execute_stream().await.map_err(err)?;
        loop {
            // The sort reads all its input before the first batch comes out, which takes
            // minutes on a large hour: the stop flag is watched meanwhile, and dropping
            // the stream cancels the sort.
            let batch = tokio::select! {
                biased;
                _ = stopped(stop) => return Ok(false),
                b = stream.next() => b,
            };
            let Some(batch) = batch else { return Ok(true) };
            out.write(&conform(batch.map_err(err)?, schema)?)?;
        }
    }

    /// Compacted files: the configured codec, row groups and sort order recorded, page
    /// statistics and the page index for pruning, and dictionaries wherever values repeat.
    /// Only the flow start and end times are nearly unique per row; counters and receive
    /// times repeat enough that a dictionary halves their size and decoding (decision
    /// 0005), and the writer falls back to plain pages by itself where one outgrows its
    /// limit.
    pub(super) fn props(&self, table: Table, schema: &SchemaRef) -> WriterProperties {
        let mut b = WriterProperties::builder()
            .set_compression(self.cfg.codec.parquet())
            .set_max_row_group_row_count(Some(self.cfg.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_dictionary_enabled(true);
        for col in ["flow_start", "flow_end"] {
            b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
        }
        let sorting = table
            .sort_columns(&self.cfg)
            .iter()
            .filter_map(|c| schema.index_of(c).ok())
            .map(|i| SortingColumn { column_idx: i as i32, descending: false, nulls_first: true })
            .collect();
        b.set_sorting_columns(Some(sorting)).build()
    }
}

/// Gives a batch the table's exact schema (DataFusion may widen nullability or pick
/// another string type).
fn conform(batch: RecordBatch, schema: &SchemaRef) -> std::io::Result<RecordBatch> {
    let mut cols = Vec::with_capacity(schema.fields().len());
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        if col.data_type() == field.data_type() {
            cols.push(col.clone());
        } else {
            cols.push(arrow::compute::cast(col, field.data_type()).map_err(std::io::Error::other)?);
        }
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(std::io::Error::other)
}

/// Resolves once `stop` is set (checked every 50 ms).
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use arrow::array::{
        Array, FixedSizeBinaryArray, RecordBatch, TimestampMicrosecondArray, UInt8Array, UInt16Array,
        UInt32Array, UInt64Array,
    };

    use super::super::test_support::{compactor, counters, files, flows, flushed, mixed_flows, read};
    use crate::{FlowStore, StoreConfig};

    #[test]
    fn compacted_rows_follow_source_then_protocol_port_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        for seed in 0..3 {
            store.push(&mixed_flows(400, seed)).unwrap();
            store.flush().unwrap();
        }
        drop(store);
        compactor(dir.path()).run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        let out = files(&dir.path().join("flows/date=2025-03-03/hour=13"));
        assert_eq!(out.len(), 1, "{out:?}");
        let mut keys = Vec::new();
        for b in &read(&out[0]) {
            let column = |name| b.column_by_name(name).unwrap().as_any();
            let src = column("src_addr").downcast_ref::<FixedSizeBinaryArray>().unwrap();
            let proto = column("protocol").downcast_ref::<UInt8Array>().unwrap();
            let port = column("dst_port").downcast_ref::<UInt16Array>().unwrap();
            let end = column("flow_end").downcast_ref::<TimestampMicrosecondArray>().unwrap();
            for i in 0..b.num_rows() {
                // Nulls first, as the compaction's ORDER BY puts them.
                keys.push((
                    src.value(i).to_vec(),
                    proto.is_valid(i).then(|| proto.value(i)),
                    port.is_valid(i).then(|| port.value(i)),
                    end.value(i),
                ));
            }
        }
        assert_eq!(keys.len(), 1200);
        assert!(keys.is_sorted(), "rows are sorted by (src_addr, protocol, dst_port, flow_end)");
    }

    #[test]
    fn an_hour_of_flush_files_becomes_one_sorted_file_with_its_rollups_summed() {
        let dir = tempfile::tempdir().unwrap();
        flushed(dir.path(), 3, 500);
        let hour = dir.path().join("flows/date=2025-03-03/hour=13");
        assert_eq!(files(&hour).len(), 3);

        let mut c = compactor(dir.path());
        assert!(c.due(false).unwrap().is_empty(), "a fresh hour waits to settle");
        let r = c.run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        assert_eq!(r.tasks, 3);
        // 1500 flows, one flows_1m row, and interfaces_1m rows for in/out (both null).
        assert_eq!(r.rows, 1500 + 1 + 2);

        let out = files(&hour);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].file_name().unwrap().to_string_lossy().starts_with("compact-"));
        let batches = read(&out[0]);
        let mut prev: Option<(Vec<u8>, i64)> = None;
        let mut sum = 0;
        for b in &batches {
            let src = b
                .column_by_name("src_addr")
                .unwrap()
                .as_any()
                .downcast_ref::<FixedSizeBinaryArray>()
                .unwrap();
            let end = b
                .column_by_name("flow_end")
                .unwrap()
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            let bytes = b.column_by_name("bytes").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
            for i in 0..b.num_rows() {
                let k = (src.value(i).to_vec(), end.value(i));
                assert!(
                    prev.as_ref().is_none_or(|p| *p <= k),
                    "rows are sorted by source, then (one protocol, no ports here) end"
                );
                prev = Some(k);
                sum += bytes.value(i);
            }
        }
        let expected: u64 = (0..3).map(|s| flows(500, s)).map(|b| sum_bytes(&b)).sum();
        assert_eq!(sum, expected);

        // All 1500 rows end within one minute-aligned span: the rollup is re-summed, not appended.
        let rollup = files(&dir.path().join("flows_1m/date=2025-03-03/hour=13"));
        assert_eq!(rollup.len(), 1);
        let rb = read(&rollup[0]);
        let flows_col =
            rb[0].column_by_name("flows").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(rb[0].num_rows(), 1);
        assert_eq!(flows_col.value(0), 1500);
        assert!(c.due(true).unwrap().is_empty());
    }

    #[test]
    fn counter_samples_compact_into_one_file_in_series_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        for round in 0..3 {
            store.push_table(&counters(4, round * 1_000_000)).unwrap();
            store.flush().unwrap();
        }
        let hour = dir.path().join("interface_counters/date=2025-03-03/hour=13");
        assert_eq!(files(&hour).len(), 3);
        let r = compactor(dir.path()).run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        // The 12 samples, and the 4 interfaces' counted traffic in `interfaces_1m`.
        assert_eq!((r.tasks, r.rows), (2, 12 + 4));
        let rollup = read(&files(&dir.path().join("interfaces_1m/date=2025-03-03/hour=13"))[0]);
        let col = |name: &str| rollup[0].column_by_name(name).unwrap().clone();
        let bytes = col("bytes");
        let bytes = bytes.as_any().downcast_ref::<UInt64Array>().unwrap();
        let flows = col("flows");
        let flows = flows.as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(bytes.values().to_vec(), [2_000_000; 4], "two differences of 1 MB per interface");
        assert_eq!(flows.values().to_vec(), [2; 4], "two samples ended a difference");
        let source = col("source");
        let source = source.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        assert!(source.iter().all(|s| s == Some("counters")));
        let out = files(&hour);
        assert_eq!(out.len(), 1, "{out:?}");
        let mut keys = Vec::new();
        for b in read(&out[0]) {
            let index = b.column_by_name("if_index").unwrap().as_any().downcast_ref::<UInt32Array>().unwrap();
            let t = b.column_by_name("time_received").unwrap();
            let t = t.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
            keys.extend((0..b.num_rows()).map(|i| (index.value(i), t.value(i))));
        }
        assert_eq!(keys.len(), 12);
        assert!(keys.is_sorted(), "each interface's series in time order: {keys:?}");
    }

    /// A store written before counters fed `interfaces_1m` has files without its `source`
    /// column: they compact with the new ones, their rows as source null.
    #[test]
    fn interface_rollups_without_a_source_column_still_compact() {
        use arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        flushed(dir.path(), 1, 10);
        let hour = dir.path().join("interfaces_1m/date=2025-03-03/hour=13");
        let new = read(&files(&hour)[0]).remove(0);
        let keep: Vec<usize> =
            (0..new.num_columns()).filter(|&i| new.schema().field(i).name() != "source").collect();
        let old_schema = Arc::new(Schema::new(
            keep.iter().map(|&i| new.schema().field(i).clone()).collect::<Vec<Field>>(),
        ));
        let old =
            RecordBatch::try_new(old_schema.clone(), keep.iter().map(|&i| new.column(i).clone()).collect())
                .unwrap();
        let path = hour.join("flush-1-1-000001.parquet");
        let mut w =
            parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), old_schema, None)
                .unwrap();
        w.write(&old).unwrap();
        w.close().unwrap();
        compactor(dir.path()).run_due(true, &AtomicBool::new(false), |_, _| {}).unwrap();
        let out = files(&hour);
        assert_eq!(out.len(), 1, "{out:?}");
        let rows = read(&out[0]);
        let source = rows[0].column_by_name("source").unwrap();
        let source = source.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        let mut seen: Vec<Option<&str>> = source.iter().collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, [None, Some("flows")]);
    }

    fn sum_bytes(b: &RecordBatch) -> u64 {
        let a = b.column_by_name("bytes").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
        (0..a.len()).map(|i| a.value(i)).sum()
    }
}
