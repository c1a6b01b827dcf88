//! IPFIX messages for generated flows, as an exporter would send them: one IPv4 and one
//! IPv6 template (resent every 16 messages, as softflowd does), data sets filled up to a
//! 1,400-byte datagram, the export time of each message at its newest flow's end, and
//! per-exporter sequence numbers counting data records.

use super::day::Flow;

pub const TEMPLATE_V4: u16 = 256;
pub const TEMPLATE_V6: u16 = 257;
const OBSERVATION_DOMAIN: u32 = 1;
const MAX_DATAGRAM: usize = 1_400;
const TEMPLATE_EVERY: u32 = 16;

/// (IE id, length) after the two addresses, the same in both templates.
const COMMON_FIELDS: &[(u16, u16)] =
    &[(7, 2), (11, 2), (4, 1), (6, 1), (5, 1), (1, 8), (2, 8), (152, 8), (153, 8), (10, 4), (14, 4)];

/// A template set holding one template of (IE id, length) fields.
pub fn template_set_of(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut set = Vec::with_capacity(8 + 4 * fields.len());
    set.extend(2u16.to_be_bytes());
    set.extend((8 + 4 * fields.len() as u16).to_be_bytes());
    set.extend(id.to_be_bytes());
    set.extend((fields.len() as u16).to_be_bytes());
    for (ie, len) in fields {
        set.extend(ie.to_be_bytes());
        set.extend(len.to_be_bytes());
    }
    set
}

/// An IPFIX message of `sets` (observation domain 1): `sequence` counts the data records
/// the exporter sent before it.
pub fn message_of(export_s: u32, sequence: u32, sets: &[&[u8]]) -> Vec<u8> {
    let len = 16 + sets.iter().map(|s| s.len()).sum::<usize>();
    let mut m = Vec::with_capacity(len);
    m.extend(10u16.to_be_bytes());
    m.extend((len as u16).to_be_bytes());
    for w in [export_s, sequence, OBSERVATION_DOMAIN] {
        m.extend(w.to_be_bytes());
    }
    for s in sets {
        m.extend(*s);
    }
    m
}

fn record_len(v6: bool) -> usize {
    let addr = if v6 { 32 } else { 8 };
    addr + COMMON_FIELDS.iter().map(|&(_, l)| l as usize).sum::<usize>()
}

/// The template set every few messages carry, built once.
fn template_set() -> &'static [u8] {
    static SET: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let mut body = Vec::new();
        for (id, (src, dst, len)) in [(TEMPLATE_V4, (8u16, 12u16, 4u16)), (TEMPLATE_V6, (27, 28, 16))] {
            body.extend(id.to_be_bytes());
            body.extend(((COMMON_FIELDS.len() + 2) as u16).to_be_bytes());
            for (ie, l) in [(src, len), (dst, len)].into_iter().chain(COMMON_FIELDS.iter().copied()) {
                body.extend(ie.to_be_bytes());
                body.extend(l.to_be_bytes());
            }
        }
        let mut set = Vec::with_capacity(body.len() + 4);
        set.extend(2u16.to_be_bytes());
        set.extend(((body.len() + 4) as u16).to_be_bytes());
        set.extend(body);
        set
    })
}

fn put_record(out: &mut Vec<u8>, f: &Flow) {
    let alen = if f.v6 { 16 } else { 4 };
    out.extend(&f.src[..alen]);
    out.extend(&f.dst[..alen]);
    out.extend(f.src_port.to_be_bytes());
    out.extend(f.dst_port.to_be_bytes());
    out.extend([f.protocol, f.tcp_flags, f.tos]);
    out.extend(f.bytes.to_be_bytes());
    out.extend(f.packets.to_be_bytes());
    out.extend(f.start_ms.to_be_bytes());
    out.extend(f.end_ms.to_be_bytes());
    out.extend(f.in_if.to_be_bytes());
    out.extend(f.out_if.to_be_bytes());
}

/// One exporter's message under construction.
#[derive(Default)]
pub struct Exporter {
    v4: Vec<u8>,
    v6: Vec<u8>,
    records: u32,
    newest_end_ms: u64,
    /// Data records sent before the message being built.
    sequence: u32,
    messages: u32,
}

impl Exporter {
    fn template_due(&self) -> bool {
        self.messages.is_multiple_of(TEMPLATE_EVERY)
    }

    fn size(&self) -> usize {
        let sets = [&self.v4, &self.v6].iter().filter(|s| !s.is_empty()).count() * 4;
        let template = if self.template_due() { template_set().len() } else { 0 };
        16 + template + sets + self.v4.len() + self.v6.len()
    }

    /// Adds a flow; returns a finished message when the flow would not have fitted.
    pub fn push(&mut self, f: &Flow) -> Option<Vec<u8>> {
        let grows =
            record_len(f.v6) + if (if f.v6 { &self.v6 } else { &self.v4 }).is_empty() { 4 } else { 0 };
        let done = (self.records > 0 && self.size() + grows > MAX_DATAGRAM).then(|| self.finish());
        put_record(if f.v6 { &mut self.v6 } else { &mut self.v4 }, f);
        self.records += 1;
        self.newest_end_ms = self.newest_end_ms.max(f.end_ms);
        done.flatten()
    }

    /// The message holding the flows pushed so far, if any.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.records == 0 {
            return None;
        }
        let len = self.size();
        let mut m = Vec::with_capacity(len);
        m.extend(10u16.to_be_bytes());
        m.extend((len as u16).to_be_bytes());
        m.extend((self.newest_end_ms.div_ceil(1000) as u32).to_be_bytes());
        m.extend(self.sequence.to_be_bytes());
        m.extend(OBSERVATION_DOMAIN.to_be_bytes());
        if self.template_due() {
            m.extend(template_set());
        }
        for (id, records) in [(TEMPLATE_V4, &mut self.v4), (TEMPLATE_V6, &mut self.v6)] {
            if !records.is_empty() {
                m.extend(id.to_be_bytes());
                m.extend(((records.len() + 4) as u16).to_be_bytes());
                m.append(records);
            }
        }
        debug_assert_eq!(m.len(), len);
        self.sequence = self.sequence.wrapping_add(self.records);
        self.records = 0;
        self.messages += 1;
        Some(m)
    }

    /// When the message being built will be exported (ms since the epoch).
    pub fn export_ms(&self) -> u64 {
        self.newest_end_ms.div_ceil(1000) * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumb_collector::netflow::{Decoder, DecoderConfig};
    use plumb_collector::schema::FlowBuilders;

    use crate::synth::day::Day;

    #[test]
    fn messages_decode_to_the_flows_that_went_in() {
        let flows: Vec<Flow> = Day::new(3, 2_000, 1, 1_740_960_000_000).collect();
        let mut e = Exporter::default();
        let mut messages: Vec<Vec<u8>> = flows.iter().filter_map(|f| e.push(f)).collect();
        messages.extend(e.finish());
        assert!(messages.iter().all(|m| m.len() <= MAX_DATAGRAM));
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut out = FlowBuilders::with_capacity(4_096);
        for m in &messages {
            let o = dec.decode(m, [0; 16], 1_740_990_000_000_000, &mut out);
            assert_eq!((o.errors, o.lost), (0, 0));
        }
        let batch = out.finish();
        assert_eq!(batch.num_rows(), flows.len());
        let bytes = batch.column_by_name("bytes").unwrap();
        let bytes = bytes.as_any().downcast_ref::<arrow::array::UInt64Array>().unwrap();
        assert_eq!(bytes.iter().flatten().sum::<u64>(), flows.iter().map(|f| f.bytes).sum::<u64>());
    }
}
