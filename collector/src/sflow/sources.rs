//! Loss per data source: each flow sample carries its source's sample sequence number, the
//! agent's running count of samples it dropped itself, and its sample pool (the packets
//! that could have been sampled so far). A gap in the numbers is samples that never arrived
//! (their datagram was lost, or the agent skipped them); a rise in the drop count is
//! samples the agent knows it lost; a rise of the pool far beyond rate × (samples in
//! between) is samples that went missing without either (a sampler that loses samples
//! before numbering them). All are counted in samples, apart from the datagram loss of the
//! datagram sequence numbers.
//!
//! The pool check is statistical: between samples taken 1 in `rate` at random, the pool
//! grows by a sum of geometric gaps of mean `rate`. Only a rise beyond 6 standard
//! deviations plus a margin of [`POOL_MARGIN`] samples counts (for one sample, a gap that
//! long has a chance of about e⁻¹⁹), and then as the samples above what the numbers
//! explain: smaller losses stay with the sequence and agent counts.

use std::collections::HashMap;

use crate::addr::Addr16;

/// A gap this large is a restart of the agent (its numbers start over), not loss.
const MAX_PLAUSIBLE_GAP: u32 = 1 << 30;
/// Samples a pool rise must exceed, beyond six standard deviations, to count.
const POOL_MARGIN: f64 = 12.0;

/// A data source: (agent, sub-agent, source class, source index). The agent is one
/// 128-bit word rather than 16 bytes: the key is built for every flow sample, and reading
/// back an array the compiler had stored in pieces stalled the load (an eighth of the
/// decode time in a profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceKey {
    agent: u128,
    sub_agent: u32,
    class: u32,
    index: u32,
}

impl SourceKey {
    pub const fn new(agent: Addr16, sub_agent: u32, class: u32, index: u32) -> SourceKey {
        SourceKey { agent: u128::from_ne_bytes(agent), sub_agent, class, index }
    }

    /// The key of another data source of the same agent and sub-agent.
    #[inline]
    pub fn source(self, class: u32, index: u32) -> SourceKey {
        SourceKey { class, index, ..self }
    }
}

/// What a flow sample says of its source so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub sequence: u32,
    /// Samples the agent dropped itself.
    pub agent_drops: u32,
    /// Packets that could have been sampled.
    pub pool: u32,
}

/// What one flow sample says of loss since its source's previous one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleLoss {
    /// Samples missing between the previous sample's number and this one's.
    pub missing: u64,
    /// Samples the agent counted as dropped in between.
    pub agent_dropped: u64,
    /// Samples the pool's rise says were due beyond those.
    pub pool_missing: u64,
    /// The numbers went backwards or jumped implausibly: the source restarted.
    pub reset: bool,
}

/// Last sample seen per data source, for at most `max` sources. Looked up once per flow
/// sample: the samples of a datagram mostly come from one source in a row (a port's
/// sampler fills the datagram), so the source of the previous lookup is tried first and
/// the map, hashed with foldhash (SipHash was a tenth of the decode time) and seeded per
/// map because the keys come from unauthenticated UDP, only on a change of source.
pub struct SampleSequences {
    slots: Vec<(SourceKey, Counters)>,
    index: HashMap<SourceKey, u32, foldhash::fast::RandomState>,
    last: usize,
    max: usize,
}

impl SampleSequences {
    pub fn new(max: usize) -> SampleSequences {
        SampleSequences { slots: Vec::new(), index: HashMap::default(), last: usize::MAX, max }
    }

    /// The slot of `key`, made for it when there is room.
    #[inline]
    fn slot(&mut self, key: &SourceKey, now: Counters) -> Option<&mut Counters> {
        if self.slots.get(self.last).is_some_and(|(k, _)| k == key) {
            return Some(&mut self.slots[self.last].1);
        }
        match self.index.get(key) {
            Some(&i) => {
                self.last = i as usize;
                Some(&mut self.slots[i as usize].1)
            }
            None => {
                // Spoofed sources must not grow this without bound; beyond it, new
                // sources are not followed.
                if self.slots.len() < self.max {
                    self.last = self.slots.len();
                    self.index.insert(*key, self.slots.len() as u32);
                    self.slots.push((*key, now));
                }
                None
            }
        }
    }

