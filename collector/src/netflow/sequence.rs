//! Loss accounting from export sequence numbers.
//!
//! Each protocol counts differently: NetFlow v5 counts flows, v9 counts packets, IPFIX
//! counts data records (per observation domain). Open vSwitch shares one IPFIX counter
//! between its observation domains, so a message that continues the exporter-wide count is
//! not a gap even when its own domain's count jumped.

use std::collections::HashMap;

use crate::addr::Addr16;

/// Gaps larger than this are an exporter restart or reordering, not loss.
const MAX_PLAUSIBLE_GAP: u32 = 1 << 30;

/// What one sequence number says about loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqOutcome {
    /// Units (flows, packets or records, per protocol) missing before this message.
    pub lost: u64,
    /// The sequence went backwards or jumped implausibly: the exporter restarted.
    pub reset: bool,
}

#[derive(Default, Clone, Copy)]
struct Expect {
    next: u32,
    known: bool,
}

/// Expected next sequence number per (exporter, protocol, domain), and per exporter.
#[derive(Default)]
pub struct SequenceTracker {
    per_domain: HashMap<(Addr16, u8, u32), Expect>,
    per_exporter: HashMap<(Addr16, u8), Expect>,
    max_entries: usize,
}

impl SequenceTracker {
    pub fn new(max_entries: usize) -> Self {
        Self { max_entries, ..Default::default() }
    }

    /// Records message `seq` that carried `units`; `resync` says the message could not be
    /// counted fully (data held for a missing template), so the next one starts afresh.
    pub fn observe(
        &mut self,
        exporter: Addr16,
        version: u8,
        domain: u32,
        seq: u32,
        units: u32,
        resync: bool,
    ) -> SeqOutcome {
        if self.per_domain.len() >= self.max_entries
            && !self.per_domain.contains_key(&(exporter, version, domain))
        {
            // Spoofed sources must not grow this without bound; accounting for new
            // scopes stops, which the caller's scope metrics make visible.
            return SeqOutcome::default();
        }
        let dom = self.per_domain.entry((exporter, version, domain)).or_default();
        let exp = self.per_exporter.entry((exporter, version)).or_default();
        let mut out = SeqOutcome::default();
        let continues = |e: &Expect| e.known && e.next == seq;
        if dom.known && !continues(dom) && !continues(exp) {
            let gap = seq.wrapping_sub(dom.next);
            if gap < MAX_PLAUSIBLE_GAP {
                out.lost = gap as u64;
            } else {
                out.reset = true;
            }
        }
        let next = Expect { next: seq.wrapping_add(units), known: !resync };
        *dom = next;
        *exp = next;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Addr16 = [1; 16];

    #[test]
    fn counts_missing_units() {
        let mut t = SequenceTracker::new(100);
        assert_eq!(t.observe(E, 10, 0, 100, 5, false).lost, 0);
        assert_eq!(t.observe(E, 10, 0, 105, 5, false).lost, 0);
        assert_eq!(t.observe(E, 10, 0, 113, 5, false).lost, 3);
    }

    #[test]
    fn wraps_and_resets() {
        let mut t = SequenceTracker::new(100);
        t.observe(E, 10, 0, u32::MAX - 1, 4, false);
        assert_eq!(t.observe(E, 10, 0, 2, 1, false).lost, 0);
        let o = t.observe(E, 10, 0, 1, 1, false);
        assert!(o.reset);
        assert_eq!(o.lost, 0);
    }

    #[test]
    fn shared_counter_across_domains_is_not_loss() {
        // Open vSwitch: templates in domain 7 (seq 1), options data in domain 0 (seq 1, one
        // record), then data in domain 7 continuing at 2.
        let mut t = SequenceTracker::new(100);
        assert_eq!(t.observe(E, 10, 7, 1, 0, false).lost, 0);
        assert_eq!(t.observe(E, 10, 0, 1, 1, false).lost, 0);
        assert_eq!(t.observe(E, 10, 7, 2, 1, false).lost, 0);
        assert_eq!(t.observe(E, 10, 7, 3, 1, false).lost, 0);
    }

    #[test]
    fn resync_skips_one_comparison() {
        let mut t = SequenceTracker::new(100);
        t.observe(E, 9, 0, 10, 1, true);
        assert_eq!(t.observe(E, 9, 0, 20, 1, false).lost, 0);
        assert_eq!(t.observe(E, 9, 0, 22, 1, false).lost, 1);
    }
}
