//! `plumb collect` end to end on loopback: a real exporter (softflowd) in NetFlow v5, v9
//! and IPFIX against an independent count of the same packets, a restart that keeps
//! templates, and `/metrics` checked by promtool and against the store. softflowd and
//! promtool must be installed (the test fails without them); without tshark the independent
//! count of the generated pcap is reported as a skip (`common::skip`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::{self, Collector};
use common::skip::skip;

/// Packets and bytes per (source, destination, protocol).
type Totals = BTreeMap<(String, String, u8), (u64, u64)>;

/// Writes a pcap of TCP, UDP and ICMP flows between a few hosts; returns the packets per
/// (src, dst, protocol) and their IP total lengths, counted as the file is written.
fn write_traffic(path: &Path) -> Totals {
    let mut totals = BTreeMap::new();
    let mut f = Vec::new();
    f.extend(0xa1b2c3d4u32.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(4u16.to_le_bytes());
    f.extend([0u8; 8]);
    f.extend(65535u32.to_le_bytes());
    f.extend(1u32.to_le_bytes());
    let base_ts = 1_700_000_000u32;
    let mut seed = 0x2545F491u32;
    let mut rnd = move |n: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed % n
    };
    for i in 0..3000u32 {
        let src = [10, 0, (rnd(4)) as u8, 1 + rnd(20) as u8];
        let dst = [192, 168, 1, 1 + rnd(10) as u8];
        let proto = [6u8, 17, 1][rnd(3) as usize];
        let payload = (rnd(1400)) as usize;
        let l4 = match proto {
            6 => 20,
            17 => 8,
            _ => 8,
        };
        let total = 20 + l4 + payload;
        let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, proto, 0, 0];
        ip.extend(src);
        ip.extend(dst);
        let sport = 1024 + rnd(8) as u16;
        let dport = [80u16, 443, 53][rnd(3) as usize];
        match proto {
            6 => {
                ip.extend(sport.to_be_bytes());
                ip.extend(dport.to_be_bytes());
                ip.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x10, 0, 0, 0, 0, 0]);
            }
            17 => {
                ip.extend(sport.to_be_bytes());
                ip.extend(dport.to_be_bytes());
                ip.extend(((8 + payload) as u16).to_be_bytes());
                ip.extend([0, 0]);
            }
            _ => ip.extend([8, 0, 0, 0, 0, 1, 0, (i % 256) as u8]),
        }
        ip.extend(std::iter::repeat_n(0xab, payload));
        let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend(&ip);
        // One second of traffic: softflowd -a replays at capture pace.
        let ts = base_ts + i / 3000;
        f.extend(ts.to_le_bytes());
        f.extend(((i % 3000) * 300).to_le_bytes());
        f.extend((frame.len() as u32).to_le_bytes());
        f.extend((frame.len() as u32).to_le_bytes());
        f.extend(&frame);
        let key =
            (std::net::Ipv4Addr::from(src).to_string(), std::net::Ipv4Addr::from(dst).to_string(), proto);
        let e = totals.entry(key).or_insert((0, 0));
        e.0 += 1;
        e.1 += total as u64;
    }
    std::fs::write(path, f).unwrap();
    totals
}

/// What the store holds per (src, dst, protocol): packets and bytes.
fn stored_totals(data: &Path) -> Totals {
    let out = process::query_csv(
        data,
        "SELECT src_addr, dst_addr, protocol, sum(packets) AS p, sum(bytes) AS b FROM flows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    );
    out.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                (c[0].to_string(), c[1].to_string(), c[2].parse().unwrap()),
                (c[3].parse().unwrap(), c[4].parse().unwrap()),
            )
        })
        .collect()
}

/// Rows in the store, through `plumb query`.
fn stored_rows(data: &Path) -> u64 {
    let out = process::query_csv(data, "SELECT count(*) FROM flows");
    out.lines().nth(1).unwrap().parse().unwrap()
}

