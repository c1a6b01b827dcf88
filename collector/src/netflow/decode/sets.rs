//! Template sets and data sets, shared by NetFlow v9 and IPFIX (they differ only in how a
//! template record is laid out and in the enterprise bit).

use crate::netflow::stats::NetflowError;
use crate::schema::FlowBuilders;

use super::record::{self, Fields};
use super::{columnar, finalize};
use crate::netflow::plan::record_plan::RecordPlan;
use crate::netflow::state::{Scope, TemplateKey};
use crate::netflow::wire::template::{Dialect, template_record};
use crate::netflow::{Decoder, MsgContext, Outcome};

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
                dec.counts.shared.templates_received += 1;
                match dec.state.insert_template(key, t) {
                    Ok(()) => release(dec, key, out, outcome),
                    Err(_) => dec.counts.error(NetflowError::TemplateLimit),
                }
            }
            Ok((None, id, end)) => {
                pos = end;
                dec.counts.shared.templates_withdrawn += 1;
                if id == 2 || id == 3 {
                    dec.state.withdraw_all(scope, id == 3);
                } else {
                    dec.state.withdraw(&TemplateKey { scope, id });
                }
            }
            Err(()) => {
                dec.counts.error(NetflowError::BadTemplate);
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
        dec.counts.shared.records_released += outcome.records - before;
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
    let Decoder { state, counts: stats, extras, config, pending, .. } = dec;
    let Some(plan) = state.plan(&key) else {
        let ev = pending.hold(key, *ctx, body);
        stats.shared.sets_held += 1;
        stats.shared.sets_evicted += ev.sets;
        return None;
    };
    if plan.min_len == 0 {
        stats.error(NetflowError::ZeroLengthRecord);
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
                    stats.error(NetflowError::RecordTruncated);
                }
                break;
            }
        }
    }
    Some(n)
}

/// Options data: sampling rates, system init time and exporter-reported loss go into
/// decoder state; nothing goes to `flows`.
fn options_set(dec: &mut Decoder, ctx: &MsgContext, scope: Scope, plan: &RecordPlan, body: &[u8]) -> u32 {
    let mut pos = 0;
    let mut n = 0;
    while body.len() - pos >= plan.min_len {
        let mut f = Fields::default();
        dec.extras.clear();
        match record::decode(plan, body, pos, &mut f, &mut dec.extras) {
            Ok(end) => {
                pos = end;
                n += 1;
                dec.counts.shared.options_records += 1;
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
                    dec.counts.error(NetflowError::RecordTruncated);
                }
                break;
            }
        }
    }
    n
}
