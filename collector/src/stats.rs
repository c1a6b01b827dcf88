//! Counters the decoders keep while they work. Plain integers owned by one worker; the
//! metrics layer adds them to the shared registry per batch, so the hot path touches no
//! atomics.

/// Why (part of) a datagram could not be decoded. Each is a `reason` label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorReason {
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

impl ErrorReason {
    pub const ALL: [ErrorReason; 12] = [
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

/// Decoder counters since the last [`DecodeStats::take`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub errors: [u64; ErrorReason::ALL.len()],
    /// Data sets held because their template was unknown.
    pub sets_held: u64,
    /// Held sets dropped to stay within the buffer bound (their records are lost).
    pub sets_evicted: u64,
    /// Held records decoded once their template arrived.
    pub records_released: u64,
    /// Flow records stored with an unknown sampling rate (null `sampling_rate`).
    pub records_unknown_sampling: u64,
    /// Flow records whose rate came from the configuration.
    pub records_config_sampling: u64,
    /// Template records received (data and options).
    pub templates_received: u64,
    pub templates_withdrawn: u64,
    /// Options data records received.
    pub options_records: u64,
    /// Sequence resets (exporter restarts, reordering).
    pub sequence_resets: u64,
}

impl DecodeStats {
    #[inline]
    pub fn error(&mut self, r: ErrorReason) {
        self.errors[r as usize] += 1;
    }

    pub fn error_count(&self, r: ErrorReason) -> u64 {
        self.errors[r as usize]
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Returns the counters and resets them.
    pub fn take(&mut self) -> DecodeStats {
        std::mem::take(self)
    }
}

/// The protocols plumb tells apart by their version field (`source_kind` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    NetflowV5,
    NetflowV7,
    NetflowV9,
    Ipfix,
    Sflow,
    Pcap,
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] =
        [Self::NetflowV5, Self::NetflowV7, Self::NetflowV9, Self::Ipfix, Self::Sflow, Self::Pcap];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NetflowV5 => "netflow_v5",
            Self::NetflowV7 => "netflow_v7",
            Self::NetflowV9 => "netflow_v9",
            Self::Ipfix => "ipfix",
            Self::Sflow => "sflow",
            Self::Pcap => "pcap",
        }
    }

    /// Tells the protocol of a datagram from its first bytes.
    pub fn detect(buf: &[u8]) -> Option<SourceKind> {
        match buf {
            [0, 0, 0, 5, ..] => Some(Self::Sflow),
            [0, 5, ..] => Some(Self::NetflowV5),
            [0, 7, ..] => Some(Self::NetflowV7),
            [0, 9, ..] => Some(Self::NetflowV9),
            [0, 10, ..] => Some(Self::Ipfix),
            _ => None,
        }
    }
}
