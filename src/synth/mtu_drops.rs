//! Devices reporting MTU drops, for pipeline tests of the analyzer: an sFlow agent that
//! sends dropped-packet notifications with reason 262 (`pkt_too_big`) for 1500-byte DF TCP
//! packets, and an IPFIX exporter whose records carry forwardingStatus 133 (dropped:
//! fragmentation needed and DF set). `plumb generate --scenario mtu-drops` writes them as
//! a capture for `plumb replay` or `plumb ingest`.

use std::net::Ipv4Addr;

use plumb_collector::sflow::drop_reason::{PKT_TOO_BIG, forwarding_status};

use super::{ipfix, put_words};

/// The sFlow agent and the IPFIX exporter.
pub const SFLOW_AGENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 21);
pub const IPFIX_EXPORTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 22);
const TEMPLATE: u16 = 256;

/// The first 128 bytes of a 1500-byte DF TCP segment from 10.0.0.1 to 10.0.0.2:443.
fn dropped_frame() -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend([0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend([0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    f.resize(128, 0);
    f
}

/// An sFlow v5 datagram (sequence `sequence`) with one dropped-packet notification
/// (format 5: expanded source id, `suppressed`, interfaces 3 → 4, the reason, and the
/// packet's header as a sampled-header record).
pub fn sflow_drop(sequence: u32, suppressed: u32) -> Vec<u8> {
    let frame = dropped_frame();
    let mut record = Vec::new();
    put_words(&mut record, &[1, 1518, 4, frame.len() as u32]);
    record.extend(&frame);
    let mut body = Vec::new();
    put_words(&mut body, &[sequence, 0, 3, suppressed, 3, 4, PKT_TOO_BIG, 1, 1, record.len() as u32]);
    body.extend(&record);
    let mut d = Vec::new();
    let agent = u32::from(SFLOW_AGENT);
    put_words(&mut d, &[5, 1, agent, 0, sequence, 60_000 + sequence, 1, 5, body.len() as u32]);
    d.extend(&body);
    d
}

/// An IPFIX message (`sequence` counts records before it) with the template and one record
/// of 10 packets from 10.0.0.1 to 10.0.0.2 dropped towards interface 4, exported at `now_s`.
pub fn ipfix_drop(sequence: u32, now_s: u32) -> Vec<u8> {
    let fields: [(u16, u16); 6] = [(8, 4), (12, 4), (1, 8), (2, 8), (89, 1), (14, 4)];
    let set = ipfix::template_set_of(TEMPLATE, &fields);
    let mut data = Vec::new();
    data.extend(TEMPLATE.to_be_bytes());
    data.extend(33u16.to_be_bytes());
    data.extend([10, 0, 0, 1, 10, 0, 0, 2]);
    data.extend(15_000u64.to_be_bytes());
    data.extend(10u64.to_be_bytes());
    // forwardingStatus 133: dropped, fragmentation needed and DF set.
    data.push(forwarding_status(PKT_TOO_BIG));
    data.extend(4u32.to_be_bytes());
    ipfix::message_of(now_s, sequence, &[&set, &data])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_have_the_lengths_they_declare() {
        let m = ipfix_drop(0, 1_700_000_000);
        assert_eq!(u16::from_be_bytes([m[2], m[3]]) as usize, m.len());
        let d = sflow_drop(1, 0);
        // version 5, IPv4 agent, one sample of format 5 whose length is the rest.
        assert_eq!(&d[..8], &[0, 0, 0, 5, 0, 0, 0, 1]);
        assert_eq!(u32::from_be_bytes([d[32], d[33], d[34], d[35]]) as usize, d.len() - 36);
    }
}
