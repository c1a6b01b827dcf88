//! Template sets and data sets, shared by NetFlow v9 and IPFIX (they differ only in how a
//! template record is laid out and in the enterprise bit).

use crate::schema::FlowBuilders;
use crate::stats::ErrorReason;

use super::record::{self, Fields};
use super::state::{Scope, TemplateKey};
use super::template::{FieldSpec, Template};
use super::{Decoder, MsgContext, Outcome};
use super::{columnar, finalize};

/// Which template layout a set uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    V9,
    Ipfix,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads `count` field specifiers at `pos`; returns them and the position after them.
fn field_specs(dialect: Dialect, b: &[u8], mut pos: usize, count: usize) -> Option<(Vec<FieldSpec>, usize)> {
    // Each specifier takes at least 4 bytes: a count the set cannot hold is malformed, and
    // checking first keeps a hostile count from reserving memory.
    if count > (b.len().saturating_sub(pos)) / 4 {
        return None;
    }
    let mut fields = Vec::with_capacity(count);
    for _ in 0..count {
        let raw = be16(b, pos)?;
        let len = be16(b, pos + 2)?;
        pos += 4;
        let (id, pen) = if dialect == Dialect::Ipfix && raw & 0x8000 != 0 {
            let pen = be32(b, pos)?;
            pos += 4;
            (raw & 0x7FFF, pen)
        } else {
            (raw, 0)
        };
        fields.push(FieldSpec { id, len, pen });
    }
    Some((fields, pos))
}

/// Parses one template or options-template record at `pos`. `Ok(None)` is a withdrawal
/// (IPFIX) of the returned id; `Err(())` a malformed record.
fn template_record(
    dialect: Dialect,
    options: bool,
    b: &[u8],
    pos: usize,
) -> Result<(Option<Template>, u16, usize), ()> {
    let id = be16(b, pos).ok_or(())?;
    match (dialect, options) {
        (Dialect::V9, false) | (Dialect::Ipfix, false) | (Dialect::Ipfix, true) => {
            let count = be16(b, pos + 2).ok_or(())? as usize;
            if count == 0 && dialect == Dialect::Ipfix {
                return Ok((None, id, pos + 4));
            }
            let (scope, start) = if options { (be16(b, pos + 4).ok_or(())?, pos + 6) } else { (0, pos + 4) };
            if count == 0 || id < 256 || scope as usize > count {
                return Err(());
            }
            let (fields, end) = field_specs(dialect, b, start, count).ok_or(())?;
            Ok((Some(Template { id, scope_fields: scope, options, fields }), id, end))
        }
        (Dialect::V9, true) => {
            let scope_len = be16(b, pos + 2).ok_or(())? as usize;
            let opt_len = be16(b, pos + 4).ok_or(())? as usize;
            if id < 256
                || !scope_len.is_multiple_of(4)
                || !opt_len.is_multiple_of(4)
                || scope_len + opt_len == 0
            {
                return Err(());
            }
            let count = (scope_len + opt_len) / 4;
            let (fields, end) = field_specs(dialect, b, pos + 6, count).ok_or(())?;
            let t = Template { id, scope_fields: (scope_len / 4) as u16, options: true, fields };
            Ok((Some(t), id, end))
        }
    }
}

/// Handles a template set (or options template set): stores each template and decodes
/// data that was waiting for it. Returns the number of template records.
pub fn template_set(
    dec: &mut Decoder,
    dialect: Dialect,
    options: bool,
    scope: Scope,
    body: &[u8],
    out: &mut FlowBuilders,
    outcome: &mut Outcome,
) -> u32 {
    let mut pos = 0;
    let mut count = 0;
    // Anything shorter than a minimal record is set padding.
    while body.len().saturating_sub(pos) >= 4 {
        if body[pos..].iter().all(|&b| b == 0) {
            break;
        }
        match template_record(dialect, options, body, pos) {
            Ok((Some(t), id, end)) => {
                pos = end;
                count += 1;
                let key = TemplateKey { scope, id };
                dec.stats.templates_received += 1;
                match dec.state.insert_template(key, t) {
                    Ok(()) => release(dec, key, out, outcome),
                    Err(_) => dec.stats.error(ErrorReason::TemplateLimit),
                }
            }
            Ok((None, id, end)) => {
                pos = end;
                dec.stats.templates_withdrawn += 1;
                if id == 2 || id == 3 {
                    dec.state.withdraw_all(scope, id == 3);
                } else {
                    dec.state.withdraw(&TemplateKey { scope, id });
                }
            }
            Err(()) => {
                dec.stats.error(ErrorReason::BadTemplate);
                break;
            }
        }
    }
    count
}

/// Decodes the sets that were held for `key`.
fn release(dec: &mut Decoder, key: TemplateKey, out: &mut FlowBuilders, outcome: &mut Outcome) {
    for held in dec.pending.take(&key) {
        let before = outcome.records;
        data_set(dec, &held.ctx, key, &held.body, out, outcome);
        dec.stats.records_released += outcome.records - before;
    }
}

