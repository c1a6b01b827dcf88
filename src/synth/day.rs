//! The flow model of a synthetic day: flows ending over 24 hours along a daily curve
//! (quietest at 02:00, busiest at 14:00, 1:6), Zipf-distributed source and destination
//! hosts (a few heavy hitters, a long tail), about 9 % IPv6, TCP/UDP/ICMP with realistic
//! service ports (VXLAN and Geneve among them), heavy-tailed packet counts, several
//! exporters each seeing its own hosts. Flows come out in end-time order.

use super::Rng;

const DAY_SECS: usize = 86_400;
/// Share of flows between IPv6 hosts.
const IPV6_SHARE: f64 = 0.09;
/// Amplitude of the daily curve: rate ∝ 1 − A·cos(2π (t − 02:00) / 24 h).
const CURVE: f64 = 0.7;
const ZIPF_S: f64 = 1.1;
const SOURCES_V4: usize = 50_000;
const DESTINATIONS_V4: usize = 20_000;
const HOSTS_V6: usize = 5_000;

/// One generated flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub exporter: u8,
    /// IPv4 addresses are the first 4 bytes of a v4 flow; v6 uses all 16.
    pub v6: bool,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub tcp_flags: u8,
    pub tos: u8,
    pub packets: u64,
    pub bytes: u64,
    pub start_ms: u64,
    pub end_ms: u64,
    pub in_if: u32,
    pub out_if: u32,
}

/// Draws from a Zipf distribution over `0..n` by inverting a precomputed CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Service ports with their weights.
const TCP_PORTS: &[(u16, u32)] = &[
    (443, 40),
    (80, 12),
    (8080, 6),
    (6443, 5),
    (3306, 4),
    (5432, 4),
    (2049, 4),
    (8443, 4),
    (22, 3),
    (445, 3),
    (9100, 3),
    (10250, 3),
];
const UDP_PORTS: &[(u16, u32)] = &[(53, 50), (4789, 20), (123, 8), (6081, 5), (514, 5), (161, 5), (4739, 2)];
/// ICMP type·256 + code: echo, echo reply, fragmentation needed (path MTU), unreachable.
const ICMP_CODES: &[(u16, u32)] = &[(0x0800, 45), (0x0000, 45), (0x0304, 6), (0x0303, 4)];

fn weighted(rng: &mut Rng, table: &[(u16, u32)]) -> u16 {
    let total: u32 = table.iter().map(|&(_, w)| w).sum();
    let mut x = rng.below(total as u64) as u32;
    for &(v, w) in table {
        if x < w {
            return v;
        }
        x -= w;
    }
    table[0].0
}

/// The generator of one day: `flows` flows over the day starting at `day_start_ms`.
pub struct Day {
    rng: Rng,
    flows: u64,
    next: u64,
    exporters: u8,
    day_start_ms: u64,
    /// Cumulative share of the day's flows at the end of each second.
    curve: Vec<f64>,
    second: usize,
    sources: Zipf,
    destinations: Zipf,
    hosts_v6: Zipf,
}

impl Day {
    pub fn new(seed: u64, flows: u64, exporters: u8, day_start_ms: u64) -> Day {
        Day {
            rng: Rng::new(seed),
            flows,
            next: 0,
            exporters: exporters.max(1),
            day_start_ms,
            curve: daily_curve(),
            second: 0,
            sources: Zipf::new(SOURCES_V4, ZIPF_S),
            destinations: Zipf::new(DESTINATIONS_V4, ZIPF_S),
            hosts_v6: Zipf::new(HOSTS_V6, ZIPF_S),
        }
    }

    /// Spreads host numbers over 64 /16 networks from `block` on, so heavy hitters are not
    /// neighbours and a /16 holds a small share of the hosts (CIDR questions select).
    fn v4(block: [u8; 2], host: usize, n: usize) -> [u8; 16] {
        let h = host * 7_919 % n + 1;
        let (net, rest) = ((h % 64) as u8, (h / 64) as u16);
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[block[0], block[1].wrapping_add(net), (rest >> 8) as u8, rest as u8]);
        a
    }

    fn v6(net: u16, host: usize) -> [u8; 16] {
        let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        a[4..6].copy_from_slice(&net.to_be_bytes());
        a[12..16].copy_from_slice(&((host * 7_919 % HOSTS_V6 + 1) as u32).to_be_bytes());
        a
    }

    fn end_ms(&mut self) -> u64 {
        // Evenly spaced quantiles of the curve keep the flows in time order.
        let q = (self.next as f64 + 0.5) / self.flows as f64;
        while self.second + 1 < DAY_SECS && self.curve[self.second] < q {
            self.second += 1;
        }
        self.day_start_ms + self.second as u64 * 1000 + self.rng.below(1000)
    }
}