    /// Loss since the source's previous sample; `rate` is this sample's (0: unknown).
    #[inline]
    pub fn observe(&mut self, key: SourceKey, now: Counters, rate: u32) -> SampleLoss {
        let Some(prev) = self.slot(&key, now) else {
            return SampleLoss::default();
        };
        let gap = now.sequence.wrapping_sub(prev.sequence);
        let loss = if gap == 0 || gap >= MAX_PLAUSIBLE_GAP {
            SampleLoss { reset: true, ..SampleLoss::default() }
        } else {
            let dropped = now.agent_drops.wrapping_sub(prev.agent_drops);
            let agent_dropped = if dropped < MAX_PLAUSIBLE_GAP { dropped as u64 } else { 0 };
            SampleLoss {
                missing: (gap - 1) as u64,
                agent_dropped,
                pool_missing: pool_missing(
                    now.pool.wrapping_sub(prev.pool),
                    rate,
                    gap as u64 + agent_dropped,
                ),
                reset: false,
            }
        };
        *prev = now;
        loss
    }
}

/// Samples a pool rise of `rise` packets at 1 in `rate` says were due beyond `explained`
/// (samples numbered in between, and those the agent dropped), when far beyond chance.
fn pool_missing(rise: u32, rate: u32, explained: u64) -> u64 {
    // A pool that went back (a restart, or a wrap too long to tell) says nothing.
    if rate == 0 || rise >= 1 << 31 {
        return 0;
    }
    // Most samples: within the margin alone, no need for the square root.
    if (rise as u64) <= rate as u64 * (explained + POOL_MARGIN as u64) {
        return 0;
    }
    let due = rise as f64 / rate as f64;
    let explained = explained as f64;
    if due > explained + 6.0 * explained.sqrt() + POOL_MARGIN { (due - explained) as u64 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: SourceKey = SourceKey::new([0; 16], 0, 0, 3);

    /// A sample numbered `sequence` with the agent's drop count, its pool as Open vSwitch
    /// keeps it at rate 1 (one packet per sample).
    fn at(sequence: u32, agent_drops: u32) -> Counters {
        Counters { sequence, agent_drops, pool: sequence.wrapping_add(agent_drops) }
    }

    #[test]
    fn gaps_agent_drops_and_restarts() {
        let mut s = SampleSequences::new(8);
        assert_eq!(s.observe(K, at(10, 5), 1), SampleLoss::default());
        assert_eq!(s.observe(K, at(11, 5), 1), SampleLoss::default());
        assert_eq!(
            s.observe(K, at(15, 7), 1),
            SampleLoss { missing: 3, agent_dropped: 2, pool_missing: 0, reset: false }
        );
        // Across the wrap of the 32-bit numbers.
        let mut w = SampleSequences::new(8);
        w.observe(K, at(u32::MAX, 0), 1);
        assert_eq!(w.observe(K, at(1, 0), 1).missing, 1);
        // Backwards: the agent restarted; the next sample counts from there.
        assert!(s.observe(K, at(2, 0), 1).reset);
        assert_eq!(s.observe(K, at(3, 0), 1), SampleLoss::default());
    }

    #[test]
    fn a_pool_jump_far_beyond_chance_is_missing_samples() {
        let mut s = SampleSequences::new(8);
        let c = |sequence, pool| Counters { sequence, agent_drops: 0, pool };
        s.observe(K, c(1, 1_000), 1000);
        // Chance: one sample after a long but possible gap (10 × the rate).
        assert_eq!(s.observe(K, c(2, 11_000), 1000).pool_missing, 0);
        // 100 samples' worth of packets for one sample: 99 went missing unnumbered.
        assert_eq!(s.observe(K, c(3, 111_000), 1000).pool_missing, 99);
        // Across the pool's wrap, and a pool that went back.
        s.observe(K, c(4, u32::MAX - 499), 1000);
        assert_eq!(s.observe(K, c(5, 500), 1000), SampleLoss::default());
        assert_eq!(s.observe(K, c(6, 100), 1000).pool_missing, 0);
        // No rate, no check.
        assert_eq!(s.observe(K, c(7, 100_000_000), 0).pool_missing, 0);
    }

    #[test]
    fn sources_beyond_the_bound_are_not_followed() {
        let mut s = SampleSequences::new(1);
        s.observe(K, at(1, 0), 1);
        let other = SourceKey::new([1; 16], 0, 0, 3);
        s.observe(other, at(1, 0), 1);
        assert_eq!(s.observe(other, at(9, 0), 1), SampleLoss::default());
        assert_eq!(s.observe(K, at(3, 0), 1).missing, 1);
    }
}
