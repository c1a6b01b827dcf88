//! NetFlow v9 packets (RFC 3954).
//!
//! The header's record count is not trusted to find the end: softflowd leaves template
//! records out of it, so a decoder that stops at the count loses the sets after them.

use crate::addr::Addr16;
use crate::netflow::stats::NetflowError;
use crate::schema::FlowBuilders;
use crate::source_kind::SourceKind;

use super::sets;
use crate::netflow::state::sequence::Counted;
use crate::netflow::state::{Scope, TemplateKey};
use crate::netflow::wire::sets::{SetIter, starts_v9_message};
use crate::netflow::wire::template::Dialect;
use crate::netflow::{Decoder, MsgContext, Outcome};

const HEADER_LEN: usize = 20;

/// Decodes one v9 packet at the start of `buf`; returns the bytes it spans.
pub fn decode(
    dec: &mut Decoder,
    buf: &[u8],
    exporter: Addr16,
    received_us: i64,
    out: &mut FlowBuilders,
    outcome: &mut Outcome,
) -> usize {
    if buf.len() < HEADER_LEN {
        dec.counts.error(NetflowError::Truncated);
        return buf.len();
    }
    let word = |at: usize| u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let (uptime, export_secs, seq, source_id) = (word(4), word(8), word(12), word(16));
    let ctx = MsgContext {
        exporter,
        domain: source_id,
        kind: SourceKind::NetflowV9,
        export_secs,
        export_micros: 0,
        sys_uptime_ms: Some(uptime),
        received_us,
    };
    let scope = Scope { exporter, version: 9, domain: source_id };
    let mut resync = false;
    let mut iter = SetIter::new(&buf[HEADER_LEN..], starts_v9_message);
    for set in iter.by_ref() {
        match set {
            Ok((0, body)) => {
                sets::template_set(dec, Dialect::V9, false, scope, body, out, outcome);
            }
            Ok((1, body)) => {
                sets::template_set(dec, Dialect::V9, true, scope, body, out, outcome);
            }
            Ok((id, _)) if id < 256 => dec.counts.error(NetflowError::ReservedSet),
            Ok((id, body)) => {
                if sets::data_set(dec, &ctx, TemplateKey { scope, id }, body, out, outcome).is_none() {
                    resync = true;
                }
            }
            Err(reason) => dec.counts.error(reason),
        }
    }
    let s = dec.seq.observe(exporter, 9, source_id, seq, Counted::units(1), resync);
    outcome.lost += s.lost;
    dec.counts.shared.sequence_resets += s.reset as u64;
    HEADER_LEN + iter.consumed()
}
