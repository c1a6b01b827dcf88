//! `--rewrite-sequence`: every loop of a file after the first continues each exporter's
//! sequence numbers where the file left them and moves its export times on by the span of
//! the file, so a collector sees one long live stream (no loss, no restarts) instead of the
//! same minutes again and again.
//!
//! Only message headers are rewritten: NetFlow v5 and v9 (sequence, unix seconds; the
//! uptime stays, so flow times move with the export time), IPFIX (sequence, export
//! time; times inside records that are absolute stay as they were) and sFlow (sequence
//! per agent and sub-agent, uptime).

use std::collections::HashMap;
use std::net::IpAddr;

use plumb_collector::addr::{self, Addr16};
use plumb_collector::source_kind::SourceKind;

/// Where a message's header keeps the fields a loop moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    kind: SourceKind,
    /// Whose stream it is when the message says (an sFlow agent address), rather than
    /// the datagram's source.
    source: Option<Addr16>,
    domain: u32,
    seq_at: usize,
    seq: u32,
    /// Unix seconds (v5, v9), the export time (IPFIX) or the uptime in ms (sFlow).
    time_at: usize,
    time: u32,
}

/// The big-endian word at `at`, if the message is that long.
fn be32(msg: &[u8], at: usize) -> Option<u32> {
    msg.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads the header of a NetFlow v5/v9, IPFIX or sFlow message; `None` for anything else.
fn header(msg: &[u8]) -> Option<Header> {
    if msg.get(..4)? == [0, 0, 0, 5] {
        return sflow_header(msg);
    }
    let netflow = |kind, domain, seq_at, time_at| {
        Some(Header {
            kind,
            source: None,
            domain,
            seq_at,
            seq: be32(msg, seq_at)?,
            time_at,
            time: be32(msg, time_at)?,
        })
    };
    match msg.get(..2)? {
        [0, 5] => {
            let engine = u16::from_be_bytes([*msg.get(20)?, *msg.get(21)?]) as u32;
            netflow(SourceKind::NetflowV5, engine, 16, 8)
        }
        [0, 9] => netflow(SourceKind::NetflowV9, be32(msg, 16)?, 12, 8),
        [0, 10] => netflow(SourceKind::Ipfix, be32(msg, 12)?, 8, 4),
        _ => None,
    }
}

/// sFlow: version, agent address (type, 4 or 16 bytes), sub-agent, sequence, uptime.
fn sflow_header(msg: &[u8]) -> Option<Header> {
    let (agent, at) = match be32(msg, 4)? {
        1 => {
            let b = msg.get(8..12)?;
            (addr::from_v4_bytes([b[0], b[1], b[2], b[3]]), 12)
        }
        2 => (msg.get(8..24)?.try_into().ok()?, 24),
        _ => return None,
    };
    Some(Header {
        kind: SourceKind::Sflow,
        source: Some(agent),
        domain: be32(msg, at)?,
        seq_at: at + 4,
        seq: be32(msg, at + 4)?,
        time_at: at + 8,
        time: be32(msg, at + 8)?,
    })
}

/// How far one loop moves a stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Step {
    seq: u32,
    secs: u32,
}

/// The per-message rewrites of a file.
pub struct Rewriter {
    /// Per datagram: its header and the step of its stream.
    plan: Vec<Option<(Header, Step)>>,
}

impl Rewriter {
    /// `next` gives the sequence number a decoder expects after the whole file, per
    /// (exporter, version, domain): the distance from the stream's first number is its step.
    pub fn new(
        datagrams: &[(IpAddr, Vec<u8>)],
        next: impl Fn(Addr16, SourceKind, u32) -> Option<u32>,
    ) -> Rewriter {
        struct Span {
            first_seq: u32,
            last_seq: u32,
            min_time: u32,
            max_time: u32,
        }
        let headers: Vec<Option<(Addr16, Header)>> = datagrams
            .iter()
            .map(|(src, m)| header(m).map(|h| (h.source.unwrap_or(addr::from_ip(*src)), h)))
            .collect();
        let mut spans: HashMap<(Addr16, SourceKind, u32), Span> = HashMap::new();
        for (exporter, h) in headers.iter().flatten() {
            let s = spans.entry((*exporter, h.kind, h.domain)).or_insert(Span {
                first_seq: h.seq,
                last_seq: h.seq,
                min_time: h.time,
                max_time: h.time,
            });
            s.last_seq = h.seq;
            s.min_time = s.min_time.min(h.time);
            s.max_time = s.max_time.max(h.time);
        }
        let steps: HashMap<(Addr16, SourceKind, u32), Step> = spans
            .iter()
            .map(|(&(e, v, d), s)| {
                // Without a decoder's word (a stream it could not count), one more than the
                // file's own range keeps numbers from repeating.
                let end = next(e, v, d).unwrap_or(s.last_seq.wrapping_add(1));
                (
                    (e, v, d),
                    Step {
                        seq: end.wrapping_sub(s.first_seq),
                        secs: s.max_time.wrapping_sub(s.min_time).max(1),
                    },
                )
            })
            .collect();
        let plan = headers.into_iter().map(|h| h.map(|(e, h)| (h, steps[&(e, h.kind, h.domain)]))).collect();
        Rewriter { plan }
    }