/// The cumulative daily curve, per second.
fn daily_curve() -> Vec<f64> {
    let mut acc = 0.0;
    let mut c: Vec<f64> = (0..DAY_SECS)
        .map(|s| {
            let phase = 2.0 * std::f64::consts::PI * (s as f64 - 7_200.0) / DAY_SECS as f64;
            acc += 1.0 - CURVE * phase.cos();
            acc
        })
        .collect();
    for v in &mut c {
        *v /= acc;
    }
    c
}

impl Iterator for Day {
    type Item = Flow;

    fn next(&mut self) -> Option<Flow> {
        if self.next >= self.flows {
            return None;
        }
        let end_ms = self.end_ms();
        self.next += 1;
        let r = &mut self.rng;
        let v6 = r.unit() < IPV6_SHARE;
        let (src_host, src, dst) = if v6 {
            let (s, d) = (self.hosts_v6.draw(r), self.hosts_v6.draw(r));
            (s, Day::v6(1, s), Day::v6(2, d))
        } else {
            let s = self.sources.draw(r);
            let d = self.destinations.draw(r);
            // A quarter of the destinations are outside the data centre.
            let block = if d % 4 == 3 { [198, 18] } else { [172, 16] };
            (s, Day::v4([10, 0], s, SOURCES_V4), Day::v4(block, d, DESTINATIONS_V4))
        };
        let kind = r.unit();
        let (protocol, dst_port, src_port) = if kind < 0.80 {
            (6, weighted(r, TCP_PORTS), 32_768 + r.below(28_232) as u16)
        } else if kind < 0.97 {
            (17, weighted(r, UDP_PORTS), 32_768 + r.below(28_232) as u16)
        } else {
            (if v6 { 58 } else { 1 }, weighted(r, ICMP_CODES), 0)
        };
        // Log-normal packet counts: median about 5, a long tail of elephants.
        let normal = (-2.0 * (1.0 - r.unit()).ln()).sqrt() * (2.0 * std::f64::consts::PI * r.unit()).cos();
        let packets = (1.0 + (1.5 + 1.6 * normal).exp()).min(5e6) as u64;
        let size = [64u64, 576, 1_200, 1_450, 1_500][r.below(5) as usize];
        let bytes = packets * size.min(if protocol == 6 { 1_500 } else { 1_200 });
        let duration_ms = (packets * 5).min(120_000);
        let tcp_flags = match (protocol, packets) {
            (6, 1) => 0x02,
            (6, _) => 0x1B,
            _ => 0,
        };
        Some(Flow {
            exporter: (src_host % self.exporters as usize) as u8,
            v6,
            src,
            dst,
            src_port,
            dst_port,
            protocol,
            tcp_flags,
            tos: if dst_port == 4789 || dst_port == 6081 { 0 } else { [0, 0, 0, 0xB8][r.below(4) as usize] },
            packets,
            bytes,
            start_ms: end_ms.saturating_sub(duration_ms),
            end_ms,
            in_if: 1 + (src_host % 48) as u32,
            out_if: 1 + r.below(48) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 1_740_960_000_000; // 2025-03-03T00:00:00Z

    #[test]
    fn flows_follow_the_curve_in_time_order() {
        let flows: Vec<Flow> = Day::new(42, 100_000, 4, DAY).collect();
        assert_eq!(flows.len(), 100_000);
        assert!(flows.windows(2).all(|w| w[0].end_ms / 1000 <= w[1].end_ms / 1000));
        assert!(flows.iter().all(|f| (DAY..DAY + 86_400_000).contains(&f.end_ms)));
        let mut per_hour = [0u32; 24];
        for f in &flows {
            per_hour[((f.end_ms - DAY) / 3_600_000) as usize] += 1;
        }
        assert!(per_hour[14] > 4 * per_hour[2], "{per_hour:?}");
        let v6 = flows.iter().filter(|f| f.v6).count() as f64 / flows.len() as f64;
        assert!((0.08..0.10).contains(&v6), "{v6}");
    }

    #[test]
    fn a_few_sources_send_much() {
        let mut counts = std::collections::HashMap::new();
        for f in Day::new(1, 50_000, 4, DAY) {
            *counts.entry(f.src).or_insert(0u32) += 1;
        }
        let top = *counts.values().max().unwrap();
        assert!(top > 50_000 / 100, "the heaviest source has {top} flows");
        assert!(counts.len() > 5_000, "and a long tail: {} sources", counts.len());
    }
}
