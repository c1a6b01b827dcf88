//! Files of exported flows: pcap/pcapng captures (told by their magic bytes) or raw
//! datagrams back to back. Shared by `plumb ingest` and `plumb replay`.

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};

use plumb_collector::packet::datagram::outer_udp;
use plumb_collector::pcap;

/// UDP ports that carry flow exports in captures (`--port` adds more).
pub const EXPORT_PORTS: &[u16] = &[2055, 2100, 4739, 4740, 6343, 9995, 9996, 9990, 9991, 9992, 8096];

/// One datagram read from a file.
pub struct Datagram<'a> {
    /// Source address (the exporter).
    pub src: IpAddr,
    /// Capture time in µs since the epoch; `None` for raw files.
    pub ts_us: Option<i64>,
    pub payload: &'a [u8],
}

/// What a file held.
#[derive(Default, Debug, Clone, Copy)]
pub struct FileSummary {
    pub capture: bool,
    pub frames: u64,
    /// Frames whose link, IP or UDP header was malformed or cut short (they still go to
    /// `f` as packets, whose walk says what was wrong).
    pub unreadable_frames: u64,
    pub datagrams: u64,
    pub bytes: u64,
}

fn is_export_port(port: u16, extra: &[u16]) -> bool {
    EXPORT_PORTS.contains(&port) || extra.contains(&port)
}

/// What a file holds, item by item.
pub enum Item<'a> {
    /// A flow-export datagram.
    Datagram(Datagram<'a>),
    /// Any other frame of a capture: ordinary traffic.
    Packet(pcap::Frame<'a>),
}

/// Calls `f` for every flow-export datagram of `path` and every other frame of a capture,
/// in file order. `raw_src` is the source of raw files; `progress` receives bytes read.
pub fn for_each_item(
    path: &Path,
    raw_src: IpAddr,
    ports: &[u16],
    mut progress: impl FnMut(u64) + Send,
    mut f: impl FnMut(Item<'_>),
) -> Result<FileSummary> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut file, &mut head)?;
    let mut summary = FileSummary::default();
    if pcap::is_capture(&head[..n]) {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        // pcap-parser keeps a 1 MiB buffer of its own: a BufReader under it only copied
        // every byte once more (9 % of ingest time on a VXLAN capture).
        let reader = ProgressReader { inner: file, progress: &mut progress };
        summary.capture = true;
        summary.frames = pcap::for_each_frame(reader, |frame| {
            let udp = match outer_udp(frame.linktype, frame.data) {
                Ok(Some(udp)) => udp,
                Ok(None) => return f(Item::Packet(frame)),
                Err(_) => {
                    summary.unreadable_frames += 1;
                    return f(Item::Packet(frame));
                }
            };
            if !is_export_port(udp.dst_port, ports) && !is_export_port(udp.src_port, ports) {
                return f(Item::Packet(frame));
            }
            // Packets from the collector back to the exporter are not exports.
            if udp.payload.len() < 4 {
                return;
            }
            summary.datagrams += 1;
            summary.bytes += udp.payload.len() as u64;
            f(Item::Datagram(Datagram { src: udp.src, ts_us: Some(frame.ts_us), payload: udp.payload }));
        })
        .with_context(|| format!("{} is not a readable capture", path.display()))?;
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        progress(bytes.len() as u64);
        summary.datagrams = 1;
        summary.bytes = bytes.len() as u64;
        f(Item::Datagram(Datagram { src: raw_src, ts_us: None, payload: &bytes }));
    }
    Ok(summary)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct ProgressReader<'p, R, P: FnMut(u64)> {
    inner: R,
    progress: &'p mut P,
}

impl<R: Read, P: FnMut(u64)> Read for ProgressReader<'_, R, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}