/// Decodes a data set; holds it when its template is unknown. Returns the number of data
/// records it held (flow and options), or `None` when the set was held.
pub fn data_set(
    dec: &mut Decoder,
    ctx: &MsgContext,
    key: TemplateKey,
    body: &[u8],
    out: &mut FlowBuilders,
    outcome: &mut Outcome,
) -> Option<u32> {
    let Decoder { state, stats, extras, config, pending, .. } = dec;
    let Some(plan) = state.plan(&key) else {
        let ev = pending.hold(key, *ctx, body);
        stats.sets_held += 1;
        stats.sets_evicted += ev.sets;
        return None;
    };
    if plan.min_len == 0 {
        stats.error(ErrorReason::ZeroLengthRecord);
        return Some(0);
    }
    if plan.is_options {
        let plan = plan.clone();
        return Some(options_set(dec, ctx, key.scope, &plan, body));
    }
    let set = finalize::SetContext::new(ctx, key.scope, state, config);
    if let Some(cp) = plan.columnar.as_ref().filter(|_| config.columnar) {
        let n = columnar::decode_set(cp, plan, body, &set, stats, out);
        outcome.records += n as u64;
        return Some(n as u32);
    }
    let mut pos = 0;
    let mut n = 0u32;
    while body.len() - pos >= plan.min_len {
        let mut f = Fields::default();
        extras.clear();
        match record::decode(plan, body, pos, &mut f, extras) {
            Ok(end) => {
                pos = end;
                n += 1;
                finalize::flow(&mut f, &set, state, stats);
                out.append(
                    &f.row,
                    extras
                        .iter()
                        .map(|e| (&*plan.keys[e.key as usize], &body[e.start as usize..e.end as usize])),
                );
                outcome.records += 1;
            }
            Err(_) => {
                if body[pos..].iter().any(|&b| b != 0) {
                    stats.error(ErrorReason::RecordTruncated);
                }
                break;
            }
        }
    }
    Some(n)
}

/// Options data: sampling rates, system init time and exporter-reported loss go into
/// decoder state; nothing goes to `flows`.
fn options_set(
    dec: &mut Decoder,
    ctx: &MsgContext,
    scope: Scope,
    plan: &super::template::Plan,
    body: &[u8],
) -> u32 {
    let mut pos = 0;
    let mut n = 0;
    while body.len() - pos >= plan.min_len {
        let mut f = Fields::default();
        dec.extras.clear();
        match record::decode(plan, body, pos, &mut f, &mut dec.extras) {
            Ok(end) => {
                pos = end;
                n += 1;
                dec.stats.options_records += 1;
                if let Some(factor) = f.sampling.factor() {
                    dec.state.set_sampling(scope, f.sampling.sampler_key(), factor);
                }
                if let Some(ms) = f.time.system_init_ms {
                    dec.state.set_system_init(scope, ms);
                }
                dec.note_not_sent(ctx.exporter, 0, f.not_sent_flows);
                dec.note_not_sent(ctx.exporter, 1, f.not_sent_packets);
                dec.note_not_sent(ctx.exporter, 2, f.not_sent_octets);
            }
            Err(_) => {
                if body[pos..].iter().any(|&b| b != 0) {
                    dec.stats.error(ErrorReason::RecordTruncated);
                }
                break;
            }
        }
    }
    n
}

/// The sets of a message body, in order. Stops at a zero-length or malformed set header
/// (reported once as an error), or at a set id that `is_boundary` says starts another
/// message; [`SetIter::consumed`] then tells where the next message begins.
pub struct SetIter<'a, B: Fn(u16) -> bool> {
    body: &'a [u8],
    pos: usize,
    is_boundary: B,
}

impl<'a, B: Fn(u16) -> bool> SetIter<'a, B> {
    pub fn new(body: &'a [u8], is_boundary: B) -> Self {
        Self { body, pos: 0, is_boundary }
    }

    /// Bytes of the body that belong to this message.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

impl<'a, B: Fn(u16) -> bool> Iterator for SetIter<'a, B> {
    type Item = Result<(u16, &'a [u8]), ErrorReason>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.body[self.pos..];
        if rest.len() < 4 {
            // Trailing padding shorter than a set header belongs to this message.
            self.pos = self.body.len();
            return None;
        }
        let id = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if (self.is_boundary)(id) {
            return None;
        }
        if len == 0 && rest.iter().all(|&b| b == 0) {
            // Zero fill after the last set (Palo Alto, Cisco ACI).
            self.pos = self.body.len();
            return None;
        }
        if len < 4 || len > rest.len() {
            self.pos = self.body.len();
            return Some(Err(ErrorReason::BadSetLength));
        }
        self.pos += len;
        Some(Ok((id, &rest[4..len])))
    }
}
