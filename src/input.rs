//! Files of exported flows: pcap/pcapng captures (told by their magic bytes) or raw
//! datagrams back to back. Shared by `plumb ingest` and `plumb replay`.

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use memmap2::{Advice, Mmap, UncheckedAdvice};

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

/// UDP ports as a bitmap: every frame of a capture looks up both of its ports, and a scan
/// of the port list cost 3 % of ingest time on a VXLAN capture.
struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    fn new(ports: impl IntoIterator<Item = u16>) -> PortSet {
        let mut bits = Box::new([0u64; 1024]);
        for p in ports {
            bits[p as usize / 64] |= 1 << (p % 64);
        }
        PortSet(bits)
    }

    fn contains(&self, port: u16) -> bool {
        self.0[port as usize / 64] & (1 << (port % 64)) != 0
    }
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
    let summary;
    if pcap::is_capture(&head[..n]) {
        let export_ports = PortSet::new(EXPORT_PORTS.iter().chain(ports).copied());
        let mut counts = FileSummary { capture: true, ..FileSummary::default() };
        let on_frame = |frame: pcap::Frame<'_>| {
            let udp = match outer_udp(frame.linktype, frame.data) {
                Ok(Some(udp)) => udp,
                Ok(None) => return f(Item::Packet(frame)),
                Err(_) => {
                    counts.unreadable_frames += 1;
                    return f(Item::Packet(frame));
                }
            };
            if !export_ports.contains(udp.dst_port) && !export_ports.contains(udp.src_port) {
                return f(Item::Packet(frame));
            }
            // Packets from the collector back to the exporter are not exports.
            if udp.payload.len() < 4 {
                return;
            }
            counts.datagrams += 1;
            counts.bytes += udp.payload.len() as u64;
            f(Item::Datagram(Datagram { src: udp.src, ts_us: Some(frame.ts_us), payload: udp.payload }));
        };
        let frames = match map(&file) {
            Some(map) => {
                let mut done = 0;
                pcap::for_each_frame_in(
                    &map,
                    |at| {
                        progress((at - done) as u64);
                        drop_behind(&map, done, at);
                        done = at;
                    },
                    on_frame,
                )
            }
            // Pipes and other files that cannot be mapped are read through a buffer, after
            // the bytes already read; pcap-parser keeps a 1 MiB buffer of its own, so no
            // BufReader goes under it.
            None => {
                progress(n as u64);
                let rest = ProgressReader { inner: file, progress: &mut progress };
                pcap::for_each_frame((&head[..n]).chain(rest), on_frame)
            }
        };
        let frames = frames.with_context(|| format!("{} is not a readable capture", path.display()))?;
        summary = FileSummary { frames, ..counts };
    } else {
        let mut bytes = head[..n].to_vec();
        file.read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
        progress(bytes.len() as u64);
        summary = FileSummary { datagrams: 1, bytes: bytes.len() as u64, ..FileSummary::default() };
        f(Item::Datagram(Datagram { src: raw_src, ts_us: None, payload: &bytes }));
    }
    Ok(summary)
}

/// A regular file mapped for reading, `None` for anything else (pipes, devices) or where
/// mapping fails.
fn map(file: &File) -> Option<Mmap> {
    if !file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) {
        return None;
    }
    // SAFETY: the map is read-only and lives as long as the frames borrowed from it. Another
    // process may still change the file: appending (a capture still being written) is
    // harmless, truncating it under plumb ends the process with SIGBUS, as it does `tcpdump
    // -r` and every other reader of mapped files; decision 0007 weighs this.
    let map = unsafe { Mmap::map(file) }.ok()?;
    let _ = map.advise(Advice::Sequential);
    Some(map)
}

/// Lets the kernel unmap the pages walked past so far, so that ingesting a file of many
/// GiB does not keep all of it resident. The pages stay in the page cache.
fn drop_behind(map: &Mmap, from: usize, to: usize) {
    let page = pcap::PROGRESS_STEP;
    let (start, end) = (from / page * page, to / page * page);
    if end > start {
        // SAFETY: a read-only file mapping: dropped pages are read back from the file if
        // touched again, never zero-filled.
        let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start) };
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_set_holds_exactly_its_ports() {
        let set = PortSet::new([0, 63, 64, 4789, u16::MAX]);
        for p in [0, 63, 64, 4789, u16::MAX] {
            assert!(set.contains(p), "{p}");
        }
        for p in [1, 62, 65, 4788, 4790, u16::MAX - 1] {
            assert!(!set.contains(p), "{p}");
        }
    }
}
