//! Sinks fed by the workers. Each has a bounded queue; a full queue drops the batch for that
//! sink (counted), so a slow disk never stalls the receive loop.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use plumb_collector::schema::{Table, TableBatch};
use plumb_exporters::prometheus::Metrics;
use plumb_store::{FlowStore, FlushReport};

#[derive(Clone)]
pub struct Sink {
    pub name: &'static str,
    pub tx: SyncSender<TableBatch>,
}

impl Sink {
    /// Offers a batch without waiting; `false` when it was dropped.
    pub fn offer(&self, batch: TableBatch, metrics: &Metrics) -> bool {
        match self.tx.try_send(batch) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                metrics.sink_batches_dropped.with_label_values(&[self.name]).inc();
                false
            }
        }
    }

    /// Hands over a batch, waiting for room (shutdown: nothing accepted may be lost).
    pub fn send_blocking(&self, batch: TableBatch, metrics: &Metrics) {
        if self.tx.send(batch).is_err() {
            metrics.sink_batches_dropped.with_label_values(&[self.name]).inc();
        }
    }
}

/// Commits queued behind the store thread: each is one encoded flush (a few MB), and
/// together they ride out seconds of a slow disk (decision 0006).
const COMMIT_DEPTH: usize = 32;

/// The store thread; it returns the rows it committed.
pub type StoreThread = JoinHandle<anyhow::Result<u64>>;

/// Hands a finished batch to every sink: offered (dropped and counted when a queue is
/// full) while running, blocking at shutdown so nothing accepted is lost. `label` is the
/// listener or interface the batch came from.
pub fn emit(batch: TableBatch, sinks: &[Sink], metrics: &Metrics, label: &str, blocking: bool) {
    if batch.table == Table::Flows {
        metrics.batch_rows.with_label_values(&[label]).observe(batch.rows() as f64);
        metrics.mtu_offload_suppressed.inc_by(column_sum(&batch.batch, "offload_packets"));
    }
    for s in sinks {
        if blocking {
            s.send_blocking(batch.clone(), metrics);
        } else {
            s.offer(batch.clone(), metrics);
        }
    }
}

/// The sum of a UInt64 column (0 when it is missing or all null).
fn column_sum(batch: &arrow::array::RecordBatch, name: &str) -> u64 {
    use arrow::array::AsArray;
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<arrow::datatypes::UInt64Type>())
        .and_then(arrow::compute::sum)
        .unwrap_or(0)
}

/// Starts the store thread; it ends when every sender is gone, after a final flush and
/// every queued commit, and returns the rows it committed.
pub fn spawn_store(
    mut store: FlowStore,
    queue: usize,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SyncSender<TableBatch>, StoreThread)> {
    let m = metrics.clone();
    store.commit_in_background(COMMIT_DEPTH, Box::new(move |r| record(&m, r)))?;
    let (tx, rx) = sync_channel(queue);
    let handle =
        std::thread::Builder::new().name("store".into()).spawn(move || store_loop(store, rx, metrics))?;
    Ok((tx, handle))
}

fn store_loop(mut store: FlowStore, rx: Receiver<TableBatch>, metrics: Arc<Metrics>) -> anyhow::Result<u64> {
    let mut implausible = 0u64;
    loop {
        let msg = rx.recv_timeout(Duration::from_millis(200));
        let done = matches!(msg, Err(RecvTimeoutError::Disconnected));
        if let Ok(batch) = msg
            && let Err(e) = store.push_table(&batch)
        {
            metrics.store_errors.inc();
            metrics.sink_batches_dropped.with_label_values(&["store"]).inc();
            tracing::error!("store: {e}");
        }
        metrics.store_implausible.inc_by(store.implausible_rows - implausible);
        implausible = store.implausible_rows;
        if done {
            return Ok(store.close()?);
        }
        if store.flush_due()
            && let Err(e) = store.flush()
        {
            metrics.store_errors.inc();
            tracing::error!("store flush failed (rows kept for the next try): {e}");
        }
    }
}

/// Counts one commit attempt of the background committer.
fn record(metrics: &Metrics, r: &std::io::Result<FlushReport>) {
    match r {
        Ok(r) => {
            for t in Table::ALL {
                metrics.store_rows.with_label_values(&[t.name()]).inc_by(r.rows_by_table[t as usize]);
            }
            metrics.store_bytes.inc_by(r.bytes);
            metrics.store_files.inc_by(r.files);
            metrics.store_flush_seconds.observe(r.seconds);
        }
        Err(_) => metrics.store_errors.inc(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumb_collector::schema::{FlowBuilders, FlowRow};

    #[test]
    fn offload_packets_of_a_flow_batch_are_counted() {
        let mut b = FlowBuilders::with_capacity(4);
        for offload in [Some(3), None, Some(4)] {
            let row = FlowRow {
                time_received: Some(1),
                exporter: Some([0; 16]),
                source_kind: Some("pcap"),
                offload_packets: offload,
                ..FlowRow::default()
            };
            b.append(&row, []);
        }
        let metrics = Metrics::new(4);
        emit(TableBatch::new(Table::Flows, b.finish()), &[], &metrics, "test", false);
        assert_eq!(metrics.mtu_offload_suppressed.get(), 7);
        let empty = FlowBuilders::with_capacity(1).finish();
        assert_eq!(column_sum(&empty, "offload_packets"), 0);
    }
}
