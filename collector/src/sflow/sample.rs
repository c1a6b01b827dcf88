//! The samples of a datagram (sFlow v5 `sample_data`, enterprise 0): their fixed fields,
//! parsed from a bounded body, and the records that follow them. The expanded forms
//! (formats 3 and 4) carry the source id and the interfaces as two words each where the
//! compact forms pack them into one; the drop notification has the expanded source id and
//! plain ifIndex words for its interfaces.

use super::stats::SflowError;
use super::xdr::{Elements, Xdr};

/// `sample_data` formats.
pub mod format {
    pub const FLOW: u32 = 1;
    pub const COUNTERS: u32 = 2;
    pub const FLOW_EXPANDED: u32 = 3;
    pub const COUNTERS_EXPANDED: u32 = 4;
    pub const DISCARDED: u32 = 5;
}

/// Where a sample was taken (sFlow's data source): class 0 an ifIndex, 1 a VLAN, 2 an
/// entPhysicalEntry, 3 an entLogicalEntry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceId {
    pub class: u32,
    pub index: u32,
}

impl SourceId {
    #[inline]
    fn compact(word: u32) -> SourceId {
        SourceId { class: word >> 24, index: word & 0x00ff_ffff }
    }

    /// The compact form (class in the top byte) or the expanded one (two words).
    #[inline]
    fn read(x: &mut Xdr<'_>, expanded: bool) -> Result<SourceId, SflowError> {
        Ok(if expanded { SourceId { class: x.u32()?, index: x.u32()? } } else { SourceId::compact(x.u32()?) })
    }
}

/// An input or output of a flow sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// An ifIndex; 0 when the agent does not know it.
    Index(u32),
    /// The packet came from, or went to, the device itself.
    Internal,
    /// The packet was dropped, for this reason (the drop-reason table).
    Discarded(u32),
    /// Sent to this many interfaces (0: more than one, count unknown).
    Multiple(u32),
}

/// The ifIndex value meaning "the device itself".
const INTERNAL: u32 = 0x3fff_ffff;

impl Interface {
    /// The compact form: format in the top two bits, value in the rest.
    #[inline]
    pub fn compact(word: u32) -> Interface {
        Self::expanded(word >> 30, word & 0x3fff_ffff)
    }

    /// The expanded form: format and value in words of their own. All ones is read as
    /// "the device itself" too: no ifIndex can have it (IF-MIB stops at 2³¹ − 1).
    #[inline]
    pub fn expanded(format: u32, value: u32) -> Interface {
        match format {
            0 if value == INTERNAL || value == u32::MAX => Interface::Internal,
            1 => Interface::Discarded(value),
            2 => Interface::Multiple(value),
            // Format 3 is reserved: nothing is known of the interface.
            0 => Interface::Index(value),
            _ => Interface::Index(0),
        }
    }

    #[inline]
    fn read(x: &mut Xdr<'_>, expanded: bool) -> Result<Interface, SflowError> {
        Ok(if expanded { Interface::expanded(x.u32()?, x.u32()?) } else { Interface::compact(x.u32()?) })
    }

    /// The ifIndex for the `in_if` / `out_if` columns: none for unknown, internal, dropped
    /// or multiple.
    #[inline]
    pub fn if_index(self) -> Option<u32> {
        match self {
            Interface::Index(i) if i != 0 => Some(i),
            _ => None,
        }
    }
}

/// A flow sample (format 1 or 3) before its records.
pub struct FlowSample<'a> {
    pub sequence: u32,
    pub source: SourceId,
    /// 1 in `rate` packets was sampled; 0 from a broken agent.
    pub rate: u32,
    /// Packets that could have been sampled so far.
    pub pool: u32,
    /// Samples the agent lost for want of resources, so far.
    pub drops: u32,
    pub input: Interface,
    pub output: Interface,
    pub records: Elements<'a>,
}

impl<'a> FlowSample<'a> {
    #[inline]
    pub fn parse(body: &'a [u8], expanded: bool) -> Result<FlowSample<'a>, SflowError> {
        let x = &mut Xdr::new(body);
        let read = |x: &mut Xdr<'a>| -> Result<FlowSample<'a>, SflowError> {
            let (sequence, source) = (x.u32()?, SourceId::read(x, expanded)?);
            let (rate, pool, drops) = (x.u32()?, x.u32()?, x.u32()?);
            let (input, output) = (Interface::read(x, expanded)?, Interface::read(x, expanded)?);
            let count = x.u32()?;
            Ok(FlowSample { sequence, source, rate, pool, drops, input, output, records: x.elements(count) })
        };
        read(x).map_err(|_| SflowError::SampleTruncated)
    }
}

/// A counter sample (format 2 or 4) before its records.
pub struct CounterSample<'a> {
    pub sequence: u32,
    pub source: SourceId,
    pub records: Elements<'a>,
}

