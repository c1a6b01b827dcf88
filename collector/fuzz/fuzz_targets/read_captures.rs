//! The fuzzer's input read as a capture file by both readers: the streaming one (pipes)
//! and the in-memory one `plumb ingest` uses on mapped files. Nothing may panic, and both
//! must hand out the same frames and agree on whether the file was readable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb_collector::pcap::{for_each_frame, for_each_frame_in};

fuzz_target!(|data: &[u8]| {
    let mut streamed = Vec::new();
    let a = for_each_frame(data, |f| streamed.push((f.ts_us, f.linktype, f.data.to_vec())));
    let mut mapped = Vec::new();
    let mut last = 0;
    let b = for_each_frame_in(
        data,
        |at| {
            assert!(at >= last && at <= data.len());
            last = at;
        },
        |f| mapped.push((f.ts_us, f.linktype, f.data.to_vec())),
    );
    assert_eq!(streamed, mapped);
    assert_eq!(a.is_ok(), b.is_ok(), "{a:?} vs {b:?}");
});
