//! `--rewrite-sequence`: every loop of a file after the first continues each exporter's
//! sequence numbers where the file left them and moves its export times on by the span of
//! the file, so a collector sees one long live stream (no loss, no restarts) instead of the
//! same minutes again and again.
//!
//! Only message headers are rewritten: NetFlow v5 and v9 (sequence, unix seconds; the
//! uptime stays, so flow times move with the export time) and IPFIX (sequence, export
//! time; times inside records that are absolute stay as they were).

use std::collections::HashMap;
use std::net::IpAddr;

use plumb_collector::addr::{self, Addr16};

/// Where a message's header keeps the fields a loop moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    version: u8,
    domain: u32,
    seq_at: usize,
    seq: u32,
    /// Unix seconds (v5, v9) or the export time (IPFIX).
    time_at: usize,
    time: u32,
}

/// Reads the header of a NetFlow v5/v9 or IPFIX message; `None` for anything else.
fn header(msg: &[u8]) -> Option<Header> {
    let be32 = |at: usize| msg.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match msg.get(..2)? {
        [0, 5] => {
            let engine = u16::from_be_bytes([*msg.get(20)?, *msg.get(21)?]) as u32;
            Some(Header {
                version: 5,
                domain: engine,
                seq_at: 16,
                seq: be32(16)?,
                time_at: 8,
                time: be32(8)?,
            })
        }
        [0, 9] => Some(Header {
            version: 9,
            domain: be32(16)?,
            seq_at: 12,
            seq: be32(12)?,
            time_at: 8,
            time: be32(8)?,
        }),
        [0, 10] => Some(Header {
            version: 10,
            domain: be32(12)?,
            seq_at: 8,
            seq: be32(8)?,
            time_at: 4,
            time: be32(4)?,
        }),
        _ => None,
    }
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
    pub fn new(datagrams: &[(IpAddr, Vec<u8>)], next: impl Fn(Addr16, u8, u32) -> Option<u32>) -> Rewriter {
        struct Span {
            first_seq: u32,
            last_seq: u32,
            min_time: u32,
            max_time: u32,
        }
        let headers: Vec<Option<(Addr16, Header)>> =
            datagrams.iter().map(|(src, m)| header(m).map(|h| (addr::from_ip(*src), h))).collect();
        let mut spans: HashMap<(Addr16, u8, u32), Span> = HashMap::new();
        for (exporter, h) in headers.iter().flatten() {
            let s = spans.entry((*exporter, h.version, h.domain)).or_insert(Span {
                first_seq: h.seq,
                last_seq: h.seq,
                min_time: h.time,
                max_time: h.time,
            });
            s.last_seq = h.seq;
            s.min_time = s.min_time.min(h.time);
            s.max_time = s.max_time.max(h.time);
        }
        let steps: HashMap<(Addr16, u8, u32), Step> = spans
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
        let plan =
            headers.into_iter().map(|h| h.map(|(e, h)| (h, steps[&(e, h.version, h.domain)]))).collect();
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
        let r = Rewriter::new(&file, |_, v, d| (v == 10 && d == 7).then_some(150));
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
        assert_eq!((h.version, h.domain, h.seq), (5, 258, 42));
        let mut v9 = vec![0u8; 20];
        v9[..2].copy_from_slice(&[0, 9]);
        v9[12..16].copy_from_slice(&9u32.to_be_bytes());
        v9[16..20].copy_from_slice(&3u32.to_be_bytes());
        let h = header(&v9).unwrap();
        assert_eq!((h.version, h.domain, h.seq), (9, 3, 9));
        assert_eq!(header(&v9[..15]), None);
    }
}
