//! The real vSphere Distributed Switch capture (ESXi 6.x): 13 templates and 5 data records
//! against the values of two independent decoders (corpus MANIFEST section B).

mod common;

use plumb_collector::netflow::{Decoder, DecoderConfig};

const DIR: &str = "logstash-codec-netflow/";
const FILES: [&str; 4] = [
    "ipfix_test_vmware_vds_tpl.dat",
    "ipfix_test_vmware_vds_data264.dat",
    "ipfix_test_vmware_vds_data266.dat",
    "ipfix_test_vmware_vds_data266_267.dat",
];

/// One golden record: where it is and the values both reference decoders agree on.
struct Golden {
    file: usize,
    row: usize,
    src: &'static str,
    dst: &'static str,
    sport: &'static str,
    dport: &'static str,
    proto: &'static str,
    octets: &'static str,
    packets: &'static str,
    in_if: &'static str,
    out_if: &'static str,
    flags: &'static str,
    /// flowStart = flowEnd (ms precision).
    time: &'static str,
}

const RECORDS: [Golden; 5] = [
    Golden {
        file: 1,
        row: 0,
        src: "172.18.65.21",
        dst: "172.18.65.211",
        sport: "61209",
        dport: "5985",
        proto: "6",
        octets: "100",
        packets: "2",
        in_if: "3",
        out_if: "11",
        flags: "2",
        time: "2016-12-22T12:17:37.000Z",
    },
    Golden {
        file: 2,
        row: 0,
        src: "172.18.65.91",
        dst: "172.18.65.255",
        sport: "138",
        dport: "138",
        proto: "17",
        octets: "229",
        packets: "1",
        in_if: "2",
        out_if: "10",
        flags: "0",
        time: "2016-12-22T12:17:42.000Z",
    },
    Golden {
        file: 2,
        row: 1,
        src: "172.18.65.91",
        dst: "172.18.65.255",
        sport: "138",
        dport: "138",
        proto: "17",
        octets: "229",
        packets: "1",
        in_if: "3",
        out_if: "11",
        flags: "0",
        time: "2016-12-22T12:17:42.000Z",
    },
    Golden {
        file: 3,
        row: 0,
        src: "172.18.65.21",
        dst: "224.0.0.252",
        sport: "61329",
        dport: "5355",
        proto: "17",
        octets: "104",
        packets: "2",
        in_if: "3",
        out_if: "11",
        flags: "0",
        time: "2016-12-22T12:25:49.000Z",
    },
    Golden {
        file: 3,
        row: 1,
        src: "fe80::5187:5cd8:d750:cdc9",
        dst: "ff02::1:3",
        sport: "61329",
        dport: "5355",
        proto: "17",
        octets: "144",
        packets: "2",
        in_if: "3",
        out_if: "11",
        flags: "0",
        time: "2016-12-22T12:25:49.000Z",
    },
];

fn paths() -> Vec<std::path::PathBuf> {
    FILES.iter().map(|f| common::public(&format!("{DIR}{f}"))).collect()
}

#[test]
fn vds_records_decode_to_the_golden_values() {
    let batches = common::decode_group(&paths());
    assert_eq!(batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), vec![0, 1, 2, 2]);
    for Golden { file, row, src, dst, sport, dport, proto, octets, packets, in_if, out_if, flags, time } in
        RECORDS
    {
        let b = &batches[file];
        let got = |c: &str| common::cell(b, c, row);
        let ctx = format!("{} record {row}", FILES[file]);
        assert_eq!(got("src_addr"), src, "{ctx}");
        assert_eq!(got("dst_addr"), dst, "{ctx}");
        assert_eq!(got("src_port"), sport, "{ctx}");
        assert_eq!(got("dst_port"), dport, "{ctx}");
        assert_eq!(got("protocol"), proto, "{ctx}");
        assert_eq!(got("bytes_reported"), octets, "{ctx}");
        assert_eq!(got("packets_reported"), packets, "{ctx}");
        assert_eq!(got("in_if"), in_if, "{ctx}");
        assert_eq!(got("out_if"), out_if, "{ctx}");
        assert_eq!(got("tcp_flags"), flags, "{ctx}");
        assert_eq!(got("flow_start"), time, "{ctx}");
        assert_eq!(got("flow_end"), time, "{ctx}");
        // Common to every record (MANIFEST B).
        assert_eq!(got("observation_domain"), "0", "{ctx}");
        assert_eq!(got("source_kind"), "ipfix", "{ctx}");
        assert_eq!(got("flow_direction"), "1", "{ctx}");
        assert_eq!(got("flow_end_reason"), "1", "{ctx}");
        assert_eq!(got("tos"), "0", "{ctx}");
        assert_eq!(got("layer2_segment_id"), "0", "{ctx}");
        assert_eq!(got("out_if_attr"), "2", "{ctx}");
        assert_eq!(got("vxlan_export_role"), "0", "{ctx}");
        assert_eq!(got("in_if_attr"), "1", "{ctx}");
        // No VNI: not tunnelled. The vDS never exports its sampling rate.
        assert_eq!(got("tunnel_type"), "", "{ctx}");
        assert_eq!(got("tunnel_key"), "", "{ctx}");
        assert_eq!(got("sampling_rate"), "", "{ctx}");
        assert_eq!(got("bytes"), octets, "{ctx}");
        // maximumTTL has no column; it is kept in `extra`.
        assert!(common::extra(b, "0/53", row).is_some(), "{ctx}");
    }
}

/// The vDS sent its data before its templates; held data decodes when they arrive.
#[test]
fn vds_data_before_templates_is_held_and_released() {
    let p = paths();
    let mut dec = Decoder::new(DecoderConfig::default());
    let early = common::decode_file(&mut dec, &p[1]);
    assert_eq!(early.num_rows(), 0);
    assert_eq!(dec.pending_sets(), 1);
    let released = common::decode_file(&mut dec, &p[0]);
    assert_eq!(released.num_rows(), 1);
    assert_eq!(common::cell(&released, "src_addr", 0), "172.18.65.21");
    assert_eq!(dec.pending_sets(), 0);
    assert_eq!(dec.stats.records_released, 1);
}

/// With the configured vDS rate (samplingRate 4095 → factor 4096) counts are scaled.
#[test]
fn vds_configured_sampling_scales_counts() {
    let mut cfg = DecoderConfig::default();
    cfg.sampling_overrides.insert(
        plumb_collector::addr::parse_text("127.0.0.1").unwrap(),
        plumb_collector::netflow::SamplingOverride { factor: 4096, force: false },
    );
    let mut dec = Decoder::new(cfg);
    let p = paths();
    common::decode_file(&mut dec, &p[0]);
    let b = common::decode_file(&mut dec, &p[1]);
    assert_eq!(common::cell(&b, "sampling_rate", 0), "4096");
    assert_eq!(common::cell(&b, "bytes", 0), "409600");
    assert_eq!(common::cell(&b, "bytes_reported", 0), "100");
    assert_eq!(dec.stats.records_config_sampling, 1);
}
