//! One live-capture thread per interface (`--interface`): frames → packet layer → flow
//! table → batches → sinks, the same sinks the UDP workers feed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;

use plumb_analyzer::classify::Classifier;
use plumb_collector::listen::capture::{CaptureCounts, LiveCapture};
use plumb_collector::pcap::{PacketFlows, TableStats};
use plumb_collector::schema::{Table, TableBatch};
use plumb_exporters::prometheus::Metrics;

use super::sink::{self, Sink};

pub struct CaptureContext {
    pub flows: PacketFlows,
    pub batch_interval: Duration,
    pub metrics: Arc<Metrics>,
    /// Fills `traffic_class` of each flow batch before the sinks see it.
    pub classifier: Arc<Classifier>,
    pub sinks: Vec<Sink>,
    pub shutdown: Arc<AtomicBool>,
}

/// What was last added to the metrics, so each publish adds the difference.
#[derive(Default)]
struct Published {
    counts: CaptureCounts,
    table: TableStats,
    frames: u64,
}

pub fn run(mut live: LiveCapture, mut ctx: CaptureContext) {
    let label = live.interface().to_string();
    let mut published = Published::default();
    let mut last_batch = Instant::now();
    let mut last_stats = Instant::now();
    while !ctx.shutdown.load(Ordering::Relaxed) {
        match live.next_frame() {
            Ok(Some(frame)) => {
                if let Some(batch) = ctx.flows.frame(&frame) {
                    emit(batch, &ctx, &label, false);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("{e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if last_batch.elapsed() >= ctx.batch_interval {
            // A quiet link still ends its idle flows.
            let _ = ctx.flows.expire(crate::commands::now_us());
            if let Some(batch) = ctx.flows.take() {
                emit(batch, &ctx, &label, false);
            }
            last_batch = Instant::now();
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            publish(&mut live, &ctx, &label, &mut published);
            last_stats = Instant::now();
        }
    }
    let rest = ctx.flows.finish();
    if rest.num_rows() > 0 {
        emit(rest, &ctx, &label, true);
    }
    publish(&mut live, &ctx, &label, &mut published);
}

fn emit(batch: RecordBatch, ctx: &CaptureContext, label: &str, blocking: bool) {
    let batch = TableBatch::new(Table::Flows, ctx.classifier.classify(batch));
    sink::emit(batch, &ctx.sinks, &ctx.metrics, label, blocking);
}

fn publish(live: &mut LiveCapture, ctx: &CaptureContext, label: &str, p: &mut Published) {
    let m = &ctx.metrics;
    let frames = ctx.flows.stats.frames;
    m.capture_packets.with_label_values(&[label]).inc_by(frames - p.frames);
    p.frames = frames;
    if let Some(c) = live.counts() {
        let add = |stage: &str, now: u64, before: u64| {
            m.capture_dropped.with_label_values(&[label, stage]).inc_by(now.saturating_sub(before));
        };
        add("buffer", c.dropped, p.counts.dropped);
        add("interface", c.if_dropped, p.counts.if_dropped);
        p.counts = c;
    }
    let t = ctx.flows.table.stats;
    for (end, now, before) in [
        ("idle", t.ended_idle, p.table.ended_idle),
        ("active", t.ended_active, p.table.ended_active),
        ("fin", t.ended_fin, p.table.ended_fin),
        ("end", t.ended_forced, p.table.ended_forced),
        ("evicted", t.evicted, p.table.evicted),
    ] {
        m.capture_flows.with_label_values(&[label, end]).inc_by(now - before);
    }
    p.table = t;
}
