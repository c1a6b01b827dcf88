//! One sFlow datagram from the fuzzer's input (the version word is forced to 5, so every
//! input reaches the sFlow decoder): no panic, one `flows` row per flow sample the decoder
//! counted, one `interface_counters` row per counter sample and one `drops` row per drop
//! notification, each batch finished against its table's schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::schema::{FlowBuilders, Table};

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
    let side = dec.finish_side_tables();
    let rows = |t: Table| side.iter().filter(|b| b.table == t).map(|b| b.rows() as u64).sum::<u64>();
    assert_eq!(rows(Table::InterfaceCounters), dec.stats.counter_samples);
    assert_eq!(rows(Table::Drops), dec.stats.drop_notifications);
    assert!(side.iter().all(|b| b.batch.schema() == b.table.schema()));
});
