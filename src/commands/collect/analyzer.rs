//! The collector's analyzer thread: every `[analyzer] interval_secs` it runs the MTU and
//! NIOC detectors (`plumb analyze`) over the store's last `lookback_secs`, and hands what
//! is new to the sinks as `findings` rows, counted in `plumb_findings_total` and logged.
//! A finding is new when it was not in the previous run with the same last-seen time: a
//! contention that goes on gives a row each minute it extends, the same old evidence none.
//! The topology's own problems are reported once, at start.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plumb_analyzer::findings::{self, Finding};
use plumb_analyzer::mtu::{self, Window};
use plumb_analyzer::nioc::contention;
use plumb_analyzer::query;
use plumb_analyzer::topology::{Topology, validate};
use plumb_collector::schema::{Table, TableBatch};
use plumb_exporters::prometheus::Metrics;

use super::sink::{self, Sink};

pub struct AnalyzerContext {
    pub data: PathBuf,
    pub topology: Topology,
    pub interval: Duration,
    pub lookback: Duration,
    pub metrics: Arc<Metrics>,
    pub sinks: Vec<Sink>,
    pub shutdown: Arc<AtomicBool>,
}

/// What makes a finding the same as one reported before.
type Key = (&'static str, &'static str, String, Option<i64>);

fn key(f: &Finding) -> Key {
    (f.kind, f.rule, f.subject.clone(), f.last_us)
}

pub fn spawn(ctx: AnalyzerContext) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("analyzer".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return tracing::error!("analyzer: cannot start its runtime: {e}; no analysis"),
        };
        report(&ctx, validate::check(&ctx.topology));
        let mut previous: HashSet<Key> = HashSet::new();
        let mut last = Instant::now();
        while !ctx.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() < ctx.interval {
                continue;
            }
            last = Instant::now();
            match rt.block_on(run_once(&ctx)) {
                Ok(found) => {
                    let new: Vec<Finding> =
                        found.iter().filter(|f| !previous.contains(&key(f))).cloned().collect();
                    previous = found.iter().map(key).collect();
                    report(&ctx, new);
                }
                Err(e) => {
                    ctx.metrics.analysis_errors.inc();
                    tracing::warn!("analysis failed: {e}; the next run tries again");
                }
            }
            ctx.metrics.analysis_seconds.observe(last.elapsed().as_secs_f64());
        }
    })
}

async fn run_once(ctx: &AnalyzerContext) -> anyhow::Result<Vec<Finding>> {
    let now = crate::commands::now_us();
    let window = Window { since_us: Some(now - ctx.lookback.as_micros() as i64) };
    let session = query::session::open(&ctx.data).await?;
    let mut found = mtu::detect(&session, &ctx.topology, &window).await?;
    found.extend(contention::detect(&session, &ctx.topology, &window).await?);
    Ok(found)
}

/// Stores, counts and logs findings.
fn report(ctx: &AnalyzerContext, found: Vec<Finding>) {
    if found.is_empty() {
        return;
    }
    for f in &found {
        ctx.metrics.findings.with_label_values(&[f.kind, f.severity.as_str()]).inc();
        tracing::warn!(kind = f.kind, severity = %f.severity, subject = %f.subject, "{} Fix: {}", f.explanation, f.fix);
    }
    let batch = TableBatch::new(Table::Findings, findings::to_batch(&found, crate::commands::now_us()));
    sink::emit(batch, &ctx.sinks, &ctx.metrics, "analyzer", false);
}
