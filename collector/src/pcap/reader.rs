//! Reading pcap and pcapng files, told apart by their magic bytes, frame by frame with
//! the link type and capture time of each.

use std::io::Read;

use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

/// Reader buffer; a block larger than [`MAX_BLOCK`] is refused as malformed.
const BUFFER: usize = 1 << 20;
const MAX_BLOCK: usize = 16 << 20;
/// pcapng files may declare interfaces; a hostile file must not grow this without bound.
const MAX_INTERFACES: usize = 4096;

/// One captured frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time, µs since the epoch.
    pub ts_us: i64,
    /// pcap link type (1 Ethernet, 0 BSD loopback, 101 raw IP, 113 Linux cooked, ...).
    pub linktype: i32,
    pub data: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("not a pcap or pcapng file")]
    NotACapture,
    #[error("malformed capture after {frames} frames: {detail}")]
    Malformed { frames: u64, detail: String },
    #[error("reading the capture failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `head` starts with a pcap or pcapng magic number.
pub fn is_capture(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some([0xd4, 0xc3, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0xc3, 0xd4])
            | Some([0x4d, 0x3c, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0x3c, 0x4d])
            | Some([0x0a, 0x0d, 0x0d, 0x0a])
    )
}

struct Interface {
    linktype: i32,
    resolution: u64,
    offset: u64,
}

/// A pcapng timestamp in µs since the epoch. pcap-parser's own conversion adds the
/// interface's offset without a bound and overflows (a panic in a debug build) on a crafted
/// file; this saturates instead.
fn ng_time_us(high: u32, low: u32, i: &Interface) -> i64 {
    let ts = ((high as u64) << 32) | low as u64;
    let secs = (ts / i.resolution).saturating_add(i.offset);
    let frac_us = ((ts % i.resolution) as u128 * 1_000_000 / i.resolution as u128) as u64;
    secs.saturating_mul(1_000_000).saturating_add(frac_us).min(i64::MAX as u64) as i64
}

/// Calls `f` for every frame of a pcap or pcapng stream, in file order. Returns the number
/// of frames. A truncated last block ends the stream quietly (captures are often cut).
pub fn for_each_frame<R: Read + Send>(reader: R, mut f: impl FnMut(Frame<'_>)) -> Result<u64, CaptureError> {
    let mut rdr = create_reader(BUFFER, reader).map_err(|_| CaptureError::NotACapture)?;
    let mut legacy: Option<(i32, bool)> = None;
    let mut ifaces: Vec<Interface> = Vec::new();
    let mut frames = 0u64;
    let malformed = |frames, detail: String| CaptureError::Malformed { frames, detail };
    loop {
        match rdr.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some((h.network.0, h.is_nanosecond_precision()));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let (linktype, nanos) = legacy.unwrap_or((1, false));
                        let frac = if nanos { b.ts_usec as i64 / 1000 } else { b.ts_usec as i64 };
                        frames += 1;
                        f(Frame { ts_us: b.ts_sec as i64 * 1_000_000 + frac, linktype, data: b.data });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        if ifaces.len() < MAX_INTERFACES {
                            ifaces.push(Interface {
                                linktype: idb.linktype.0,
                                resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                                offset: idb.ts_offset().max(0) as u64,
                            });
                        }
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        if let Some(i) = ifaces.get(epb.if_id as usize) {
                            let len = (epb.caplen as usize).min(epb.data.len());
                            frames += 1;
                            f(Frame {
                                ts_us: ng_time_us(epb.ts_high, epb.ts_low, i),
                                linktype: i.linktype,
                                data: &epb.data[..len],
                            });
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        if let Some(i) = ifaces.first() {
                            let len = (spb.origlen as usize).min(spb.data.len());
                            frames += 1;
                            f(Frame { ts_us: 0, linktype: i.linktype, data: &spb.data[..len] });
                        }
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                rdr.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if rdr.reader_exhausted() {
                    break;
                }
                let before = rdr.data().len();
                rdr.refill().map_err(|e| malformed(frames, format!("{e:?}")))?;
                if rdr.data().len() == before && rdr.reader_exhausted() {
                    // The capture ends inside a block: it was cut off; keep what was read.
                    break;
                }
                if rdr.data().len() == before {
                    // Buffer full and still incomplete: one block is larger than the buffer.
                    let grown = (before * 2).min(MAX_BLOCK);
                    if grown <= before || !rdr.grow(grown) {
                        return Err(malformed(frames, "block larger than 16 MiB".into()));
                    }
                    rdr.refill().map_err(|e| malformed(frames, format!("{e:?}")))?;
                }
            }
            Err(e) => return Err(malformed(frames, format!("{e:?}"))),
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_pcapng_timestamps_saturate() {
        let i = Interface { linktype: 1, resolution: 1, offset: u64::MAX - 5 };
        assert_eq!(ng_time_us(u32::MAX, u32::MAX, &i), i64::MAX);
        let us = Interface { linktype: 1, resolution: 1_000_000, offset: 0 };
        assert_eq!(ng_time_us(0, 1_500_000, &us), 1_500_000);
    }

    #[test]
    fn magic_numbers() {
        assert!(is_capture(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]));
        assert!(is_capture(&[0x0a, 0x0d, 0x0d, 0x0a]));
        assert!(!is_capture(&[0, 10, 0, 0]));
    }
}