impl<'a> CounterSample<'a> {
    #[inline]
    pub fn parse(body: &'a [u8], expanded: bool) -> Result<CounterSample<'a>, SflowError> {
        let x = &mut Xdr::new(body);
        let read = |x: &mut Xdr<'a>| -> Result<CounterSample<'a>, SflowError> {
            let (sequence, source, count) = (x.u32()?, SourceId::read(x, expanded)?, x.u32()?);
            Ok(CounterSample { sequence, source, records: x.elements(count) })
        };
        read(x).map_err(|_| SflowError::SampleTruncated)
    }
}

/// A dropped-packet notification (format 5) before its records. Notifications are not
/// sampled: each stands for one dropped packet, never scaled.
pub struct DropNotification<'a> {
    pub sequence: u32,
    pub source: SourceId,
    /// Notifications the agent suppressed (rate limit), so far.
    pub suppressed: u32,
    /// ifIndex of the input and output, 0 when unknown.
    pub input: u32,
    pub output: u32,
    /// The drop-reason code.
    pub reason: u32,
    pub records: Elements<'a>,
}

impl<'a> DropNotification<'a> {
    pub fn parse(body: &'a [u8]) -> Result<DropNotification<'a>, SflowError> {
        let mut x = Xdr::new(body);
        let mut w = [0u32; 8];
        for v in &mut w {
            *v = x.u32().map_err(|_| SflowError::SampleTruncated)?;
        }
        Ok(DropNotification {
            sequence: w[0],
            source: SourceId { class: w[1], index: w[2] },
            suppressed: w[3],
            input: w[4],
            output: w[5],
            reason: w[6],
            records: x.elements(w[7]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_words() {
        assert_eq!(Interface::compact(7), Interface::Index(7));
        assert_eq!(Interface::compact(0x3fff_ffff), Interface::Internal);
        assert_eq!(Interface::compact(0x4000_0001), Interface::Discarded(1));
        assert_eq!(Interface::compact(0x8000_0007), Interface::Multiple(7));
        assert_eq!(Interface::compact(0xc000_0001), Interface::Index(0));
        assert_eq!(Interface::expanded(0, 1_285_816_721).if_index(), Some(1_285_816_721));
        assert_eq!(Interface::expanded(2, 0), Interface::Multiple(0));
        assert_eq!(Interface::expanded(0, u32::MAX), Interface::Internal);
        for i in [Interface::Index(0), Interface::Internal, Interface::Discarded(4), Interface::Multiple(3)] {
            assert_eq!(i.if_index(), None);
        }
    }

    fn words(w: &[u32]) -> Vec<u8> {
        w.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    #[test]
    fn compact_and_expanded_flow_samples_read_alike() {
        let compact = words(&[9, 0x0200_03e8, 512, 1000, 3, 2, 0x8000_0003, 0]);
        let s = FlowSample::parse(&compact, false).unwrap();
        assert_eq!(
            (s.sequence, s.source, s.rate, s.pool, s.drops),
            (9, SourceId { class: 2, index: 1000 }, 512, 1000, 3)
        );
        assert_eq!((s.input, s.output), (Interface::Index(2), Interface::Multiple(3)));
        let expanded = words(&[9, 2, 1000, 512, 1000, 3, 0, 2, 2, 3, 0]);
        let e = FlowSample::parse(&expanded, true).unwrap();
        assert_eq!((e.source, e.input, e.output), (s.source, s.input, s.output));
        assert_eq!(FlowSample::parse(&compact[..20], false).err(), Some(SflowError::SampleTruncated));
    }

    #[test]
    fn drop_notifications_carry_an_expanded_source() {
        let body = words(&[2, 0, 1, 256, 1, 2, 1, 0]);
        let d = DropNotification::parse(&body).unwrap();
        assert_eq!(
            (d.source, d.suppressed, d.input, d.output, d.reason),
            (SourceId { class: 0, index: 1 }, 256, 1, 2, 1)
        );
        assert!(DropNotification::parse(&body[..28]).is_err());
    }
}
