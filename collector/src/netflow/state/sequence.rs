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
    /// RFC 7011: the previous message's number plus the units it carried.
    next: u32,
    /// The previous message's own sequence number.
    prev: u32,
    known: bool,
    /// The exporter numbers each message after counting its own units and template
    /// records (softflowd 1.1), rather than before.
    counts_own: bool,
    /// The next number under that rule: the previous one plus its flow records.
    own_next: u32,
}

/// What one message carried, in the units sequence numbers may count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// Units per the protocol: v5 flows, v9 one packet, IPFIX data records (flow and
    /// options data).
    pub units: u32,
    /// IPFIX flow data records alone (options data excluded).
    pub flow_records: u32,
    /// Template records.
    pub templates: u32,
}

impl Counted {
    pub fn units(units: u32) -> Counted {
        Counted { units, flow_records: units, templates: 0 }
    }
}

/// foldhash, seeded per map (the keys come from unauthenticated UDP): looked up once per
/// datagram, where SipHash was a twentieth of an sFlow datagram's decode.
type Map<K> = HashMap<K, Expect, foldhash::fast::RandomState>;

/// Expected next sequence number per (exporter, protocol, domain), and per exporter.
#[derive(Default)]
pub struct SequenceTracker {
    per_domain: Map<(Addr16, u8, u32)>,
    per_exporter: Map<(Addr16, u8)>,
    max_entries: usize,
    /// Only the domain's own numbers count: set for protocols whose domains never share
    /// a counter (sFlow sub-agents), where the exporter-wide rule could take another
    /// domain's number for this one's and hide a loss.
    per_domain_only: bool,
}

impl SequenceTracker {
    pub fn new(max_entries: usize) -> Self {
        Self { max_entries, ..Default::default() }
    }

    /// A tracker that follows each domain on its own numbers alone (sFlow).
    pub fn per_domain_only(max_entries: usize) -> Self {
        Self { max_entries, per_domain_only: true, ..Default::default() }
    }

    /// Records message `seq` and what it carried; `resync` says the message could not be
    /// counted fully (data held for a missing template), so the next one starts afresh.
    ///
    /// An exporter that numbers each message after counting its own records (softflowd
    /// 1.1 counts the message's flow records, not its options data or templates) is
    /// recognised by its first message that fits only that rule, and then held to it.
    pub fn observe(
        &mut self,
        exporter: Addr16,
        version: u8,
        domain: u32,
        seq: u32,
        c: Counted,
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
        let mut counts_own = dom.counts_own;
        if dom.known {
            let own = [c.flow_records, c.units, c.flow_records + c.templates, c.units + c.templates]
                .map(|n| dom.prev.wrapping_add(n));
            let rfc = seq == dom.next || (!self.per_domain_only && exp.known && seq == exp.next);
            let own_fits = own.contains(&seq);
            if rfc && !(counts_own && own_fits) {
                counts_own = false;
            } else if own_fits {
                counts_own = true;
            } else {
                let expected = if counts_own { own[0] } else { dom.next };
                let gap = seq.wrapping_sub(expected);
                if gap < MAX_PLAUSIBLE_GAP {
                    out.lost = gap as u64;
                } else {
                    out.reset = true;
                }
            }
        }
        let own_next = seq.wrapping_add(c.flow_records);
        let next =
            Expect { next: seq.wrapping_add(c.units), prev: seq, known: !resync, counts_own, own_next };
        *dom = next;
        *exp = next;
        out
    }
}

