//! Frames cut from the fuzzer's input (a byte picking the link type, two of length, the
//! frame) walked by the packet layer and counted into a small flow table, with timestamps
//! that move on and sometimes back: nothing may panic, a dissection stays within its bounds
//! and the frame, and every flow the table made comes out as one row, plus one per active timeout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb_collector::packet::dissect::{Dissection, Dissector, MAX_IPS, MAX_TUNNELS};
use plumb_collector::pcap::{FlowTable, TableConfig};
use plumb_collector::schema::FlowBuilders;

const LINKTYPES: [i32; 8] = [1, 101, 113, 276, 0, 108, 228, 229];

fuzz_target!(|data: &[u8]| {
    let dissector = Dissector::default();
    let mut d = Dissection::default();
    let cfg = TableConfig { idle_us: 2_000, active_us: 5_000, max_flows: 16 };
    let mut table = FlowTable::new(cfg, [0; 16]);
    let mut out = FlowBuilders::with_capacity(64);
    let (mut rest, mut ts) = (data, 0i64);
    while rest.len() >= 3 {
        let linktype = LINKTYPES[(rest[0] & 7) as usize];
        ts += (rest[0] >> 3) as i64 * 500 - 2_000;
        let len = (u16::from_be_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let frame = &rest[3..3 + len];
        dissector.dissect(linktype, frame, &mut d);
        assert!(d.ips().len() <= MAX_IPS && d.tunnels().len() <= MAX_TUNNELS);
        assert!(d.payload(frame).len() <= frame.len());
        table.add(&d, ts, &mut out);
        if out.len() >= 64 {
            out.finish();
        }
        rest = &rest[3 + len..];
    }
    table.flush(&mut out);
    assert!(table.is_empty());
    // A flow past its active timeout writes a row and goes on: one row more than created.
    assert_eq!(table.stats.flows_created + table.stats.ended_active, table.stats.rows());
});
