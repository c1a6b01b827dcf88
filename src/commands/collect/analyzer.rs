//! The collector's analyzer thread: every `[analyzer] interval_secs` it runs the MTU and
//! NIOC detectors (`plumb analyze`) over the store's last `lookback_secs`, and hands what
//! is new to the sinks as `findings` rows, counted in `plumb_findings_total` and logged.
//! A finding is new when no earlier run reported it with the same last-seen time: a
//! contention that goes on gives a row each minute it extends, the same old evidence none.
//! The topology's own problems are reported once, at start.
//!
//! Each run also sets the analyzer's gauges (active findings, each identified uplink and
//! class in the last complete minute) and counts the MTU evidence packets that settled in
//! the store since the previous count.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plumb_analyzer::findings::{self, Finding, Severity, kind};
use plumb_analyzer::mtu::{self, Window, evidence};
use plumb_analyzer::nioc::contention::{self, UplinkMinute};
use plumb_analyzer::query;
use plumb_analyzer::topology::{Topology, Uplink, validate};
use plumb_collector::addr;
use plumb_collector::schema::{Table, TableBatch};
use plumb_exporters::prometheus::{Metrics, OTHER};

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

/// What the thread keeps between runs.
struct Memory {
    /// Findings already reported.
    reported: HashSet<Key>,
    /// When the previous successful run started.
    previous_run: Option<i64>,
    /// Rows received before this were counted as MTU evidence (the process start at first:
    /// a previous process counted its own).
    counted_until: i64,
    /// Each distinct finding (kind, rule, subject) with its severity and when its evidence
    /// was last seen (none for the topology's own problems, active as long as it runs).
    active: HashMap<(&'static str, &'static str, String), (Severity, Option<i64>)>,
}

impl Memory {
    /// Remembers a run's findings; returns those not reported before.
    fn remember(&mut self, found: &[Finding]) -> Vec<Finding> {
        let new: Vec<Finding> = found.iter().filter(|f| !self.reported.contains(&key(f))).cloned().collect();
        // Kept across runs: an MTU finding leaves the window of the next run once its rows
        // are older, and must not come back if they are re-read.
        self.reported.extend(found.iter().map(key));
        if self.reported.len() > MAX_REMEMBERED {
            self.reported = found.iter().map(key).collect();
        }
        for f in found {
            let seen =
                self.active.entry((f.kind, f.rule, f.subject.clone())).or_insert((f.severity, f.last_us));
            *seen = (f.severity, seen.1.max(f.last_us));
        }
        new
    }

    /// Sets `plumb_findings_active` from the findings seen since `since_us`, forgetting older ones.
    fn publish_active(&mut self, m: &Metrics, since_us: i64) {
        self.active.retain(|_, (_, last)| last.is_none_or(|l| l >= since_us));
        let mut counts: HashMap<(&str, Severity), i64> = HashMap::new();
        for ((kind, _, _), (severity, _)) in &self.active {
            *counts.entry((kind, *severity)).or_default() += 1;
        }
        for k in kind::ALL {
            for s in Severity::ALL {
                let n = counts.get(&(k, s)).copied().unwrap_or(0);
                m.analysis.findings_active.with_label_values(&[k, s.as_str()]).set(n);
            }
        }
    }
}

pub fn spawn(ctx: AnalyzerContext) -> std::io::Result<JoinHandle<()>> {
    let started = crate::commands::now_us();
    std::thread::Builder::new().name("analyzer".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return tracing::error!("analyzer: cannot start its runtime: {e}; no analysis"),
        };
        let severities = Severity::ALL.map(Severity::as_str);
        ctx.metrics.analysis.declare_findings(&kind::ALL, &severities);
        let mut memory = Memory {
            reported: HashSet::new(),
            previous_run: None,
            counted_until: started,
            active: HashMap::new(),
        };
        let static_findings = validate::check(&ctx.topology);
        let new = memory.remember(&static_findings);
        report(&ctx, new);
        memory.publish_active(&ctx.metrics, started);
        let mut last = Instant::now();
        while !ctx.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() < ctx.interval {
                continue;
            }
            last = Instant::now();
            let run_start = crate::commands::now_us();
            match rt.block_on(run_once(&ctx, &memory, run_start)) {
                Ok(run) => {
                    let new = memory.remember(&run.found);
                    memory.previous_run = Some(run_start);
                    if let Some(until) = run.counted_until {
                        memory.counted_until = until;
                    }
                    memory.publish_active(&ctx.metrics, run_start - ctx.lookback.as_micros() as i64);
                    ctx.metrics.analysis.last_success.set(run_start as f64 / 1e6);
                    report(&ctx, new);
                }
                Err(e) => {
                    ctx.metrics.analysis.errors.inc();
                    tracing::warn!("analysis failed: {e}; the next run tries again");
                }
            }
            ctx.metrics.analysis.seconds.observe(last.elapsed().as_secs_f64());
        }
    })
}

/// What one run found, and up to when it counted MTU evidence.
struct Run {
    found: Vec<Finding>,
    counted_until: Option<i64>,
}

