//! Two stateful decoders fed the same sequence of datagrams cut from the fuzzer's input
//! (the first byte of each picks the exporter, the next two its length), one with
//! column-first decoding and one with the row path only: neither may panic, and both must
//! give the same batch. Templates learnt from one datagram apply to the next, as on a
//! real socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::schema::FlowBuilders;

fn decode_all(data: &[u8], columnar: bool) -> arrow::array::RecordBatch {
    let mut dec = Decoder::new(DecoderConfig { columnar, ..Default::default() });
    let mut out = FlowBuilders::with_capacity(64);
    let mut rest = data;
    while rest.len() >= 3 {
        let exporter = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, rest[0] & 3];
        let len = (u16::from_be_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        dec.decode(&rest[3..3 + len], exporter, 0, &mut out);
        rest = &rest[3 + len..];
    }
    out.finish()
}

fuzz_target!(|data: &[u8]| {
    let columns = decode_all(data, true);
    assert_eq!(columns.num_columns(), plumb_collector::schema::FLOW_COLUMNS.len());
    assert_eq!(columns, decode_all(data, false), "column-first and row decoding differ");
});
