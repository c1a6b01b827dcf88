//! What a message header says that every record of the message shares.

use crate::addr::Addr16;
use crate::schema::FlowRow;
use crate::source_kind::SourceKind;

/// The header facts every record of a message shares.
#[derive(Clone, Copy, Debug)]
pub struct MsgContext {
    pub exporter: Addr16,
    pub domain: u32,
    pub kind: SourceKind,
    /// Export time from the header, seconds since the epoch.
    pub export_secs: u32,
    /// Sub-second part of the export time in µs (v5 only).
    pub export_micros: u32,
    /// The exporter's uptime at export (v5/v9), for sysUptime-relative times.
    pub sys_uptime_ms: Option<u32>,
    /// When plumb received the datagram, µs since the epoch.
    pub received_us: i64,
}

impl MsgContext {
    pub fn export_us(&self) -> i64 {
        self.export_secs as i64 * 1_000_000 + self.export_micros as i64
    }

    /// Sets the columns every row of the message shares.
    #[inline]
    pub fn fill_row(&self, row: &mut FlowRow<'_>) {
        row.time_received = Some(self.received_us);
        row.time_exported = Some(self.export_us());
        row.exporter = Some(self.exporter);
        row.observation_domain = Some(self.domain);
        row.source_kind = Some(self.kind.as_str());
    }
}
