//! IPFIX messages (RFC 7011).

use crate::addr::Addr16;
use crate::netflow::stats::NetflowError;
use crate::schema::FlowBuilders;
use crate::source_kind::SourceKind;

use super::sets;
use crate::netflow::state::sequence::Counted;
use crate::netflow::state::{Scope, TemplateKey};
use crate::netflow::wire::sets::SetIter;
use crate::netflow::wire::template::Dialect;
use crate::netflow::{Decoder, MsgContext, Outcome};

const HEADER_LEN: usize = 16;

/// Decodes one IPFIX message at the start of `buf`; returns the bytes it spans.
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
    let declared = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    if declared < HEADER_LEN {
        dec.counts.error(NetflowError::BadLength);
        return buf.len();
    }
    let msg_len = if declared > buf.len() {
        // Cut short in transit: decode what arrived, count it.
        dec.counts.error(NetflowError::BadLength);
        buf.len()
    } else if declared < buf.len() && SourceKind::detect(&buf[declared..]).is_none() {
        // Bytes after the declared end that are not another message: exporters that get
        // the length wrong (telegraf issue 14370: 290 declared, a set ending at 292). The
        // sets' own lengths still bound everything; count it.
        dec.counts.error(NetflowError::BadLength);
        buf.len()
    } else {
        declared
    };
    let word = |at: usize| u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let (export_secs, seq, domain) = (word(4), word(8), word(12));
    let ctx = MsgContext {
        exporter,
        domain,
        kind: SourceKind::Ipfix,
        export_secs,
        export_micros: 0,
        sys_uptime_ms: None,
        received_us,
    };
    let scope = Scope { exporter, version: 10, domain };
    let (mut records, mut templates, mut resync) = (0u32, 0u32, false);
    let flows_before = outcome.records;
    for set in SetIter::new(&buf[HEADER_LEN..msg_len], |_| false) {
        match set {
            Ok((2, body)) => {
                templates += sets::template_set(dec, Dialect::Ipfix, false, scope, body, out, outcome)
            }
            Ok((3, body)) => {
                templates += sets::template_set(dec, Dialect::Ipfix, true, scope, body, out, outcome)
            }
            Ok((id, _)) if id < 256 => dec.counts.error(NetflowError::ReservedSet),
            Ok((id, body)) => {
                match sets::data_set(dec, &ctx, TemplateKey { scope, id }, body, out, outcome) {
                    Some(n) => records += n,
                    None => resync = true,
                }
            }
            Err(reason) => dec.counts.error(reason),
        }
    }
    let s = dec.seq.observe(
        exporter,
        10,
        domain,
        seq,
        Counted { units: records, flow_records: (outcome.records - flows_before) as u32, templates },
        resync,
    );
    outcome.lost += s.lost;
    dec.counts.shared.sequence_resets += s.reset as u64;
    msg_len
}
