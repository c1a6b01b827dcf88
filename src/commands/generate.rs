//! `plumb generate`: a synthetic day of flows as an IPFIX capture.

use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{GenerateArgs, Scenario};
use crate::synth::day::Day;
use crate::synth::ipfix::Exporter;
use crate::synth::pcap::PcapWriter;
use crate::synth::{incident, mtu_drops};

const COLLECTOR: (Ipv4Addr, u16) = (Ipv4Addr::new(127, 0, 0, 1), 4739);

pub fn run(a: GenerateArgs) -> anyhow::Result<()> {
    match a.scenario {
        Scenario::MtuDrops => return mtu_drops(&a),
        Scenario::Incident => return incident(&a),
        Scenario::Day => {}
    }
    let day_start_ms = day_start_ms(&a.date)?;
    if a.exporters == 0 || a.exporters > 200 {
        bail!("--exporters {}: give 1 to 200", a.exporters);
    }
    let file = File::create(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut pcap = PcapWriter::new(BufWriter::with_capacity(1 << 20, file))?;
    let mut exporters: Vec<Exporter> = (0..a.exporters).map(|_| Exporter::default()).collect();
    let address = |i: usize| (Ipv4Addr::new(192, 0, 2, 1 + i as u8), 40_000);
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(a.flows) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} generating [{bar:30}] {pos}/{len} flows ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut datagrams, mut n) = (0u64, 0u64);
    for flow in Day::new(a.seed, a.flows, a.exporters, day_start_ms) {
        let e = &mut exporters[flow.exporter as usize];
        let export_ms = e.export_ms();
        if let Some(m) = e.push(&flow) {
            pcap.udp(export_ms * 1000, address(flow.exporter as usize), COLLECTOR, &m)?;
            datagrams += 1;
        }
        n += 1;
        if n.is_multiple_of(65_536) {
            bar.set_position(n);
        }
    }
    for (i, e) in exporters.iter_mut().enumerate() {
        let export_ms = e.export_ms();
        if let Some(m) = e.finish() {
            pcap.udp(export_ms * 1000, address(i), COLLECTOR, &m)?;
            datagrams += 1;
        }
    }
    use std::io::Write;
    pcap.into_inner().flush()?;
    bar.finish_and_clear();
    println!(
        "wrote {n} flows of {} in {datagrams} IPFIX datagrams from {} exporters (192.0.2.1…) to {}",
        a.date,
        a.exporters,
        a.out.display()
    );
    Ok(())
}

/// Devices reporting MTU drops, stamped now: what `plumb analyze` reports as `mtu.df_drop`.
fn mtu_drops(a: &GenerateArgs) -> anyhow::Result<()> {
    const EACH: u32 = 10;
    let file = File::create(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut pcap = PcapWriter::new(BufWriter::new(file))?;
    let now_us = crate::commands::now_us() as u64;
    for i in 0..EACH {
        let at = now_us + i as u64 * 1000;
        let sflow = mtu_drops::sflow_drop(i + 1, i * 3);
        pcap.udp(at, (mtu_drops::SFLOW_AGENT, 40_000), (COLLECTOR.0, 6343), &sflow)?;
        let ipfix = mtu_drops::ipfix_drop(i, (at / 1_000_000) as u32);
        pcap.udp(at + 500, (mtu_drops::IPFIX_EXPORTER, 40_000), COLLECTOR, &ipfix)?;
    }
    use std::io::Write;
    pcap.into_inner().flush()?;
    println!(
        "wrote {EACH} sFlow drop notifications (pkt_too_big, from {}) and {EACH} IPFIX records with forwardingStatus 133 (from {}) to {}",
        mtu_drops::SFLOW_AGENT,
        mtu_drops::IPFIX_EXPORTER,
        a.out.display()
    );
    Ok(())
}

/// NIOC contention and MTU trouble on the reference architecture, stamped now.
fn incident(a: &GenerateArgs) -> anyhow::Result<()> {
    let file = File::create(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut pcap = PcapWriter::new(BufWriter::new(file))?;
    let now_us = crate::commands::now_us() as u64;
    let datagrams = incident::datagrams(now_us / 1000);
    for (i, d) in datagrams.iter().enumerate() {
        pcap.udp(now_us + i as u64 * 1000, (d.from, 40_000), (COLLECTOR.0, d.port), &d.payload)?;
    }
    use std::io::Write;
    pcap.into_inner().flush()?;
    println!(
        "wrote {} datagrams to {}: vDS IPFIX from {} (uplinks ifIndex {} and {}: contention), sFlow from {} (oversize and \
         fragmented VXLAN, frag-needed), DF drops from {} and {}. Collect them with the topology of \
         dashboards/demo/plumb.toml.",
        datagrams.len(),
        a.out.display(),
        incident::ESX_EXPORTER,
        incident::VMNIC0,
        incident::VMNIC1,
        incident::KVM_AGENT,
        mtu_drops::SFLOW_AGENT,
        mtu_drops::IPFIX_EXPORTER
    );
    Ok(())
}

/// Midnight UTC of `YYYY-MM-DD`, in ms since the epoch.
fn day_start_ms(date: &str) -> anyhow::Result<u64> {
    let parts: Vec<u32> = date.split('-').filter_map(|p| p.parse().ok()).collect();
    let [y, m, d] = parts[..] else { bail!("--date {date}: write it as YYYY-MM-DD") };
    if !(1970..=2100).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("--date {date}: write it as YYYY-MM-DD (1970-2100)");
    }
    let Some(day) = chrono::NaiveDate::from_ymd_opt(y as i32, m, d) else {
        bail!("--date {date}: no such day")
    };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_midnight_utc() {
        assert_eq!(day_start_ms("2025-03-03").unwrap(), 1_740_960_000_000);
        assert_eq!(day_start_ms("1970-01-01").unwrap(), 0);
        assert!(day_start_ms("03/03/2025").is_err());
    }
}
