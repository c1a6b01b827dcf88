//! The NetFlow/IPFIX decoder's own counters: plain integers bumped on the hot path, handed
//! over as protocol-neutral [`DecodeStats`] after each message, with the message's
//! protocol as the errors' label.

use crate::source_kind::SourceKind;
use crate::stats::{DecodeStats, ErrorLabel, UNKNOWN_PROTOCOL};

/// Why (part of) a NetFlow or IPFIX datagram could not be decoded. Each is a `reason`
/// label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetflowError {
    /// Shorter than its header.
    Truncated,
    /// The version field names no supported protocol.
    UnknownVersion,
    /// A message length that disagrees with the bytes received.
    BadLength,
    /// A set/flowset length that is too short or runs past the message.
    BadSetLength,
    /// A template record that is cut short or malformed.
    BadTemplate,
    /// A data record cut short inside its set.
    RecordTruncated,
    /// A template whose records are zero bytes long (nothing can be decoded with it).
    ZeroLengthRecord,
    /// The template table is full.
    TemplateLimit,
    /// A set id in the reserved range.
    ReservedSet,
    /// A NetFlow v5/v7 packet whose count disagrees with its length.
    BadV5,
    /// Bytes after the last message that are not another message.
    TrailingBytes,
    /// A protocol plumb recognises but does not decode yet.
    Unsupported,
}

impl NetflowError {
    pub const ALL: [NetflowError; 12] = [
        Self::Truncated,
        Self::UnknownVersion,
        Self::BadLength,
        Self::BadSetLength,
        Self::BadTemplate,
        Self::RecordTruncated,
        Self::ZeroLengthRecord,
        Self::TemplateLimit,
        Self::ReservedSet,
        Self::BadV5,
        Self::TrailingBytes,
        Self::Unsupported,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::UnknownVersion => "unknown_version",
            Self::BadLength => "bad_length",
            Self::BadSetLength => "bad_set_length",
            Self::BadTemplate => "bad_template",
            Self::RecordTruncated => "record_truncated",
            Self::ZeroLengthRecord => "zero_length_record",
            Self::TemplateLimit => "template_limit",
            Self::ReservedSet => "reserved_set",
            Self::BadV5 => "bad_v5",
            Self::TrailingBytes => "trailing_bytes",
            Self::Unsupported => "unsupported",
        }
    }
}

/// Counters of the message being decoded: the errors by netflow's own reasons, the rest
/// in the shared form.
#[derive(Clone, Debug, Default)]
pub struct NetflowStats {
    errors: [u64; NetflowError::ALL.len()],
    /// Counters every template or sampling protocol keeps (its `errors` stay empty).
    pub shared: DecodeStats,
}

impl NetflowStats {
    #[inline]
    pub fn error(&mut self, e: NetflowError) {
        self.errors[e as usize] += 1;
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Moves the counts into `into`, errors labelled with the message's protocol.
    pub fn drain_into(&mut self, kind: Option<SourceKind>, into: &mut DecodeStats) {
        let protocol = kind.map_or(UNKNOWN_PROTOCOL, SourceKind::as_str);
        let s = std::mem::take(self);
        for e in NetflowError::ALL {
            into.errors.add(ErrorLabel { protocol, reason: e.as_str() }, s.errors[e as usize]);
        }
        into.merge(&s.shared);
    }
}

/// Every error label this decoder can report, so the metrics can show each at zero.
pub fn error_labels() -> impl Iterator<Item = ErrorLabel> {
    let protocols = [SourceKind::NetflowV5, SourceKind::NetflowV7, SourceKind::NetflowV9, SourceKind::Ipfix];
    protocols.into_iter().flat_map(|k| {
        NetflowError::ALL.into_iter().map(move |e| ErrorLabel { protocol: k.as_str(), reason: e.as_str() })
    })
}
