//! The packet layer against the goldens that ship with the public captures: tcpdump's
//! `.out` text and Zeek's `tunnel.log` / `conn.log`. tcpdump gives, per packet, the VNIs on
//! the way in and the address pair of each IP header; Zeek gives the tunnels it discovered and the
//! inner connections.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use plumb_collector::addr::to_ip;
use plumb_collector::packet::dissect::{Dissection, Dissector, TunnelKind};
use plumb_collector::pcap;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/public").join(rel)
}

/// Every frame of a capture, dissected.
fn dissect_all(path: &Path) -> Vec<Dissection> {
    let dissector = Dissector::default();
    let mut out = Vec::new();
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pcap::for_each_frame(file, |f| {
        let mut d = Dissection::default();
        dissector.dissect(f.linktype, f.data, &mut d);
        out.push(d);
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    out
}

/// One packet of a tcpdump `.out`: its number, the VNIs printed and the `A > B` address
/// pair of every IP header tcpdump decoded, outermost first.
#[derive(Debug)]
struct Printed {
    number: usize,
    vnis: Vec<u32>,
    pairs: Vec<(IpAddr, IpAddr)>,
}

/// Reads `.out` text written with `-#` (packet numbers): a packet runs from its numbered
/// line to the next.
fn read_out(text: &str) -> Vec<Printed> {
    let mut out: Vec<Printed> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let numbered = words
            .next()
            .and_then(|w| w.parse::<usize>().ok())
            .filter(|_| words.next().is_some_and(|w| w.len() == 10 && w.as_bytes()[4] == b'-'));
        if let Some(number) = numbered {
            out.push(Printed { number, vnis: Vec::new(), pairs: Vec::new() });
        }
        let Some(p) = out.last_mut() else { continue };
        let tokens: Vec<&str> = line.split_whitespace().collect();
        for (i, t) in tokens.iter().enumerate() {
            if *t == "vni" {
                let v = tokens.get(i + 1).unwrap().trim_end_matches(',');
                let n =
                    v.strip_prefix("0x").map_or_else(|| v.parse().ok(), |h| u32::from_str_radix(h, 16).ok());
                p.vnis.push(n.unwrap());
            }
            if *t == ">"
                && i > 0
                && let (Some(a), Some(b)) =
                    (addr(tokens[i - 1]), tokens.get(i + 1).and_then(|b| addr(b.trim_end_matches(':'))))
            {
                p.pairs.push((a, b));
            }
        }
    }
    out
}

/// An address as tcpdump prints it, with or without a `.port` suffix.
fn addr(s: &str) -> Option<IpAddr> {
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    let (a, port) = s.rsplit_once('.')?;
    port.parse::<u16>().ok()?;
    a.parse().ok()
}

fn pairs(d: &Dissection) -> Vec<(IpAddr, IpAddr)> {
    d.ips().iter().map(|ip| (to_ip(&ip.src), to_ip(&ip.dst))).collect()
}

fn vnis(d: &Dissection) -> Vec<u32> {
    d.tunnels()
        .iter()
        .filter(|t| matches!(t.kind, TunnelKind::Vxlan | TunnelKind::Geneve))
        .filter_map(|t| t.key)
        .collect()
}

#[test]
fn tcpdump_goldens_of_the_overlay_captures() {
    let files = [
        ("tcpdump/vxlan.pcap", "tcpdump/vxlan.out"),
        ("tcpdump/geneve.pcap", "tcpdump/geneve-vv.out"),
        ("tcpdump/geneve-gcp.pcap", "tcpdump/geneve-gcp.out"),
        ("tcpdump/various_gre.pcap", "tcpdump/various_gre.out"),
        ("tcpdump/bigtcp-ipv4-vxlan-ipv4.pcap", "tcpdump/bigtcp-ipv4-vxlan-ipv4.out"),
        ("tcpdump/bigtcp-ipv6-geneve-ipv6.pcap", "tcpdump/bigtcp-ipv6-geneve-ipv6.out"),
        ("tcpdump/gso-ipv4-geneve-ipv4.pcap", "tcpdump/gso-ipv4-geneve-ipv4.out"),
        ("tcpdump/gso-ipv4-geneve-ipv6.pcap", "tcpdump/gso-ipv4-geneve-ipv6.out"),
        ("tcpdump/gso-ipv4-vxlan-ipv4.pcap", "tcpdump/gso-ipv4-vxlan-ipv4.out"),
        ("tcpdump/gso-ipv4-vxlan-ipv6.pcap", "tcpdump/gso-ipv4-vxlan-ipv6.out"),
        ("tcpdump/gso-ipv6-geneve-ipv4.pcap", "tcpdump/gso-ipv6-geneve-ipv4.out"),
        ("tcpdump/gso-ipv6-geneve-ipv6.pcap", "tcpdump/gso-ipv6-geneve-ipv6.out"),
        ("tcpdump/gso-ipv6-vxlan-ipv4.pcap", "tcpdump/gso-ipv6-vxlan-ipv4.out"),
        ("tcpdump/gso-ipv6-vxlan-ipv6.pcap", "tcpdump/gso-ipv6-vxlan-ipv6.out"),
    ];
    let mut checked = 0;
    for (pcap_file, out_file) in files {
        let ours = dissect_all(&fixture(pcap_file));
        let text = std::fs::read_to_string(fixture(out_file)).unwrap();
        let printed = read_out(&text);
        assert!(!printed.is_empty(), "{out_file}: no numbered packets");
        for p in printed {
            let d = &ours[p.number - 1];
            let at = format!("{pcap_file} packet {}", p.number);
            assert_eq!(vnis(d), p.vnis, "{at}: VNIs");
            // plumb may read further than tcpdump (Cisco MetaData inside GRE), never less.
            let ours = pairs(d);
            assert!(ours.len() >= p.pairs.len(), "{at}: {ours:?} against {:?}", p.pairs);
            assert_eq!(ours[..p.pairs.len()], p.pairs, "{at}: addresses of each IP header");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} packets checked");
}

#[test]
fn big_tcp_and_gso_lengths_come_from_the_capture() {
    // tcpdump: "length 80102 [was 0, presumed BIG TCP]" outside, 80052 inside.
    let d = &dissect_all(&fixture("tcpdump/bigtcp-ipv4-vxlan-ipv4.pcap"))[0];
    let (outer, inner) = (d.outer().unwrap(), d.inner().unwrap());
    assert!(outer.len_from_capture && inner.len_from_capture);
    assert_eq!((outer.total_len, inner.total_len), (80102, 80052));
    // A GSO super-packet keeps its length field: 7092 outside, 7042 inside.
    let d = &dissect_all(&fixture("tcpdump/gso-ipv4-vxlan-ipv4.pcap"))[0];
    assert_eq!((d.outer().unwrap().total_len, d.inner().unwrap().total_len), (7092, 7042));
    assert!(!d.outer().unwrap().len_from_capture);
}

/// Rows of a Zeek log, as maps from field name to value.
fn zeek_log(rel: &str) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(fixture(rel)).unwrap();
    let fields: Vec<String> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .map(String::from)
        .collect();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| fields.iter().cloned().zip(l.split('\t').map(String::from)).collect())
        .collect()
}