/// Independent count with tshark (the same pcap, another decoder); the error says why
/// tshark could not give one.
fn tshark_totals(pcap: &Path) -> Result<Totals, String> {
    let out = Command::new("tshark")
        .args([
            "-r",
            pcap.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ip.proto",
            "-e",
            "ip.len",
        ])
        .output()
        .map_err(|e| format!("tshark cannot be run ({e})"))?;
    if !out.status.success() {
        return Err(format!("tshark failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let mut t = BTreeMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        // A line tshark printed but that does not read is a wrong pcap, not a missing tool.
        let (key, len) = tshark_line(l).unwrap_or_else(|| panic!("unexpected tshark line {l:?}"));
        let e = t.entry(key).or_insert((0u64, 0u64));
        e.0 += 1;
        e.1 += len;
    }
    Ok(t)
}

/// `src dst proto len` of one tshark line.
fn tshark_line(l: &str) -> Option<((String, String, u8), u64)> {
    let c: Vec<&str> = l.split('\t').collect();
    let key = (c.first()?.to_string(), c.get(1)?.to_string(), c.get(2)?.parse().ok()?);
    Some((key, c.get(3)?.parse().ok()?))
}

#[test]
fn softflowd_exports_match_an_independent_count() {
    assert!(process::have("softflowd"), "softflowd is missing: run scripts/test.sh, which installs it");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("traffic.pcap");
    let expected = write_traffic(&pcap);
    match tshark_totals(&pcap) {
        Ok(t) => assert_eq!(t, expected, "tshark and the generator agree on the pcap"),
        Err(why) => skip(
            "softflowd_exports_match_an_independent_count",
            &format!("the generated pcap is not counted by tshark: {why}"),
        ),
    }
    for version in ["5", "9", "10"] {
        let data = dir.path().join(format!("store-v{version}"));
        let c = Collector::start(&data);
        let status = Command::new("softflowd")
            .args(["-r", pcap.to_str().unwrap(), "-n", &format!("127.0.0.1:{}", c.port), "-v", version, "-a"])
            // No control socket: with -r, softflowd 1.1 skips poll() but still tests the
            // control socket's stale poll result and can block in accept() forever.
            .args(["-c", "none"])
            .args(["-p", dir.path().join(format!("pid-{version}")).to_str().unwrap()])
            .output()
            .unwrap();
        assert!(status.status.success(), "softflowd: {}", String::from_utf8_lossy(&status.stderr));
        let want: u64 = expected.values().map(|v| v.0).sum();
        c.wait_metrics(30, "all packets decoded", |m| {
            let recs = process::sum_metric(m, "plumb_flow_records_total");
            recs > 0.0 && process::sum_metric(m, "plumb_datagrams_received_total") > 0.0
        });
        std::thread::sleep(Duration::from_millis(1500));
        // softflowd numbers IPFIX messages after counting their own records: no false loss.
        let m = c.metrics();
        assert_eq!(process::sum_metric(&m, "plumb_sequence_lost_total"), 0.0, "v{version}: sequence loss");
        assert_eq!(process::sum_metric(&m, "plumb_sequence_resets_total"), 0.0, "v{version}: resets");
        c.stop();
        let got = stored_totals(&data);
        let got_packets: u64 = got.values().map(|v| v.0).sum();
        assert_eq!(got_packets, want, "v{version}: packets in the store");
        assert_eq!(got, expected, "v{version}: totals per (src, dst, protocol)");
    }
}

#[test]
fn templates_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let vds = |f: &str| common::public(&format!("logstash-codec-netflow/ipfix_test_vmware_vds_{f}.dat"));
    let port = process::free_port();
    let c = Collector::start_with(&data, port, &[]);
    process::run(&["replay", vds("tpl").to_str().unwrap(), "--to", &format!("127.0.0.1:{port}")]);
    c.wait_metrics(30, "templates", |m| process::sum_metric(m, "plumb_templates") >= 13.0);
    c.stop();
    let c = Collector::start_with(&data, port, &[]);
    c.wait_metrics(10, "templates reloaded from the state file", |m| {
        process::sum_metric(m, "plumb_templates") >= 13.0
    });
    for f in ["data264", "data266", "data266_267"] {
        process::run(&["replay", vds(f).to_str().unwrap(), "--to", &format!("127.0.0.1:{port}")]);
    }
    c.wait_metrics(30, "5 records", |m| process::sum_metric(m, "plumb_flow_records_total") >= 5.0);
    c.stop();
    let out = process::query_csv(
        &data,
        "SELECT src_addr, dst_port, bytes FROM flows ORDER BY flow_end, dst_port, src_addr",
    );
    assert_eq!(
        out,
        "src_addr,dst_port,bytes\n172.18.65.21,5985,100\n172.18.65.91,138,229\n172.18.65.91,138,229\n172.18.65.21,5355,104\nfe80::5187:5cd8:d750:cdc9,5355,144\n"
    );
    // Exported years ago and replayed now: judged by their export times, the flows land
    // in the hours they ended, not in the hour of the replay.
    let misfiled = process::query_csv(
        &data,
        "SELECT count(*) AS n FROM flows \
         WHERE date <> to_char(flow_end, '%Y-%m-%d') OR CAST(hour AS INT) <> date_part('hour', flow_end)",
    );
    assert_eq!(misfiled, "n\n0\n");
}

#[test]
fn metrics_pass_promtool_and_agree_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let c = Collector::start(&data);
    // A switch's sFlow drop notification (host unreachable), then the OVS capture.
    let drop = common::public("telegraf/sflow_issue_15375/sflow_drop_1036.bin");
    process::run(&["replay", drop.to_str().unwrap(), "--to", &format!("127.0.0.1:{}", c.port)]);
    let pcap = common::ovs("ovs-export.pcap");
    let sent = process::run(&["replay", pcap.to_str().unwrap(), "--to", &format!("127.0.0.1:{}", c.port)]);
    assert!(sent.contains("sent"), "{sent}");
    // 72 IPFIX + 16 NetFlow v5 records + 785 sFlow flow samples.
    let rows = |m: &str, table: &str| {
        process::metric_value(m, &format!("plumb_store_rows_written_total{{table=\"{table}\"}}"))
    };
    // ... and its 12 counter samples, and the notification.
    let m = c.wait_metrics(30, "rows committed", |m| {
        rows(m, "flows") >= 873.0 && rows(m, "interface_counters") >= 12.0 && rows(m, "drops") >= 1.0
    });
    assert_eq!(process::sum_metric(&m, "plumb_flow_records_total"), 873.0);
    assert_eq!((rows(&m, "flows"), rows(&m, "interface_counters"), rows(&m, "drops")), (873.0, 12.0, 1.0));
    // The capture keeps 127 of the agent's first 1,195 sFlow datagrams (numbered 1…117,
    // then 317, 673, 1187…1195): 1,068 missing, and nothing else lost.
    let lost = |protocol: &str| {
        format!("plumb_sequence_lost_total{{exporter=\"127.0.0.1\",protocol=\"{protocol}\"}}")
    };
    assert!(m.contains(&format!("{} 1068", lost("sflow"))), "{m}");
    assert_eq!(process::sum_metric(&m, "plumb_sequence_lost_total"), 1068.0);
    assert!(m.contains("plumb_sflow_samples_total{kind=\"flow\"} 785"), "{m}");
    assert!(m.contains("plumb_sflow_samples_total{kind=\"counter\"} 12"), "{m}");
    assert!(
        m.contains("plumb_exporter_dropped_packets_total{protocol=\"sflow\",reason=\"host_unreachable\"} 1"),
        "{m}"
    );
    // Every Open vSwitch tunnel record came with its ports byte-swapped.
    assert!(m.contains("plumb_records_repaired_total{exporter=\"127.0.0.1\",protocol=\"sflow\"} 12"), "{m}");
    // Every flow end is plausible against its message's export time.
    assert_eq!(process::sum_metric(&m, "plumb_store_implausible_time_rows_total"), 0.0);
    assert!(m.contains("plumb_flow_records_total{exporter=\"127.0.0.1\",protocol=\"ipfix\"} 72"), "{m}");
    assert!(process::have("promtool"), "promtool is missing: run scripts/test.sh, which installs it");
    let (ok, text) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .output_with_stdin(&m);
    assert!(ok, "promtool check metrics:\n{text}");
    c.stop();
    assert_eq!(stored_rows(&data), 873);
}

