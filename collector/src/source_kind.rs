//! The protocols plumb tells apart, and the `source_kind` column's values.

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
