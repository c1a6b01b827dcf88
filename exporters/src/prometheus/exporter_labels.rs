//! The bounded exporter label, and the per-worker handles that count a datagram without
//! a lock or a label lookup.

use std::collections::HashMap;
use std::sync::Mutex;

use ::prometheus::{Gauge, IntCounter};
use plumb_collector::addr::{self, Addr16};
use plumb_collector::stats::{Outcome, UNKNOWN_PROTOCOL};

use super::{Metrics, OTHER};

/// A worker's cached metric handles per (exporter, protocol), so counting a datagram is
/// a hash lookup and a few atomic stores: no lock, no label formatting, no allocation
/// after an exporter's first datagram.
#[derive(Default)]
pub struct LocalCounters {
    handles: HashMap<(Addr16, &'static str), Handles>,
}

struct Handles {
    datagrams: IntCounter,
    records: IntCounter,
    lost: IntCounter,
    repaired: IntCounter,
    last_seen: Gauge,
}

impl LocalCounters {
    /// Counts one datagram of `exporter`, received at `now_us`.
    pub fn observe(&mut self, metrics: &Metrics, exporter: &Addr16, o: &Outcome, now_us: i64) {
        let protocol = o.kind.map_or(UNKNOWN_PROTOCOL, |k| k.as_str());
        let h = self.handles.entry((*exporter, protocol)).or_insert_with(|| {
            let ex = metrics.exporter_label(exporter);
            let labels = [ex.as_str(), protocol];
            Handles {
                datagrams: metrics.datagrams.with_label_values(&labels),
                records: metrics.records.with_label_values(&labels),
                lost: metrics.sequence_lost.with_label_values(&labels),
                repaired: metrics.records_repaired.with_label_values(&labels),
                last_seen: metrics.exporter_last_seen.with_label_values(&labels),
            }
        });
        h.datagrams.inc();
        if o.records > 0 {
            h.records.inc_by(o.records);
        }
        if o.lost > 0 {
            h.lost.inc_by(o.lost);
        }
        if o.repaired > 0 {
            h.repaired.inc_by(o.repaired);
        }
        h.last_seen.set(now_us as f64 / 1e6);
        // Spoofed sources must not grow this without bound; beyond the label limit they
        // share the `other` series anyway, so forgetting handles costs only a lookup.
        if self.handles.len() > 4 * metrics.exporters.max {
            self.handles.clear();
        }
    }
}

/// Maps exporter addresses to label values: the first `max` exporters by address text,
/// later ones as `other`, so a spoofed flood cannot grow the series count.
pub(super) struct ExporterLabels {
    max: usize,
    known: Mutex<HashMap<Addr16, String>>,
}

impl ExporterLabels {
    pub(super) fn new(max: usize) -> Self {
        Self { max, known: Mutex::new(HashMap::new()) }
    }

    pub(super) fn label(&self, a: &Addr16) -> String {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = known.get(a) {
            return l.clone();
        }
        if known.len() >= self.max {
            return OTHER.to_string();
        }
        let mut s = String::new();
        addr::write_text(a, &mut s);
        known.insert(*a, s.clone());
        s
    }
}