impl SequenceTracker {
    /// The sequence number the next message of this scope should carry, by the rule the
    /// exporter was seen to follow; `None` before a countable message.
    pub fn next_expected(&self, exporter: Addr16, version: u8, domain: u32) -> Option<u32> {
        let e = self.per_domain.get(&(exporter, version, domain)).filter(|e| e.known)?;
        Some(if e.counts_own { e.own_next } else { e.next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Addr16 = [1; 16];

    #[test]
    fn tells_the_next_number_expected() {
        let mut t = SequenceTracker::new(100);
        assert_eq!(t.next_expected(E, 10, 0), None);
        t.observe(E, 10, 0, 100, Counted::units(5), false);
        assert_eq!(t.next_expected(E, 10, 0), Some(105));
        assert_eq!(t.next_expected(E, 10, 1), None);
    }

    #[test]
    fn counts_missing_units() {
        let mut t = SequenceTracker::new(100);
        assert_eq!(t.observe(E, 10, 0, 100, Counted::units(5), false).lost, 0);
        assert_eq!(t.observe(E, 10, 0, 105, Counted::units(5), false).lost, 0);
        assert_eq!(t.observe(E, 10, 0, 113, Counted::units(5), false).lost, 3);
    }

    #[test]
    fn wraps_and_resets() {
        let mut t = SequenceTracker::new(100);
        t.observe(E, 10, 0, u32::MAX - 1, Counted::units(4), false);
        assert_eq!(t.observe(E, 10, 0, 2, Counted::units(1), false).lost, 0);
        let o = t.observe(E, 10, 0, 1, Counted::units(1), false);
        assert!(o.reset);
        assert_eq!(o.lost, 0);
    }

    #[test]
    fn shared_counter_across_domains_is_not_loss() {
        // Open vSwitch: templates in domain 7 (seq 1), options data in domain 0 (seq 1, one
        // record), then data in domain 7 continuing at 2.
        let mut t = SequenceTracker::new(100);
        assert_eq!(t.observe(E, 10, 7, 1, Counted::units(0), false).lost, 0);
        assert_eq!(t.observe(E, 10, 0, 1, Counted::units(1), false).lost, 0);
        assert_eq!(t.observe(E, 10, 7, 2, Counted::units(1), false).lost, 0);
        assert_eq!(t.observe(E, 10, 7, 3, Counted::units(1), false).lost, 0);
    }

    #[test]
    fn domains_that_never_share_a_counter_keep_their_losses() {
        // sFlow sub-agents 1 and 2: sub-agent 2 loses its datagram 10; its 11 arrives just
        // after sub-agent 1's 10, which the exporter-wide rule would take as the number
        // expected next.
        let mut t = SequenceTracker::per_domain_only(100);
        let mut shared = SequenceTracker::new(100);
        for tr in [&mut t, &mut shared] {
            tr.observe(E, 5, 2, 9, Counted::units(1), false);
            tr.observe(E, 5, 1, 10, Counted::units(1), false);
        }
        assert_eq!(t.observe(E, 5, 2, 11, Counted::units(1), false).lost, 1);
        assert_eq!(shared.observe(E, 5, 2, 11, Counted::units(1), false).lost, 0);
    }

    #[test]
    fn exporters_that_count_their_own_message_first_show_no_false_loss() {
        // softflowd 1.1 numbers a message after counting its own flow records. Numbers
        // seen on the wire: 458, 489 (+31), then a template message with 23 flow records,
        // one options record and five templates at 512.
        let mut t = SequenceTracker::new(100);
        let flows = Counted::units;
        assert_eq!(t.observe(E, 10, 0, 458, flows(31), false).lost, 0);
        assert_eq!(t.observe(E, 10, 0, 489, flows(31), false).lost, 0);
        let with_templates = Counted { units: 24, flow_records: 23, templates: 5 };
        let o = t.observe(E, 10, 0, 512, with_templates, false);
        assert_eq!((o.lost, o.reset), (0, false));
        assert_eq!(t.observe(E, 10, 0, 543, flows(31), false).lost, 0);
        // one message of 31 records lost
        assert_eq!(t.observe(E, 10, 0, 605, flows(31), false).lost, 31);
    }

    #[test]
    fn resync_skips_one_comparison() {
        let mut t = SequenceTracker::new(100);
        t.observe(E, 9, 0, 10, Counted::units(1), true);
        assert_eq!(t.observe(E, 9, 0, 20, Counted::units(1), false).lost, 0);
        assert_eq!(t.observe(E, 9, 0, 22, Counted::units(1), false).lost, 1);
    }
}
