//! sFlow v5 against references outside plumb: the sample-by-sample decode of the Open
//! vSwitch capture (`fixtures/ovs/sflow-samples.txt`, written from the wire with
//! sflowtool's layouts), the akvorado golden of an expanded flow sample
//! (`tcpdump/sflow_expanded.pcap`, MANIFEST §C.2), and every sFlow file of the corpus for
//! its sample counts and errors. Telegraf's sFlow cases are in `goldens_telegraf.rs`.

mod common;

use plumb_collector::addr;
use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::schema::FlowBuilders;

/// The value after `key=` in a line of the OVS decode, up to `,` `)` or a space.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[at..];
    Some(&rest[..rest.find([',', ')', ' ']).unwrap_or(rest.len())])
}

fn number(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

/// The `in_if`/`out_if` text of an interface word: ifIndex 0, discarded, multiple and
/// internal leave the column empty.
fn interface_column(word: u64) -> String {
    if word >> 30 != 0 || word == 0 || word == 0x3fff_ffff { String::new() } else { word.to_string() }
}

/// Adds a line for every (column, wanted text) of sample `i` that `got` does not give.
fn compare(
    failures: &mut Vec<String>,
    i: usize,
    line: &str,
    want: Vec<(&str, String)>,
    got: impl Fn(&str) -> String,
) {
    for (col, w) in want {
        if got(col) != w {
            failures.push(format!("sample {i} ({line}): {col} = {:?}, want {w:?}", got(col)));
        }
    }
}

fn assert_no_mismatches(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

#[test]
fn open_vswitch_samples_decode_as_the_wire_says() {
    let mut dec = Decoder::new(DecoderConfig::default());
    let batch = common::decode_file(&mut dec, &common::ovs("ovs-export.pcap"));
    let rows: Vec<usize> =
        (0..batch.num_rows()).filter(|&r| common::cell(&batch, "source_kind", r) == "sflow").collect();
    let text = std::fs::read_to_string(common::ovs("sflow-samples.txt")).unwrap();
    let samples: Vec<&str> = text.lines().filter(|l| l.contains(" flow seq=")).collect();
    assert_eq!(rows.len(), samples.len(), "one row per flow sample");
    assert_eq!(samples.len(), 785);
    assert_eq!((dec.stats.flow_samples, dec.stats.counter_samples, dec.stats.total_errors()), (785, 12, 0));
    // The capture keeps some of the agent's datagrams: samples are missing from the
    // numbers, and the pool (one packet per sample at rate 1) rises by exactly as many.
    assert!(dec.stats.samples_lost > 3000, "{}", dec.stats.samples_lost);
    assert_eq!(dec.stats.samples_missing_from_pool, 0);
    let (mut failures, mut tunnels, mut sized) = (Vec::new(), 0, 0);
    for (i, (&r, line)) in rows.iter().zip(&samples).enumerate() {
        let got = |c: &str| common::cell(&batch, c, r);
        let mut want = vec![
            ("in_if", interface_column(number(field(line, "input").unwrap()))),
            ("out_if", interface_column(number(field(line, "output").unwrap()))),
            ("sampling_rate", field(line, "rate").unwrap().to_string()),
            ("packets", field(line, "rate").unwrap().to_string()),
        ];
        if let Some(vni) = field(line, "vni") {
            want.push(("tunnel_key", vni.to_string()));
        }
        if let Some(at) = line.find("tunnel_") {
            // `(len=0,proto=17,A:P->B:Q,...)`: the ports as Open vSwitch wrote them, byte-swapped.
            let endpoints = line[at..].split(',').nth(2).unwrap();
            let (a, b) = endpoints.split_once("->").unwrap();
            let (a, p) = a.rsplit_once(':').unwrap();
            let (b, q) = b.rsplit_once(':').unwrap();
            let swap = |s: &str| s.parse::<u16>().unwrap().swap_bytes().to_string();
            want.extend([
                ("src_addr", a.to_string()),
                ("dst_addr", b.to_string()),
                ("tunnel_src_port", swap(p)),
                ("tunnel_dst_port", swap(q)),
                ("tunnel_type", "vxlan".to_string()),
            ]);
            tunnels += 1;
        }
        // An untagged Ethernet frame with its FCS: 14 + IP + 4.
        let frame_len = number(field(line, "frame_len").unwrap());
        if !got("bytes_reported").is_empty() {
            want.push(("bytes_reported", (frame_len - 18).to_string()));
            sized += 1;
        }
        compare(&mut failures, i, line, want, got);
    }
    assert_no_mismatches(&failures);
    assert!(tunnels >= 12 && sized >= 700, "{tunnels} tunnel samples, {sized} with an IP length");
    // The swapped-back source port is the IPFIX tunnelSourceTransportPort of the same flow.
    assert!((0..batch.num_rows()).any(|r| {
        common::cell(&batch, "source_kind", r) == "ipfix"
            && common::cell(&batch, "tunnel_src_port", r) == "47220"
    }));
}

#[test]
fn an_expanded_flow_sample_matches_the_akvorado_golden() {
    let mut dec = Decoder::new(DecoderConfig::default());
    let batch = common::decode_file(&mut dec, &common::public("tcpdump/sflow_expanded.pcap"));
    assert_eq!(batch.num_rows(), 1);
    let want = [
        ("sampling_rate", "1000"),
        ("in_if", "29001"),
        ("out_if", "1285816721"),
        ("src_addr", "52.52.52.52"),
        ("dst_addr", "53.53.53.53"),
        ("src_port", "22"),
        ("dst_port", "52237"),
        ("protocol", "6"),
        ("tcp_flags", "24"),
        ("tos", "8"),
        ("next_hop", "54.54.54.54"),
        ("src_as", "203476"),
        ("dst_as", "203361"),
        ("vlan", "809"),
        ("bytes_reported", "104"),
        ("bytes", "104000"),
        ("packets", "1000"),
        ("src_mac", "94:8e:d3:0a:71:3b"),
        ("dst_mac", "22:42:1f:4a:9f:cd"),
    ];
    for (col, w) in want {
        assert_eq!(common::cell(&batch, col, 0), w, "{col}");
    }
}

/// The values inside `name(...)` of a line of the OVS decode, split at commas.
fn args<'a>(line: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let at = line.find(&format!("{name}("))? + name.len() + 1;
    let rest = &line[at..];
    Some(rest[..rest.find(')')?].split(',').collect())
}

/// A counter as `interface_counters` stores it: all ones (not kept) is null.
fn counter(v: &str) -> String {
    if v == "4294967295" { String::new() } else { number(v).to_string() }
}

/// Every Open vSwitch counter sample of the capture, in order, against its row of
/// `interface_counters`: the port's generic and Ethernet counters, OpenFlow port and name,
/// and the bridge's process and datapath records.
#[test]
fn open_vswitch_counter_samples_fill_interface_counters() {
    let batches = common::decode_side_table(
        &[common::ovs("ovs-export.pcap")],
        plumb_collector::schema::Table::InterfaceCounters,
    );
    let rows = common::rows_of(&batches);
    let text = std::fs::read_to_string(common::ovs("sflow-samples.txt")).unwrap();
    let samples: Vec<&str> = text.lines().filter(|l| l.contains(" counters seq=")).collect();
    assert_eq!((rows.len(), samples.len()), (12, 12), "one row per counter sample");
    let (mut failures, mut ports, mut datapaths) = (Vec::new(), 0, 0);
    for (i, (line, (b, r))) in samples.iter().zip(rows).enumerate() {
        let got = |c: &str| common::cell(&batches[b], c, r);
        let (class, index) = field(line, "src").unwrap().split_once(':').unwrap();
        let mut want = vec![
            ("sequence", field(line, "counters seq").unwrap().to_string()),
            ("source_class", class.to_string()),
            ("source_index", index.to_string()),
            ("agent", field(line, "agent").unwrap().to_string()),
        ];
        if let Some(g) = args(line, "generic_if") {
            let v = |k: &str| g.iter().find_map(|a| a.strip_prefix(&format!("{k}="))).unwrap();
            want.extend([
                ("if_index", v("ifIndex").to_string()),
                ("if_type", v("ifType").to_string()),
                ("if_speed", v("speed").to_string()),
                ("if_oper_up", (number(v("status")) >> 1 & 1).to_string()),
                ("in_octets", counter(v("inOctets"))),
                ("in_unicast", counter(v("inUcast"))),
                ("in_multicast", counter(v("inMcast"))),
                ("in_broadcast", counter(v("inBcast"))),
                ("in_discards", counter(v("inDiscards"))),
                ("out_octets", counter(v("outOctets"))),
                ("out_unicast", counter(v("outUcast"))),
                ("out_multicast", counter(v("outMcast"))),
                ("out_broadcast", counter(v("outBcast"))),
                (
                    "if_name",
                    line.split("port_name('").nth(1).unwrap().split('\'').next().unwrap().to_string(),
                ),
                ("of_port", field(line, "port").unwrap().to_string()),
                ("of_datapath", number(&format!("0x{}", field(line, "dpid").unwrap())).to_string()),
            ]);
            let e = args(line, "ethernet_if").unwrap();
            want.extend([
                ("alignment_errors", counter(e[0])),
                ("fcs_errors", counter(e[1])),
                ("frames_too_long", counter(e[10])),
            ]);
            ports += 1;
        }
        if line.contains("ovs_dp_perf(") {
            for (col, key) in [
                ("dp_hits", "n_hit"),
                ("dp_missed", "n_missed"),
                ("dp_lost", "n_lost"),
                ("dp_mask_hits", "n_mask_hit"),
                ("dp_flows", "n_flows"),
            ] {
                want.push((col, counter(field(line, key).unwrap())));
            }
            for (col, key) in
                [("app_user_ms", "user_ms"), ("app_system_ms", "sys_ms"), ("app_memory_used", "mem_used")]
            {
                want.push((col, counter(field(line, key).unwrap())));
            }
            datapaths += 1;
        }
        compare(&mut failures, i, line, want, got);
    }
    assert_no_mismatches(&failures);
    assert_eq!((ports, datapaths), (9, 3), "port and datapath samples");
}

/// Every sFlow file of the corpus: flow rows, counter samples, drop notifications, errors.
#[test]
fn every_sflow_file_of_the_corpus_decodes_to_its_counts() {
    let cases: [(&str, usize, u64, u64, u64); 14] = [
        ("telegraf/sflow_issue_15918/message.bin", 6, 1, 0, 0),
        ("telegraf/sflow_issue_15375/sflow_drop_1036.bin", 0, 0, 1, 0),
        ("telegraf/sflow_issue_18876/message.bin", 0, 1, 0, 0),
        ("telegraf/sflow_v5_example/sflow_v5.bin", 0, 1, 0, 0),
        ("nxthdr-sflow-parser/sflow.bin", 1, 0, 0, 0),
        ("nxthdr-sflow-parser/sflow.pcap", 1, 0, 0, 0),
        ("tcpdump/sflow_expanded.pcap", 1, 0, 0, 0),
        ("tcpdump/sflow-print-v6.pcap", 13, 48, 0, 0),
        // Also 5 NetFlow v5 datagrams (7 records) to the same port.
        ("tcpdump/sflow_multiple_counter_30_pdus.pcap", 7, 144, 0, 0),
        // One datagram whose UDP length leaves 0 bytes of sFlow: a header cut short.
        ("tcpdump/sflow_print-segv.pcap", 0, 0, 0, 1),
        ("logstash-codec-sflow/sflow_1_counters_sample.dat", 0, 1, 0, 0),
        ("logstash-codec-sflow/sflow_counters_sample.dat", 0, 12, 0, 0),
        ("logstash-codec-sflow/sflow_flow_sample.dat", 1, 0, 0, 0),
        ("logstash-codec-sflow/sflow_with_lag_counters.dat", 5, 2, 0, 0),
    ];
    for (file, rows, counters, drops, errors) in cases {
        let mut dec = Decoder::new(DecoderConfig::default());
        let batch = common::decode_file(&mut dec, &common::public(file));
        let s = &dec.stats;
        assert_eq!(
            (batch.num_rows(), s.counter_samples, s.drop_notifications, s.total_errors()),
            (rows, counters, drops, errors),
            "{file}: {:?}",
            s.errors
        );
        // Each counter sample and notification is one row of its table.
        let side = dec.finish_side_tables();
        let rows_of = |t| side.iter().filter(|b| b.table == t).map(|b| b.rows() as u64).sum::<u64>();
        use plumb_collector::schema::Table;
        assert_eq!((rows_of(Table::InterfaceCounters), rows_of(Table::Drops)), (counters, drops), "{file}");
    }
}

/// Telegraf's drop notification (reason 1, host unreachable, with an egress-queue record)
/// counts one dropped packet by its reason's name; it makes no `flows` row.
#[test]
fn a_drop_notification_counts_its_reason() {
    let mut dec = Decoder::new(DecoderConfig::default());
    let b = common::decode_file(&mut dec, &common::public("telegraf/sflow_issue_15375/sflow_drop_1036.bin"));
    assert_eq!(b.num_rows(), 0);
    let dropped: Vec<_> = dec.stats.dropped_packets.iter().map(|(l, n)| (l.protocol, l.reason, n)).collect();
    assert_eq!(dropped, [("sflow", "host_unreachable", 1)]);
}

/// A raw header from an IPv4 record alone (nxthdr's only record is sampled_ipv4), and a
/// VLAN from an 802.1Q header (logstash).
#[test]
fn data_records_and_tagged_headers() {
    let mut dec = Decoder::new(DecoderConfig::default());
    let b = common::decode_file(&mut dec, &common::public("nxthdr-sflow-parser/sflow.bin"));
    let got: Vec<String> =
        ["src_addr", "dst_addr", "src_port", "dst_port", "protocol", "bytes_reported", "sampling_rate"]
            .iter()
            .map(|c| common::cell(&b, c, 0))
            .collect();
    assert_eq!(got, ["3.3.3.3", "4.4.4.4", "53032", "25562", "6", "40", "1000"]);
    let b =
        common::decode_file(&mut dec, &common::public("logstash-codec-sflow/sflow_flow_sample_eth_vlan.dat"));
    assert_eq!(
        (common::cell(&b, "vlan", 0).as_str(), common::cell(&b, "sampling_rate", 0).as_str()),
        ("2422", "2000")
    );
}

/// Every prefix and every single-byte corruption of real datagrams: no panic, never more
/// rows than the whole datagram gives, and every cut or bad length counted.
#[test]
fn cut_and_corrupted_datagrams_lose_only_what_they_break() {
    let ex = addr::parse_text("192.0.2.1").unwrap();
    for file in ["telegraf/sflow_issue_15918/message.bin", "logstash-codec-sflow/sflow_with_lag_counters.dat"]
    {
        let whole = std::fs::read(common::public(file)).unwrap();
        let rows = |buf: &[u8], dec: &mut Decoder| {
            let mut out = FlowBuilders::with_capacity(16);
            dec.decode(buf, ex, 0, &mut out);
            out.len()
        };
        let mut dec = Decoder::new(DecoderConfig::default());
        let all = rows(&whole, &mut dec);
        for cut in 0..whole.len() {
            let mut dec = Decoder::new(DecoderConfig::default());
            let n = rows(&whole[..cut], &mut dec);
            assert!(n <= all, "{file} cut at {cut}: {n} rows");
            // A cut datagram is one whose last piece is missing: counted.
            assert!(cut < 4 || dec.stats.total_errors() > 0, "{file} cut at {cut}: no error counted");
        }
        for at in 0..whole.len() {
            let mut bad = whole.clone();
            bad[at] ^= 0xff;
            let mut dec = Decoder::new(DecoderConfig::default());
            assert!(rows(&bad, &mut dec) <= all + 1, "{file} byte {at}");
        }
    }
}