    /// Datagram `i` as loop `round` (0 is the file as it is) sends it, built in `buf`.
    pub fn apply<'a>(&self, i: usize, round: u64, msg: &'a [u8], buf: &'a mut Vec<u8>) -> &'a [u8] {
        let Some((h, step)) = self.plan.get(i).copied().flatten() else { return msg };
        if round == 0 {
            return msg;
        }
        let k = round as u32;
        buf.clear();
        buf.extend_from_slice(msg);
        let put = |buf: &mut Vec<u8>, at: usize, v: u32| buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
        put(buf, h.seq_at, h.seq.wrapping_add(step.seq.wrapping_mul(k)));
        put(buf, h.time_at, h.time.wrapping_add(step.secs.wrapping_mul(k)));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipfix(seq: u32, time: u32) -> Vec<u8> {
        let mut m = vec![0, 10, 0, 16];
        m.extend(time.to_be_bytes());
        m.extend(seq.to_be_bytes());
        m.extend(7u32.to_be_bytes());
        m
    }

    #[test]
    fn each_loop_continues_the_sequence_and_the_clock() {
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let file = vec![(src, ipfix(100, 1000)), (src, ipfix(130, 1010)), (src, b"junk".to_vec())];
        // The decoder says the message at 130 carried 20 records: 150 comes next.
        let r = Rewriter::new(&file, |_, k, d| (k == SourceKind::Ipfix && d == 7).then_some(150));
        let mut buf = Vec::new();
        assert_eq!(r.apply(0, 0, &file[0].1, &mut buf), &file[0].1[..]);
        assert_eq!(r.apply(0, 1, &file[0].1, &mut buf), &ipfix(150, 1010)[..]);
        assert_eq!(r.apply(1, 2, &file[1].1, &mut buf), &ipfix(230, 1030)[..]);
        assert_eq!(r.apply(2, 5, &file[2].1, &mut buf), b"junk");
    }

    #[test]
    fn v5_and_v9_headers() {
        let mut v5 = vec![0u8; 24];
        v5[..2].copy_from_slice(&[0, 5]);
        v5[16..20].copy_from_slice(&42u32.to_be_bytes());
        v5[20..22].copy_from_slice(&[1, 2]);
        let h = header(&v5).unwrap();
        assert_eq!((h.kind, h.domain, h.seq), (SourceKind::NetflowV5, 258, 42));
        let mut v9 = vec![0u8; 20];
        v9[..2].copy_from_slice(&[0, 9]);
        v9[12..16].copy_from_slice(&9u32.to_be_bytes());
        v9[16..20].copy_from_slice(&3u32.to_be_bytes());
        let h = header(&v9).unwrap();
        assert_eq!((h.kind, h.domain, h.seq), (SourceKind::NetflowV9, 3, 9));
        assert_eq!(header(&v9[..15]), None);
    }

    #[test]
    fn sflow_headers_name_their_agent() {
        let mut v4 = vec![0, 0, 0, 5, 0, 0, 0, 1, 10, 0, 0, 1];
        for w in [7u32, 41, 5000, 0] {
            v4.extend(w.to_be_bytes());
        }
        let h = header(&v4).unwrap();
        assert_eq!(
            (h.kind, h.source, h.domain, h.seq, h.time),
            (SourceKind::Sflow, Some(addr::from_v4_bytes([10, 0, 0, 1])), 7, 41, 5000)
        );
        assert_eq!((h.seq_at, h.time_at), (16, 20));
        let mut v6 = vec![0, 0, 0, 5, 0, 0, 0, 2];
        v6.extend([0x20; 16]);
        v6.extend([0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0]);
        assert_eq!(header(&v6).map(|h| (h.domain, h.seq_at, h.seq)), Some((1, 28, 9)));
        assert_eq!(header(&v6[..30]), None);
    }
}
