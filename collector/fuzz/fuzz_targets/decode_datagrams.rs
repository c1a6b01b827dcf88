//! One stateful decoder fed a sequence of datagrams cut from the fuzzer's input: the first
//! byte picks the exporter, the next two the length of each datagram. Templates learnt from
//! one datagram apply to the next, as on a real socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::schema::FlowBuilders;

fuzz_target!(|data: &[u8]| {
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut out = FlowBuilders::with_capacity(64);
    let mut rest = data;
    while rest.len() >= 3 {
        let exporter = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, rest[0] & 3];
        let len = (u16::from_be_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        dec.decode(&rest[3..3 + len], exporter, 0, &mut out);
        rest = &rest[3 + len..];
    }
    let batch = out.finish();
    assert_eq!(batch.num_columns(), plumb_collector::schema::FLOW_COLUMNS.len());
});
