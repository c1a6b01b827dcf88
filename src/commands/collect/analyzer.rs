//! The collector's analyzer thread: every `[analyzer] interval_secs` it runs the MTU and
//! NIOC detectors (`plumb analyze`) over the store's last `lookback_secs`, and hands what
//! is new to the sinks as `findings` rows, counted in `plumb_findings_total` and logged.
//! A finding is new when no earlier run reported it with the same last-seen time: a
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
use plumb_analyzer::nioc::contention::{self, UplinkMinute};
use plumb_analyzer::query;
use plumb_analyzer::topology::{Topology, Uplink, validate};
use plumb_collector::schema::{Table, TableBatch};
use plumb_exporters::prometheus::Metrics;

use super::sink::{self, Sink};

pub struct AnalyzerContext {
    pub data: PathBuf,
    pub topology: Topology,
    pub interval: Duration,
    pub lookback: Duration,
    /// How long before a run a row may have been received and still not be in the store:
    /// a captured flow is written when it ends (its receive time is its last packet), then
    /// waits for the batch and the flush. Rows this much older than the previous run are
    /// read again.
    pub overlap: Duration,
    pub metrics: Arc<Metrics>,
    pub sinks: Vec<Sink>,
    pub shutdown: Arc<AtomicBool>,
}

/// Findings remembered to tell new ones from old; beyond it only the last run's are kept.
const MAX_REMEMBERED: usize = 10_000;

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
        let mut previous_run: Option<i64> = None;
        let mut last = Instant::now();
        while !ctx.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() < ctx.interval {
                continue;
            }
            last = Instant::now();
            let started = crate::commands::now_us();
            match rt.block_on(run_once(&ctx, previous_run)) {
                Ok(found) => {
                    let new: Vec<Finding> =
                        found.iter().filter(|f| !previous.contains(&key(f))).cloned().collect();
                    // Kept across runs: an MTU finding leaves the window of the next run
                    // once its rows are older, and must not come back if they are re-read.
                    previous.extend(found.iter().map(key));
                    if previous.len() > MAX_REMEMBERED {
                        previous = found.iter().map(key).collect();
                    }
                    previous_run = Some(started);
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

/// One run. The MTU detectors read the raw flows received since the previous run (with
/// the overlap), so a run costs a minute or two of flows; contention reads the per-minute
/// rollups of the whole lookback, which its 3-of-5 rule needs and which are small.
async fn run_once(ctx: &AnalyzerContext, previous_us: Option<i64>) -> anyhow::Result<Vec<Finding>> {
    let now = crate::commands::now_us();
    let lookback = now - ctx.lookback.as_micros() as i64;
    let recent = previous_us.map_or(lookback, |p| (p - ctx.overlap.as_micros() as i64).max(lookback));
    // Held for the run, as `plumb analyze` does: the compactor does not swap files under it.
    let _guard = plumb_store::read_guard(&ctx.data)?;
    let session = query::session::open(&ctx.data).await?;
    let mut found = mtu::detect(&session, &ctx.topology, &Window { since_us: Some(recent) }).await?;
    let uplinks = contention::minutes(&session, &ctx.topology, &Window { since_us: Some(lookback) }).await?;
    let current_minute = now - now.rem_euclid(60_000_000);
    // Per-class series of classes that went quiet must go: cleared, then set again.
    for g in [&ctx.metrics.nioc_throughput, &ctx.metrics.nioc_entitlement] {
        g.reset();
    }
    ctx.metrics.nioc_class_state.reset();
    found.extend(contention::findings(&uplinks));
    for (u, minutes) in &uplinks {
        // The minute still filling would read low: the gauges show the last whole one.
        publish(&ctx.metrics, u, minutes.iter().rev().find(|m| m.minute_us < current_minute));
    }
    Ok(found)
}

/// Sets the uplink's gauges from its last complete minute (zero when it sent nothing).
fn publish(m: &Metrics, u: &Uplink, last: Option<&UplinkMinute>) {
    let (host, name) = (u.host.as_deref().unwrap_or(""), u.name.as_str());
    m.uplink_utilization.with_label_values(&[host, name]).set(last.map_or(0.0, |l| l.utilisation));
    m.nioc_contention.with_label_values(&[host, name]).set(last.is_some_and(|l| l.contention) as i64);
    for c in last.map(|l| l.classes.as_slice()).unwrap_or_default() {
        let labels = [host, name, c.class.as_str()];
        m.nioc_throughput.with_label_values(&labels).set(c.measured_bps);
        if let Some(e) = c.entitled_bps {
            m.nioc_entitlement.with_label_values(&labels).set(e);
        }
        for (state, on) in [
            ("share_bound", c.share_bound),
            ("limit_bound", c.limit_bound),
            ("below_reservation", c.below_reservation),
        ] {
            m.nioc_class_state.with_label_values(&[host, name, c.class.as_str(), state]).set(on as i64);
        }
    }
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
