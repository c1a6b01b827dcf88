//! Loss per data source: each flow sample carries its source's sample sequence number and
//! the agent's running count of samples it dropped itself. A gap in the numbers is samples
//! that never arrived (their datagram was lost, or the agent skipped them); a rise in the
//! drop count is samples the agent knows it lost. Both are counted in samples, apart from
//! the datagram loss of the datagram sequence numbers.

use std::collections::HashMap;

use crate::addr::Addr16;

/// A gap this large is a restart of the agent (its numbers start over), not loss.
const MAX_PLAUSIBLE_GAP: u32 = 1 << 30;

/// (agent, sub-agent, source class, source index).
type SourceKey = (Addr16, u32, u32, u32);

#[derive(Clone, Copy)]
struct Last {
    sequence: u32,
    agent_drops: u32,
}

/// What one flow sample says of loss since its source's previous one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleLoss {
    /// Samples missing between the previous sample's number and this one's.
    pub missing: u64,
    /// Samples the agent counted as dropped in between.
    pub agent_dropped: u64,
    /// The numbers went backwards or jumped implausibly: the source restarted.
    pub reset: bool,
}

/// Last sample seen per data source, for at most `max` sources. Looked up once per flow
/// sample: foldhash, not SipHash (a tenth of the decode time), seeded per map because the
/// keys come from unauthenticated UDP.
pub struct SampleSequences {
    last: HashMap<SourceKey, Last, foldhash::fast::RandomState>,
    max: usize,
}

impl SampleSequences {
    pub fn new(max: usize) -> SampleSequences {
        SampleSequences { last: HashMap::default(), max }
    }

    pub fn observe(&mut self, key: SourceKey, sequence: u32, agent_drops: u32) -> SampleLoss {
        let now = Last { sequence, agent_drops };
        let Some(prev) = self.last.get_mut(&key) else {
            // Spoofed sources must not grow this without bound; beyond it, new sources
            // are not followed.
            if self.last.len() < self.max {
                self.last.insert(key, now);
            }
            return SampleLoss::default();
        };
        let gap = sequence.wrapping_sub(prev.sequence);
        let loss = if gap == 0 || gap >= MAX_PLAUSIBLE_GAP {
            SampleLoss { reset: true, ..SampleLoss::default() }
        } else {
            let dropped = agent_drops.wrapping_sub(prev.agent_drops);
            SampleLoss {
                missing: (gap - 1) as u64,
                agent_dropped: if dropped < MAX_PLAUSIBLE_GAP { dropped as u64 } else { 0 },
                reset: false,
            }
        };
        *prev = now;
        loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: SourceKey = ([0; 16], 0, 0, 3);

    #[test]
    fn gaps_agent_drops_and_restarts() {
        let mut s = SampleSequences::new(8);
        assert_eq!(s.observe(K, 10, 5), SampleLoss::default());
        assert_eq!(s.observe(K, 11, 5), SampleLoss::default());
        assert_eq!(s.observe(K, 15, 7), SampleLoss { missing: 3, agent_dropped: 2, reset: false });
        // Across the wrap of the 32-bit numbers.
        let mut w = SampleSequences::new(8);
        w.observe(K, u32::MAX, 0);
        assert_eq!(w.observe(K, 1, 0).missing, 1);
        // Backwards: the agent restarted; the next sample counts from there.
        assert!(s.observe(K, 2, 0).reset);
        assert_eq!(s.observe(K, 3, 0), SampleLoss::default());
    }

    #[test]
    fn sources_beyond_the_bound_are_not_followed() {
        let mut s = SampleSequences::new(1);
        s.observe(K, 1, 0);
        let other = ([1; 16], 0, 0, 3);
        s.observe(other, 1, 0);
        assert_eq!(s.observe(other, 9, 0), SampleLoss::default());
        assert_eq!(s.observe(K, 3, 0).missing, 1);
    }
}
