//! One sFlow datagram from the fuzzer's input (the version word is forced to 5, so every
//! input reaches the sFlow decoder): no panic, at most one row per flow sample the decoder
//! counted, and an error or a skipped element counted whenever a sample was not read whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::schema::FlowBuilders;

fuzz_target!(|data: &[u8]| {
    let mut datagram = vec![0, 0, 0, 5];
    datagram.extend(data.get(4..).unwrap_or_default());
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut out = FlowBuilders::with_capacity(64);
    let outcome = dec.decode(&datagram, [0; 16], 0, &mut out);
    assert_eq!(outcome.records, dec.stats.flow_samples);
    assert_eq!(out.len() as u64, outcome.records);
    let batch = out.finish();
    assert_eq!(batch.num_rows() as u64, outcome.records);
});