/// One run. The MTU detectors read the raw flows received since the previous run (with
/// the overlap), so a run costs a minute or two of flows; contention reads the per-minute
/// rollups of the whole lookback, which its 3-of-5 rule needs and which are small. MTU
/// evidence is counted over the rows received between the last count and the overlap
/// before now: rows that old are in the store, so each is counted once.
async fn run_once(ctx: &AnalyzerContext, memory: &Memory, now: i64) -> anyhow::Result<Run> {
    let overlap = ctx.overlap.as_micros() as i64;
    let lookback = now - ctx.lookback.as_micros() as i64;
    let recent = memory.previous_run.map_or(lookback, |p| (p - overlap).max(lookback));
    // Held for the run, as `plumb analyze` does: the compactor does not swap files under it.
    let _guard = plumb_store::read_guard(&ctx.data)?;
    let session = query::session::open(&ctx.data).await?;
    let mut found = mtu::detect(&session, &ctx.topology, &Window::since(Some(recent))).await?;
    let settled = now - overlap;
    let counted_until = if settled > memory.counted_until {
        let w = Window { since_us: Some(memory.counted_until), until_us: Some(settled) };
        let counts = evidence::count(&session, &ctx.topology, &w).await?;
        count_evidence(&ctx.metrics, &counts);
        Some(settled)
    } else {
        None
    };
    let uplinks = contention::minutes(&session, &ctx.topology, &Window::since(Some(lookback))).await?;
    let current_minute = now - now.rem_euclid(60_000_000);
    found.extend(contention::findings(&uplinks));
    // Per-class series of classes that went quiet must go: cleared, then set again.
    ctx.metrics.analysis.reset_uplinks();
    for (u, minutes) in &uplinks {
        // The minute still filling would read low: the gauges show the last whole one.
        let last = minutes.iter().rev().find(|m| m.minute_us < current_minute);
        publish(&ctx.metrics, u, last, &contention::classes_at_risk(minutes));
    }
    Ok(Run { found, counted_until })
}

fn count_evidence(m: &Metrics, counts: &evidence::Counts) {
    for ((k, segment), n) in counts {
        let segment = segment.label(|device| match device.parse::<IpAddr>() {
            Ok(ip) => m.exporter_label(&addr::from_ip(ip)),
            Err(_) => OTHER.to_string(),
        });
        m.analysis.mtu_evidence.with_label_values(&[k, segment.as_str()]).inc_by(*n);
    }
}

/// Sets the uplink's gauges from its last complete minute (zero when it sent nothing).
fn publish(m: &Metrics, u: &Uplink, last: Option<&UplinkMinute>, at_risk: &[&str]) {
    let a = &m.analysis;
    let (host, name) = (u.host.as_deref().unwrap_or(""), u.name.as_str());
    let speed = u.speed_mbps as f64 * 1e6;
    // Bits in the analyzer, bytes (Prometheus' base unit) in the metrics.
    a.uplink_speed.with_label_values(&[host, name]).set(speed / 8.0);
    a.uplink_utilization.with_label_values(&[host, name]).set(last.map_or(0.0, |l| l.utilisation));
    a.nioc_contention.with_label_values(&[host, name]).set(last.is_some_and(|l| l.contention) as i64);
    for c in last.map(|l| l.classes.as_slice()).unwrap_or_default() {
        let labels = [host, name, c.class.as_str()];
        a.nioc_throughput.with_label_values(&labels).set(c.measured_bps / 8.0);
        a.nioc_class_utilization.with_label_values(&labels).set(c.measured_bps / speed);
        if let Some(e) = c.entitled_bps {
            a.nioc_entitlement.with_label_values(&labels).set(e / 8.0);
        }
        for (state, on) in [
            ("share_bound", c.share_bound),
            ("limit_bound", c.limit_bound),
            ("below_reservation", c.below_reservation),
        ] {
            a.nioc_class_state.with_label_values(&[host, name, c.class.as_str(), state]).set(on as i64);
        }
        a.nioc_reservation_at_risk.with_label_values(&labels).set(at_risk.contains(&c.class.as_str()) as i64);
    }
}

/// Stores, counts and logs findings.
fn report(ctx: &AnalyzerContext, found: Vec<Finding>) {
    if found.is_empty() {
        return;
    }
    for f in &found {
        ctx.metrics.analysis.findings.with_label_values(&[f.kind, f.severity.as_str()]).inc();
        tracing::warn!(kind = f.kind, severity = %f.severity, subject = %f.subject, "{} Fix: {}", f.explanation, f.fix);
    }
    let batch = TableBatch::new(Table::Findings, findings::to_batch(&found, crate::commands::now_us()));
    sink::emit(batch, &ctx.sinks, &ctx.metrics, "analyzer", false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: &'static str, subject: &str, last_us: Option<i64>) -> Finding {
        Finding {
            kind,
            rule: "r",
            severity: Severity::Critical,
            subject: subject.into(),
            keys: Vec::new(),
            evidence: Vec::new(),
            explanation: String::new(),
            fix: String::new(),
            first_us: last_us,
            last_us,
        }
    }

    fn active(m: &Metrics, kind: &str) -> String {
        m.analysis.findings_active.with_label_values(&[kind, "critical"]).get().to_string()
    }

    #[test]
    fn findings_are_new_once_and_active_while_their_evidence_is_recent() {
        let m = Metrics::new(4);
        let mut memory =
            Memory { reported: HashSet::new(), previous_run: None, counted_until: 0, active: HashMap::new() };
        let config = finding(kind::CONFIG_INVALID, "switch s", None);
        let drop = finding(kind::MTU_DF_DROP, "device d", Some(100));
        assert_eq!(memory.remember(&[config, drop.clone()]).len(), 2);
        assert!(memory.remember(std::slice::from_ref(&drop)).is_empty(), "the same evidence is not new");
        let grown = finding(kind::MTU_DF_DROP, "device d", Some(200));
        assert_eq!(memory.remember(&[grown]).len(), 1, "newer evidence is");
        memory.publish_active(&m, 150);
        assert_eq!(
            (active(&m, kind::MTU_DF_DROP), active(&m, kind::CONFIG_INVALID)),
            ("1".into(), "1".into())
        );
        memory.publish_active(&m, 250);
        assert_eq!(active(&m, kind::MTU_DF_DROP), "0", "its evidence left the lookback");
        assert_eq!(active(&m, kind::CONFIG_INVALID), "1", "the topology's problems stay");
    }
}