fn zeek_kind(t: TunnelKind) -> &'static str {
    match t {
        TunnelKind::Vxlan => "Tunnel::VXLAN",
        TunnelKind::Geneve => "Tunnel::GENEVE",
        TunnelKind::Gre | TunnelKind::GreInUdp | TunnelKind::Erspan => "Tunnel::GRE",
        TunnelKind::Ipip | TunnelKind::Ipv6InIp => "Tunnel::IP",
        TunnelKind::MplsInUdp => "Tunnel::MPLS",
    }
}

#[test]
fn zeek_tunnels_and_inner_connections() {
    // (trace, baseline folder, tunnel types plumb refuses with a typed error, and why)
    let cases = [
        ("zeek/Traces/tunnels/vxlan.pcap", "core.tunnels.vxlan", ""),
        ("zeek/Traces/tunnels/geneve.pcap", "core.tunnels.geneve", ""),
        ("zeek/Traces/tunnels/geneve-many-options.pcap", "core.tunnels.geneve-many-options", ""),
        ("zeek/Traces/tunnels/geneve-vxlan-dns-truncated.pcap", "core.tunnels.geneve-vxlan-truncated", ""),
        ("zeek/Traces/tunnels/gre-sample.pcap", "core.tunnels.gre", ""),
        ("zeek/Traces/tunnels/gre-over-udp-4754.pcap", "core.tunnels.gre-over-udp", ""),
        // PPTP's enhanced GRE (version 1) carries PPP, not a tenant network: refused.
        ("zeek/Traces/tunnels/gre-pptp.pcap", "core.tunnels.gre-pptp", "Tunnel::GRE"),
    ];
    for (trace, baseline, refused) in cases {
        let ours = dissect_all(&fixture(trace));
        let mut tunnels = HashSet::new();
        let mut conns = HashSet::new();
        for d in &ours {
            for (i, t) in d.tunnels().iter().enumerate() {
                let carrier = &d.ips()[i];
                let (a, b) = (to_ip(&carrier.src), to_ip(&carrier.dst));
                tunnels.insert((zeek_kind(t.kind), a, b));
                tunnels.insert((zeek_kind(t.kind), b, a));
                conns.insert((a, t.src_port, b, t.dst_port));
            }
            if let (Some(ip), Some(tr)) = (d.innermost(), d.transport) {
                conns.insert((to_ip(&ip.src), tr.src_port, to_ip(&ip.dst), tr.dst_port));
            }
        }
        let dir = format!("zeek/Baseline/{baseline}");
        for row in zeek_log(&format!("{dir}/tunnel.log")) {
            let kind = row["tunnel_type"].as_str();
            if kind == refused {
                continue;
            }
            let key = (kind, row["id.orig_h"].parse().unwrap(), row["id.resp_h"].parse().unwrap());
            let kind_static = ["Tunnel::VXLAN", "Tunnel::GENEVE", "Tunnel::GRE", "Tunnel::IP"]
                .into_iter()
                .find(|k| *k == key.0);
            let key = (kind_static.unwrap_or("?"), key.1, key.2);
            assert!(tunnels.contains(&key), "{trace}: Zeek's tunnel {row:?} not found among {tunnels:?}");
        }
        if fixture(&format!("{dir}/conn.log")).exists() {
            for row in zeek_log(&format!("{dir}/conn.log")) {
                if !matches!(row["proto"].as_str(), "tcp" | "udp") {
                    continue;
                }
                let p = |k: &str| row[k].parse::<u16>().unwrap();
                let ip = |k: &str| row[k].parse::<IpAddr>().unwrap();
                let fwd = (ip("id.orig_h"), p("id.orig_p"), ip("id.resp_h"), p("id.resp_p"));
                let rev = (fwd.2, fwd.3, fwd.0, fwd.1);
                assert!(
                    conns.contains(&fwd) || conns.contains(&rev),
                    "{trace}: Zeek's connection {fwd:?} not found"
                );
            }
        }
    }
}