trait OutputWithStdin {
    fn output_with_stdin(&mut self, input: &str) -> (bool, String);
}

impl OutputWithStdin for Command {
    fn output_with_stdin(&mut self, input: &str) -> (bool, String) {
        use std::io::Write;
        let mut child =
            self.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }
}

/// A collector killed with SIGKILL in the middle of a stream leaves only complete files:
/// every visible file reads, and the next start removes the interrupted temporary files.
#[test]
fn a_crash_leaves_no_torn_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let port = process::free_port();
    let pcap = common::ovs("ovs-export.pcap");
    let mut total_before = 0;
    for round in 0..3 {
        let c = Collector::start_with(&data, port, &[]);
        let mut replay = process::plumb()
            .args(["replay", pcap.to_str().unwrap(), "--to", &format!("127.0.0.1:{port}")])
            .args(["--rate", "20000", "--loop", "0", "--duration", "5"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment of the flush cycle each round, after a first commit.
        let flows = |m: &str| process::metric_value(m, "plumb_store_rows_written_total{table=\"flows\"}");
        let m = c.wait_metrics(30, "a commit", |m| flows(m) > 0.0);
        let committed = flows(&m) as u64;
        std::thread::sleep(Duration::from_millis(150 + round * 350));
        c.kill();
        let _ = replay.kill();
        let _ = replay.wait();
        // Whatever is visible is whole: the query reads every file, and nothing committed
        // before the crash is missing.
        let n = stored_rows(&data);
        assert!(
            n >= total_before + committed,
            "round {round}: {n} rows visible, {} were committed",
            total_before + committed
        );
        total_before = n;
    }
    // A clean run afterwards removes leftovers of interrupted writes.
    let c = Collector::start_with(&data, port, &[]);
    c.stop();
    for p in common::files_under(&data.join("flows")) {
        assert!(p.extension().is_some_and(|x| x == "parquet"), "leftover {}", p.display());
    }
}
