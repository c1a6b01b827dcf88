//! `plumb replay`: send the flow exports of a file to a collector, paced.

mod sequence;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use plumb_collector::addr;
use plumb_collector::netflow::{self, Decoder, DecoderConfig};
use plumb_collector::schema::FlowBuilders;

use crate::cli::ReplayArgs;
use crate::input;

pub fn run(a: ReplayArgs) -> Result<()> {
    let target: SocketAddr =
        a.to.to_socket_addrs()
            .with_context(|| format!("--to {}: not HOST:PORT", a.to))?
            .next()
            .with_context(|| format!("--to {}: no address", a.to))?;
    let datagrams = load(&a)?;
    if datagrams.is_empty() {
        bail!("{}: no flow exports found (captures: add the export port with --port)", a.file.display());
    }
    let (records, dec) = record_counts(&datagrams);
    let rewriter =
        a.rewrite_sequence.then(|| sequence::Rewriter::new(&datagrams, |e, k, d| dec.next_sequence(e, k, d)));
    let mut scratch = Vec::with_capacity(65_536);
    let sockets = bind_sources(&datagrams, target)?;
    if let Some(cpu) = a.cpu {
        pin_to_cpu(cpu)?;
    }
    let started = Instant::now();
    let deadline = a.duration.map(|s| started + Duration::from_secs_f64(s));
    let per_tick = if a.rate == 0 { u64::MAX } else { (a.rate / 1000).max(1) };
    let tick =
        if a.rate == 0 { Duration::ZERO } else { Duration::from_secs_f64(per_tick as f64 / a.rate as f64) };
    let (mut sent, mut bytes, mut errors, mut sent_records) = (0u64, 0u64, 0u64, 0u64);
    let mut next_tick = Instant::now();
    let mut in_tick = 0u64;
    let mut round = 0u64;
    'outer: while a.loops == 0 || round < a.loops {
        round += 1;
        for (i, ((src, payload), n_records)) in datagrams.iter().zip(&records).enumerate() {
            if in_tick >= per_tick {
                in_tick = 0;
                next_tick += tick;
                let now = Instant::now();
                if next_tick > now {
                    std::thread::sleep(next_tick - now);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break 'outer;
                }
            }
            let payload = match &rewriter {
                Some(r) => r.apply(i, round - 1, payload, &mut scratch),
                None => payload,
            };
            match sockets[src].send_to(payload, target) {
                Ok(n) => {
                    sent += 1;
                    bytes += n as u64;
                    sent_records += n_records;
                }
                Err(_) => errors += 1,
            }
            in_tick += 1;
        }
        if a.loops == 0 && deadline.is_none() {
            bail!("--loop 0 needs --duration");
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let records_text =
        if a.skip_templates { "data only".to_string() } else { format!("{sent_records} flow records") };
    println!(
        "sent {sent} datagrams ({records_text}, {bytes} bytes) from {} exporters to {target} \
in {secs:.2} s ({:.0} datagrams/s, {:.0} records/s){}",
        sockets.len(),
        sent as f64 / secs.max(1e-9),
        sent_records as f64 / secs.max(1e-9),
        if errors > 0 { format!(", {errors} send errors") } else { String::new() }
    );
    Ok(())
}

/// The file's datagrams (raw files split into their messages), templates removed if asked.
fn load(a: &ReplayArgs) -> Result<Vec<(IpAddr, Vec<u8>)>> {
    let mut out = Vec::new();
    let raw_src = IpAddr::V4(Ipv4Addr::LOCALHOST);
    input::for_each_item(
        &a.file,
        raw_src,
        &a.port,
        |_| {},
        |item| {
            let input::Item::Datagram(d) = item else { return };
            let mut rest = d.payload;
            while !rest.is_empty() {
                let n = if d.ts_us.is_none() { netflow::message_len(rest) } else { rest.len() };
                let msg = &rest[..n];
                let msg = if a.skip_templates { netflow::without_templates(msg) } else { Some(msg.to_vec()) };
                if let Some(m) = msg {
                    out.push((d.src, m));
                }
                rest = &rest[n..];
            }
        },
    )?;
    Ok(out)
}

/// Flow records in each datagram, as plumb's decoder counts them once every template of
/// the file is known (a first pass learns the templates), so a run can be checked against
/// what the collector stored.
fn record_counts(datagrams: &[(IpAddr, Vec<u8>)]) -> (Vec<u64>, Decoder) {
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut out = FlowBuilders::with_capacity(1024);
    let mut pass = |count: bool| -> Vec<u64> {
        datagrams
            .iter()
            .map(|(src, d)| {
                let n = dec.decode(d, addr::from_ip(*src), 0, &mut out).records;
                if out.len() >= 1024 {
                    out.finish();
                }
                if dec.side_rows() >= 1024 {
                    dec.finish_side_tables();
                }
                if count { n } else { 0 }
            })
            .collect()
    };
    pass(false);
    let counts = pass(true);
    (counts, dec)
}

/// One socket per original exporter; to a loopback target each gets 127.0.0.N.
fn bind_sources(datagrams: &[(IpAddr, Vec<u8>)], target: SocketAddr) -> Result<HashMap<IpAddr, UdpSocket>> {
    let mut sockets = HashMap::new();
    for (src, _) in datagrams {
        if sockets.contains_key(src) {
            continue;
        }
        let n = sockets.len() + 1;
        let local: SocketAddr = match target.ip() {
            IpAddr::V4(v4) if v4.is_loopback() => {
                if n > 250 {
                    bail!("more than 250 exporters in the file; replay to a non-loopback address");
                }
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n as u8)), 0)
            }
            IpAddr::V4(_) => "0.0.0.0:0".parse()?,
            IpAddr::V6(_) => "[::]:0".parse()?,
        };
        let s = UdpSocket::bind(local).with_context(|| format!("cannot bind {local}"))?;
        let _ = socket2::SockRef::from(&s).set_send_buffer_size(4 << 20);
        sockets.insert(*src, s);
    }
    Ok(sockets)
}

fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity reads it for this thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!("cannot pin to CPU {cpu}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}