#[test]
fn ip_in_ip_every_way() {
    let cases = [
        ("zeek/Traces/tunnels/4in4.pcap", false, false),
        ("zeek/Traces/tunnels/4in6.pcap", true, false),
        ("zeek/Traces/tunnels/6in4.pcap", false, true),
        ("zeek/Traces/tunnels/6in6.pcap", true, true),
    ];
    for (trace, outer_v6, inner_v6) in cases {
        let ours = dissect_all(&fixture(trace));
        assert!(!ours.is_empty(), "{trace}");
        for d in &ours {
            assert_eq!(d.error, None, "{trace}");
            let kind = if inner_v6 { TunnelKind::Ipv6InIp } else { TunnelKind::Ipip };
            assert_eq!(d.tunnel().map(|t| t.kind), Some(kind), "{trace}");
            assert_eq!((d.outer().unwrap().is_v6, d.inner().unwrap().is_v6), (outer_v6, inner_v6), "{trace}");
        }
    }
    let nested = dissect_all(&fixture("zeek/Traces/tunnels/6in6in6.pcap"));
    assert!(nested.iter().all(|d| d.tunnels().len() == 2 && d.ips().len() == 3));
}

#[test]
fn nested_vxlan_fragments_and_packet_too_big() {
    let triple = dissect_all(&fixture("zeek/Traces/tunnels/vxlan-triple-v2.pcap"));
    assert!(triple.iter().any(|d| d.tunnels().iter().filter(|t| t.kind == TunnelKind::Vxlan).count() == 3));

    // Fragments: the first carries the ports, the rest only the IP header.
    for trace in ["zeek/Traces/ipv4/fragmented-1.pcap", "zeek/Traces/ipv6-fragmented-dns.pcap"] {
        let ours = dissect_all(&fixture(trace));
        let frags: Vec<_> = ours
            .iter()
            .filter_map(|d| d.outer().filter(|ip| ip.is_fragment()).map(|ip| (*ip, d.transport)))
            .collect();
        assert!(frags.len() >= 2, "{trace}: {} fragments", frags.len());
        for (ip, transport) in frags {
            assert_eq!(transport.is_some(), ip.frag_offset == 0, "{trace}: {ip:?}");
        }
    }

    let ptb = dissect_all(&fixture("zeek/Traces/icmp/icmp6-toobig.pcap"));
    let icmp = ptb.iter().find_map(|d| d.icmp).expect("an ICMPv6 message");
    assert_eq!((icmp.msg_type, icmp.code), (2, 0));
    assert!(icmp.mtu.is_some_and(|m| m >= 1280), "{icmp:?}");
    assert!(icmp.quoted.is_some());
}

#[test]
fn every_fixture_capture_walks_without_a_panic() {
    let mut frames = 0;
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("pcap" | "pcapng")) {
                let _ = pcap::for_each_frame(std::fs::File::open(&p).unwrap(), |f| {
                    let mut d = Dissection::default();
                    Dissector::default().dissect(f.linktype, f.data, &mut d);
                    frames += 1;
                });
            }
        }
    }
    assert!(frames > 1000, "{frames}");
}
