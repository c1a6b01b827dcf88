//! One receiving thread: socket → decoder → Arrow builders → sinks.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plumb_analyzer::classify::Classifier;
use plumb_collector::addr;
use plumb_collector::listen::BatchReceiver;
use plumb_collector::listen::drops::SocketDrops;
use plumb_collector::netflow::Decoder;
use plumb_collector::schema::{FlowBuilders, Table, TableBatch};
use plumb_exporters::prometheus::{LocalCounters, Metrics};

use super::sink::{self, Sink};

pub struct WorkerContext {
    /// The listen address, as the `listener` label.
    pub label: String,
    pub state_file: PathBuf,
    pub batch_rows: usize,
    pub batch_interval: Duration,
    pub state_save_interval: Duration,
    pub metrics: Arc<Metrics>,
    /// Fills `traffic_class` of each flow batch before the sinks see it.
    pub classifier: Arc<Classifier>,
    pub sinks: Vec<Sink>,
    pub shutdown: Arc<AtomicBool>,
}

/// Per-worker bookkeeping for gauges the workers share (added as deltas).
#[derive(Default)]
struct Reported {
    templates: i64,
    pending: i64,
}

/// Rows the builders hold beyond `batch_rows`: a batch is cut after the datagram that
/// reaches `batch_rows`, and a column that outgrows its capacity is copied whole. 4096
/// covers any datagram of 64 KiB with records of 16 bytes or more.
const DATAGRAM_HEADROOM: usize = 4096;

pub fn run(socket: UdpSocket, mut dec: Decoder, ctx: WorkerContext) {
    let mut rx = BatchReceiver::new();
    let mut out = FlowBuilders::with_capacity(ctx.batch_rows + DATAGRAM_HEADROOM);
    let mut drops = SocketDrops::new(&socket);
    // At zero from the start, so a rate and an alert over it have a series before any drop.
    ctx.metrics.socket_drops.with_label_values(&[&ctx.label]);
    let mut reported = Reported::default();
    let mut last_batch = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_save = Instant::now();
    let mut templates_since_save = 0u64;
    let mut counters = LocalCounters::default();
    while !ctx.shutdown.load(Ordering::Relaxed) {
        let n = match rx.recv(&socket) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("udp {}: {e}", ctx.label);
                std::thread::sleep(Duration::from_millis(100));
                0
            }
        };
        let now = plumb_collector_now_us();
        for i in 0..n {
            let Some((src, data)) = rx.get(i) else {
                continue;
            };
            let exporter = addr::from_ip(src.ip());
            let o = dec.decode(data, exporter, now, &mut out);
            counters.observe(&ctx.metrics, &exporter, &o, now);
            if out.len() >= ctx.batch_rows || dec.side_rows() >= ctx.batch_rows {
                emit(&mut out, &mut dec, &ctx, false);
                last_batch = Instant::now();
            }
        }
        if (!out.is_empty() || dec.side_rows() > 0) && last_batch.elapsed() >= ctx.batch_interval {
            emit(&mut out, &mut dec, &ctx, false);
            last_batch = Instant::now();
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            templates_since_save += dec.stats.templates_received;
            publish(&mut dec, &ctx, &mut drops, &mut reported);
            last_stats = Instant::now();
            // New templates are saved within seconds; otherwise on the save interval.
            let soon = templates_since_save > 0 && last_save.elapsed() >= Duration::from_secs(2);
            if soon || last_save.elapsed() >= ctx.state_save_interval {
                save(&dec, &ctx);
                last_save = Instant::now();
                templates_since_save = 0;
            }
        }
    }
    emit(&mut out, &mut dec, &ctx, true);
    publish(&mut dec, &ctx, &mut drops, &mut reported);
    save(&dec, &ctx);
}

fn plumb_collector_now_us() -> i64 {
    crate::commands::now_us()
}

/// Hands the flow batch and the side tables' batches (counter samples, drops) to the sinks.
fn emit(out: &mut FlowBuilders, dec: &mut Decoder, ctx: &WorkerContext, blocking: bool) {
    if !out.is_empty() {
        let batch = TableBatch::new(Table::Flows, ctx.classifier.classify(out.finish()));
        sink::emit(batch, &ctx.sinks, &ctx.metrics, &ctx.label, blocking);
    }
    for batch in dec.finish_side_tables() {
        sink::emit(batch, &ctx.sinks, &ctx.metrics, &ctx.label, blocking);
    }
}

fn publish(dec: &mut Decoder, ctx: &WorkerContext, drops: &mut Option<SocketDrops>, r: &mut Reported) {
    let m = &ctx.metrics;
    m.add_decode_stats(&dec.stats.take());
    if let Some(d) = drops {
        let n = d.delta();
        if n > 0 {
            m.socket_drops.with_label_values(&[&ctx.label]).inc_by(n);
        }
    }
    let t = dec.state.template_count() as i64;
    m.templates.add(t - r.templates);
    r.templates = t;
    let p = dec.pending_sets() as i64;
    m.template_sets_pending.add(p - r.pending);
    r.pending = p;
    for (exporter, v) in dec.exporter_not_sent() {
        m.set_exporter_not_sent(exporter, *v);
    }
}

fn save(dec: &Decoder, ctx: &WorkerContext) {
    if let Err(e) = dec.state.save(&ctx.state_file) {
        tracing::warn!("cannot save decoder state to {}: {e}", ctx.state_file.display());
    }
}
