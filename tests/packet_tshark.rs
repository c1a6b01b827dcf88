//! The packet layer against tshark, an independent decoder, on every capture in
//! `fixtures/`: per frame, the IPv4 and IPv6 addresses of every header on the way in (and
//! of the header an ICMP error quotes), the VXLAN and GENEVE VNIs and the GRE keys must be
//! the ones tshark reads. Without tshark the test reports itself skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use plumb_collector::addr::to_ip;
use plumb_collector::packet::dissect::{Dissection, Dissector, TunnelKind};
use plumb_collector::pcap;

/// What both decoders are asked for, as tshark prints it: comma-separated occurrences.
#[derive(Debug, Default, PartialEq, Eq)]
struct Facts {
    ip_src: String,
    ip_dst: String,
    ipv6_src: String,
    ipv6_dst: String,
    vxlan_vni: String,
    geneve_vni: String,
    gre_key: String,
}

impl Facts {
    fn fields(&self) -> [&str; 7] {
        [
            &self.ip_src,
            &self.ip_dst,
            &self.ipv6_src,
            &self.ipv6_dst,
            &self.vxlan_vni,
            &self.geneve_vni,
            &self.gre_key,
        ]
    }

    /// Every field of `other` starts this one's.
    fn begins_with(&self, other: &Facts) -> bool {
        self.fields().iter().zip(other.fields()).all(|(a, b)| a.starts_with(b))
    }
}

const FIELDS: [&str; 7] = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "vxlan.vni", "geneve.vni", "gre.key"];

/// Protocols whose payloads carry packets the packet layer deliberately does not follow:
/// sFlow's sampled headers (the sFlow decoder reads those), Teredo, PPP inside PPTP's GRE
/// and VXLAN-GPE (with its service headers; absent from vSphere and OpenStack overlays).
const NOT_FOLLOWED: [&str; 4] = ["sflow", "teredo", "ppp", "vxlan_gpe"];

/// Captures left out, and why.
const LEFT_OUT: [(&str, &str); 1] = [(
    "nsh-over-vxlan-gpe",
    "VXLAN-GPE on 4790 carrying NSH: tshark reads it as VXLAN even with its GPE dissector off; plumb does not follow GPE",
)];

/// Captures where plumb reads further than tshark, and why: there tshark's fields must be
/// where plumb's begin.
const READS_FURTHER: [(&str, &str); 1] = [(
    "bigtcp-",
    "an IP total length of 0 (BIG TCP) stops tshark; plumb takes the length from the capture, as tcpdump does",
)];

fn captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("pcap" | "pcapng")) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"), &mut out);
    out
}

fn tshark(path: &Path) -> Result<Vec<Facts>, String> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(path);
    cmd.args(["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"]);
    for p in NOT_FOLLOWED {
        cmd.args(["--disable-protocol", p]);
    }
    cmd.args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().map_err(|e| format!("tshark did not run: {e}"))?;
    if !out.status.success() && out.stdout.is_empty() {
        return Err(format!("tshark failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split('|').collect();
            let col = |i: usize| c.get(i).copied().unwrap_or("").to_string();
            Facts {
                ip_src: col(0),
                ip_dst: col(1),
                ipv6_src: col(2),
                ipv6_dst: col(3),
                vxlan_vni: col(4),
                geneve_vni: hex_to_dec(&col(5)),
                gre_key: hex_to_dec(&col(6)),
            }
        })
        .collect())
}

/// tshark prints GRE keys and GENEVE VNIs in hex.
fn hex_to_dec(s: &str) -> String {
    s.split(',')
        .filter(|k| !k.is_empty())
        .map(|k| u32::from_str_radix(k.trim_start_matches("0x"), 16).map_or(k.to_string(), |v| v.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

fn ours(d: &Dissection) -> Facts {
    let mut f = Facts::default();
    let push = |s: &mut String, v: String| {
        if !s.is_empty() {
            s.push(',');
        }
        s.push_str(&v);
    };
    let mut addrs: Vec<(bool, String, String)> =
        d.ips().iter().map(|ip| (ip.is_v6, to_ip(&ip.src).to_string(), to_ip(&ip.dst).to_string())).collect();
    if let Some(q) = d.icmp.and_then(|i| i.quoted) {
        let (s, t) = (to_ip(&q.src), to_ip(&q.dst));
        addrs.push((s.is_ipv6(), s.to_string(), t.to_string()));
    }
    for (v6, s, t) in addrs {
        if v6 {
            push(&mut f.ipv6_src, s);
            push(&mut f.ipv6_dst, t);
        } else {
            push(&mut f.ip_src, s);
            push(&mut f.ip_dst, t);
        }
    }
    for t in d.tunnels() {
        let key = t.key.map(|k| k.to_string());
        match (t.kind, key) {
            (TunnelKind::Vxlan, Some(k)) => push(&mut f.vxlan_vni, k),
            (TunnelKind::Geneve, Some(k)) => push(&mut f.geneve_vni, k),
            (TunnelKind::Gre | TunnelKind::GreInUdp, Some(k)) => push(&mut f.gre_key, k),
            _ => {}
        }
    }
    f
}

#[test]
fn every_fixture_capture_decodes_as_tshark_reads_it() {
    let dissector = Dissector::default();
    let mut d = Dissection::default();
    let (mut frames, mut tunnelled, mut mismatches) = (0usize, 0usize, Vec::new());
    for path in captures() {
        if LEFT_OUT.iter().any(|(name, _)| path.to_string_lossy().contains(name)) {
            continue;
        }
        let theirs = match tshark(&path) {
            Ok(t) => t,
            Err(why) => return common::skip::skip("every_fixture_capture_decodes_as_tshark_reads_it", &why),
        };
        let mut mine = Vec::new();
        // The reader `plumb ingest` uses on files (in memory, mapped there); the goldens'
        // test reads through the streaming one.
        let bytes = std::fs::read(&path).unwrap();
        let _ = pcap::for_each_frame_in(
            &bytes,
            |_| {},
            |frame| {
                dissector.dissect(frame.linktype, frame.data, &mut d);
                tunnelled += !d.tunnels().is_empty() as usize;
                mine.push(ours(&d));
            },
        );
        frames += mine.len();
        if mine.len() != theirs.len() {
            mismatches.push(format!(
                "{}: plumb read {} frames, tshark {}",
                path.display(),
                mine.len(),
                theirs.len()
            ));
        }
        let further = READS_FURTHER.iter().any(|(prefix, _)| path.to_string_lossy().contains(prefix));
        for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
            if a != b && !(further && a.begins_with(b)) {
                mismatches.push(format!(
                    "{} frame {}:\n  plumb  {a:?}\n  tshark {b:?}",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    assert!(frames > 1000 && tunnelled > 100, "{frames} frames, {tunnelled} tunnelled");
    assert!(
        mismatches.is_empty(),
        "{} of {frames} frames differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
