//! What the sFlow decoder counts: its errors by its own reasons, handed over in the shared
//! [`DecodeStats`] form so the metrics never need to know this decoder.

use crate::source_kind::SourceKind;
use crate::stats::{DecodeStats, ErrorLabel};

/// Why part of an sFlow datagram could not be read. Each stops only the piece it is in:
/// a bad record loses that record, a bad sample that sample, a bad datagram header the
/// datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SflowError {
    /// The datagram header ends before its fields do.
    Truncated,
    /// An address type other than 0 (unknown), 1 (IPv4) or 2 (IPv6).
    BadAddressType,
    /// A sample or record claims more bytes than the datagram or sample holds, or more
    /// elements than fit: the list is cut after the last whole one.
    BadLength,
    /// A sample shorter than its fixed fields.
    SampleTruncated,
    /// A record of a known format shorter than its fixed fields.
    RecordTruncated,
    /// Bytes other than zero padding after the last sample the header announced.
    TrailingBytes,
}

impl SflowError {
    pub const ALL: [SflowError; 6] = [
        Self::Truncated,
        Self::BadAddressType,
        Self::BadLength,
        Self::SampleTruncated,
        Self::RecordTruncated,
        Self::TrailingBytes,
    ];

    /// The `reason` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadAddressType => "bad_address_type",
            Self::BadLength => "bad_length",
            Self::SampleTruncated => "sample_truncated",
            Self::RecordTruncated => "record_truncated",
            Self::TrailingBytes => "trailing_bytes",
        }
    }
}

/// Counters of the datagram being decoded.
#[derive(Clone, Debug, Default)]
pub struct SflowStats {
    errors: [u64; SflowError::ALL.len()],
    pub shared: DecodeStats,
}

impl SflowStats {
    #[inline]
    pub fn error(&mut self, e: SflowError) {
        self.errors[e as usize] += 1;
    }

    /// Moves the counts into `into`, labelled `sflow`.
    pub fn drain_into(&mut self, into: &mut DecodeStats) {
        let s = std::mem::take(self);
        for e in SflowError::ALL {
            into.errors.add(
                ErrorLabel { protocol: SourceKind::Sflow.as_str(), reason: e.as_str() },
                s.errors[e as usize],
            );
        }
        into.merge(&s.shared);
    }
}

/// Every error label this decoder can report, so the metrics can show each at zero.
pub fn error_labels() -> impl Iterator<Item = ErrorLabel> {
    SflowError::ALL
        .into_iter()
        .map(|e| ErrorLabel { protocol: SourceKind::Sflow.as_str(), reason: e.as_str() })
}
